//! A host joined to a cluster: its NATS connection, its view of the registry, the transport
//! it gives its [`Host`], and the task that takes frames from its inbox into the host.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;

use airssys_wasm::transport::{Claiming, Transport};
use airssys_wasm::{Host, SendError};

use crate::outbound::{self, Outbound};
use crate::registry::Registry;
use crate::{ClusterConfig, ClusterError, Credentials, subject};

/// One host's membership of a cluster. Give [`transport`](Self::transport) to the host's
/// builder, then [`serve`](Self::serve) the host.
#[derive(Debug)]
pub struct Cluster {
    client: async_nats::Client,
    link: Arc<Link>,
    inbox: Mutex<Option<async_nats::Subscriber>>,
}

/// The transport of a joined host.
struct Link {
    cluster: String,
    host_id: String,
    registry: Arc<Registry>,
    queue: tokio::sync::mpsc::Sender<Outbound>,
    /// The largest message the server takes.
    max_payload: usize,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("cluster", &self.cluster).field("host", &self.host_id).finish()
    }
}

impl Cluster {
    /// Connect to NATS and join the cluster: open (or create) its registry, enter this host
    /// as a member and subscribe to its inbox. Needs JetStream on the server (`-js`).
    pub async fn join(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        let (cluster, host_id) = config.checked()?;
        let options = async_nats::ConnectOptions::new()
            .name(format!("airssys {cluster} {host_id}"))
            // A host does not get its own frames back.
            .no_echo()
            .connection_timeout(Duration::from_secs(5));
        let options = match config.credentials {
            Credentials::None => options,
            Credentials::UserPassword { user, password } => {
                options.user_and_password(user, password)
            }
            Credentials::Token(token) => options.token(token),
            Credentials::Nkey(seed) => options.nkey(seed),
            Credentials::File(path) => {
                options.credentials_file(path).await.map_err(ClusterError::Credentials)?
            }
        };
        let client = options
            .connect(config.url.as_str())
            .await
            .map_err(|source| ClusterError::Connect { url: config.url.clone(), source })?;
        let inbox = client
            .subscribe(subject::inbox(&cluster, &host_id))
            .await
            .map_err(ClusterError::Subscribe)?;
        let js = async_nats::jetstream::new(client.clone());
        let registry = Registry::open(&js, &cluster, &host_id).await?;
        let (queue, queued) = tokio::sync::mpsc::channel(outbound::QUEUE);
        tokio::spawn(outbound::run(client.clone(), Arc::clone(&registry), queued));
        let max_payload = client.server_info().max_payload;
        let link = Arc::new(Link { cluster, host_id, registry, queue, max_payload });
        Ok(Cluster { client, link, inbox: Mutex::new(Some(inbox)) })
    }

    /// The transport to give the host ([`HostBuilder::transport`](airssys_wasm::HostBuilder::transport)).
    pub fn transport(&self) -> Arc<dyn Transport> {
        Arc::clone(&self.link) as Arc<dyn Transport>
    }

    /// Deliver the frames other hosts send this one to `host`, in the order they came, from
    /// now until the cluster is left (frames that came since [`join`](Self::join) were kept
    /// for it). Returns false if the host is already served.
    pub fn serve(&self, host: Host) -> bool {
        let Some(mut inbox) = self.inbox.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return false;
        };
        tokio::spawn(async move {
            while let Some(message) = inbox.next().await {
                // A refusal cannot go back to a remote sender of a `send` (it was queued on
                // its host): it is logged here, as the receiver's audit records it.
                if let Err(e) = host.receive(&message.payload) {
                    tracing::debug!(error = %e, "a frame from another host was not delivered");
                }
            }
        });
        true
    }

    /// This host's id in the cluster.
    pub fn host_id(&self) -> &str {
        &self.link.host_id
    }

    /// The host that runs component `name`, as this host last saw the registry.
    pub fn owner(&self, name: &str) -> Option<String> {
        self.link.registry.owner(name)
    }

    /// Every component name in the cluster with the host that runs it, by name.
    pub fn names(&self) -> Vec<(String, String)> {
        self.link.registry.owners()
    }

    /// The member hosts' ids.
    pub fn hosts(&self) -> Vec<String> {
        self.link.registry.members()
    }

    /// Wait until this host sees `name` owned by a host (any), or `timeout` passes; the
    /// owner. The registry is read from a watch: a name claimed on another host is seen
    /// here a moment later.
    pub async fn wait_for_owner(&self, name: &str, timeout: Duration) -> Option<String> {
        self.link.registry.wait_until(timeout, |r| r.owner(name).is_some()).await;
        self.owner(name)
    }

    /// Wait until this host sees `name` owned by no host, or `timeout` passes; whether it
    /// does.
    pub async fn wait_until_free(&self, name: &str, timeout: Duration) -> bool {
        self.link.registry.wait_until(timeout, |r| r.owner(name).is_none()).await
    }

    /// Wait until this host sees at least `n` member hosts, or `timeout` passes; whether it
    /// does.
    pub async fn wait_for_hosts(&self, n: usize, timeout: Duration) -> bool {
        self.link.registry.wait_until(timeout, |r| r.members().len() >= n).await
    }

    /// Leave the cluster: this host is no longer a member, and what it queued is sent.
    /// Stop or shut the host down first, so that its names are given up.
    pub async fn leave(self) {
        self.link.registry.leave().await;
        let _ = self.client.flush().await;
    }
}

impl Transport for Link {
    fn carry(&self, target: &str, frame: Vec<u8>) -> Result<(), SendError> {
        let unknown = || SendError::UnknownTarget(target.to_owned());
        let owner = self.registry.owner(subject::owner_name(target)).ok_or_else(unknown)?;
        // This host's own name, not running here (stopping, or not started yet).
        if owner == self.host_id {
            return Err(unknown());
        }
        if frame.len() > self.max_payload {
            return Err(SendError::PayloadTooLarge(self.max_payload as u64));
        }
        let subject = subject::inbox(&self.cluster, &owner);
        self.queue.try_send(Outbound::Frame { subject, frame: frame.into() }).map_err(|e| match e {
            tokio::sync::mpsc::error::TrySendError::Full(_) => SendError::MailboxFull,
            tokio::sync::mpsc::error::TrySendError::Closed(_) => SendError::TargetStopped,
        })
    }

    fn broadcast(&self, frame: Vec<u8>) {
        if frame.len() > self.max_payload {
            tracing::warn!(bytes = frame.len(), "a publish too large for NATS stays on this host");
            return;
        }
        let frame = bytes::Bytes::from(frame);
        for host in self.registry.members() {
            if host != self.host_id {
                let subject = subject::inbox(&self.cluster, &host);
                let item = Outbound::Frame { subject, frame: frame.clone() };
                if self.queue.try_send(item).is_err() {
                    tracing::warn!(host, "a publish for another host was dropped (queue full)");
                }
            }
        }
    }

    fn claim<'a>(&'a self, name: &'a str) -> Claiming<'a> {
        Box::pin(self.registry.claim(name))
    }

    fn release(&self, name: &str) {
        if let Err(e) = self.queue.try_send(Outbound::Release(name.to_owned())) {
            // Full: given up from a task of its own rather than not at all.
            let registry = Arc::clone(&self.registry);
            let Outbound::Release(name) = e.into_inner() else { return };
            tokio::spawn(async move { registry.release(&name).await });
        }
    }
}
