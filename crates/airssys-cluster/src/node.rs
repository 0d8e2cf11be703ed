//! A host joined to a cluster: its NATS connection, its view of the registry, the transport
//! it gives its [`Host`], and the task that takes frames from its inbox into the host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;

use airssys_wasm::transport::{ClaimError, Claiming, Transport};
use airssys_wasm::{ComponentSpec, Host, HostError, SendError};

use crate::outbound::{self, Outbound};
use crate::registry::Registry;
use crate::sync::lock;
use crate::{ClusterConfig, ClusterError, Credentials, subject};

/// One host's membership of a cluster. Give [`transport`](Self::transport) to the host's
/// builder, then [`serve`](Self::serve) the host.
#[derive(Debug)]
pub struct Cluster {
    client: async_nats::Client,
    link: Arc<Link>,
    inbox: Mutex<Option<async_nats::Subscriber>>,
    /// Components this host runs if their host is lost, by name.
    standby: Arc<Mutex<HashMap<String, ComponentSpec>>>,
    /// The heartbeat and failover tasks, stopped when the cluster is left or dropped.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// The host served, once it is.
    served: Mutex<Option<Host>>,
}

/// Where [`Cluster::place`] put a component.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placement {
    /// It runs on this host.
    Here,
    /// It runs on another host (this id); this host stands by to take it over.
    Elsewhere(String),
}

/// How often a host says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A host whose heartbeat has not been seen for this long is lost: its components are
/// started on the hosts that stand by for them, and requests waiting on them fail.
pub const LOST_AFTER: Duration = Duration::from_secs(3);

/// How often a host looks for lost hosts.
const CHECK: Duration = Duration::from_millis(250);

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
        let max_payload = client.server_info().max_payload;
        let publishing = outbound::run(
            client.clone(),
            Arc::clone(&registry),
            host_id.clone(),
            max_payload,
            queued,
        );
        tokio::spawn(publishing);
        let link = Arc::new(Link { cluster, host_id, registry, queue, max_payload });
        let heartbeat = tokio::spawn(heartbeat(Arc::clone(&link.registry))).abort_handle();
        Ok(Cluster {
            client,
            link,
            inbox: Mutex::new(Some(inbox)),
            standby: Arc::default(),
            tasks: Mutex::new(vec![heartbeat]),
            served: Mutex::new(None),
        })
    }

    /// Run `spec` on `host` (this cluster's host) unless another host of the cluster runs a
    /// component of that name; then this host stands by for it, and starts it if that host
    /// is lost (a temporary component is not started again, as its supervisor would not).
    pub async fn place(&self, host: &Host, spec: ComponentSpec) -> Result<Placement, HostError> {
        match host.spawn(spec.clone()).await {
            Ok(()) => Ok(Placement::Here),
            Err(HostError::Claim { source: ClaimError::Taken { owner, .. }, .. }) => {
                let name = spec.name().to_owned();
                lock(&self.standby).insert(name, spec);
                Ok(Placement::Elsewhere(owner))
            }
            Err(e) => Err(e),
        }
    }

    /// The transport to give the host ([`HostBuilder::transport`](airssys_wasm::HostBuilder::transport)).
    pub fn transport(&self) -> Arc<dyn Transport> {
        Arc::clone(&self.link) as Arc<dyn Transport>
    }

    /// Deliver the frames other hosts send this one to `host`, in the order they came, from
    /// now until the cluster is left (frames that came since [`join`](Self::join) were kept
    /// for it). Returns false if the host is already served.
    pub fn serve(&self, host: Host) -> bool {
        let Some(mut inbox) = lock(&self.inbox).take() else {
            return false;
        };
        *lock(&self.served) = Some(host.clone());
        let listed = host.clone();
        let failover = tokio::spawn(failover(
            self.client.clone(),
            Arc::clone(&self.link.registry),
            host.clone(),
            Arc::clone(&self.standby),
        ));
        lock(&self.tasks).push(failover.abort_handle());
        let registry = Arc::clone(&self.link.registry);
        let serving = tokio::spawn(async move {
            while let Some(message) = inbox.next().await {
                let header = |name| message.headers.as_ref().and_then(|h| h.get(name));
                let origin = header(outbound::ORIGIN).map_or("", |v| v.as_str());
                let (frames, rest) = if header(outbound::BATCH).is_some() {
                    outbound::unbatch(&message.payload)
                } else {
                    (vec![&message.payload[..]], &[][..])
                };
                // What follows the last whole frame of a broken batch is refused as one
                // malformed frame (and audited as such).
                let broken = (!rest.is_empty()).then_some(rest);
                for frame in frames.into_iter().chain(broken) {
                    let vouch = |sender: &str| registry.vouches(origin, sender);
                    // A refusal cannot go back to a remote sender of a `send` (it was queued
                    // on its host): the host records it in its audit log.
                    if let Err(e) = host.receive_from(origin, frame, vouch) {
                        tracing::debug!(error = %e, "a frame from another host was not delivered");
                    }
                }
            }
        });
        lock(&self.tasks).push(serving.abort_handle());
        let (client, host_id) = (self.client.clone(), self.link.host_id.clone());
        let subject = subject::listing(&self.link.cluster, &host_id);
        let answering = tokio::spawn(async move {
            match client.subscribe(subject).await {
                Ok(asks) => crate::listing::answer(client, asks, listed, host_id).await,
                Err(e) => tracing::warn!(error = %e, "this host cannot list its components"),
            }
        });
        lock(&self.tasks).push(answering.abort_handle());
        true
    }

    /// Every component of the cluster with the host that runs it, by address: this host's
    /// (once [`serve`](Self::serve)d) and each other member's, asked for with a timeout of
    /// a second; a name the registry gives to a host that does not answer is listed with
    /// the state `unreachable`, one its host left out of its answer as `unlisted`.
    pub async fn components(&self) -> Vec<crate::ClusterComponent> {
        let served = lock(&self.served).clone();
        let mut listed = match &served {
            Some(host) => crate::listing::local(host, &self.link.host_id).await,
            None => Vec::new(),
        };
        let others: Vec<String> =
            self.hosts().into_iter().filter(|h| *h != self.link.host_id).collect();
        let asks = others.iter().map(|host| {
            let subject = subject::listing(&self.link.cluster, host);
            crate::listing::ask(&self.client, subject, host)
        });
        let mut answered: std::collections::HashSet<String> = std::collections::HashSet::new();
        answered.insert(self.link.host_id.clone());
        for (host, answer) in others.iter().zip(futures_util::future::join_all(asks).await) {
            if let Some(answer) = answer {
                answered.insert(host.clone());
                listed.extend(answer);
            }
        }
        let named: std::collections::HashSet<String> =
            listed.iter().map(|c| subject::owner_name(&c.address).to_owned()).collect();
        for (name, host) in self.names() {
            if named.contains(&name) {
                continue;
            }
            let state = if answered.contains(&host) { "unlisted" } else { "unreachable" };
            listed.push(crate::ClusterComponent {
                host,
                address: name,
                state: state.into(),
                mailbox: 0,
                handled: 0,
                restarts: 0,
                memory: 0,
            });
        }
        listed.sort_by(|a, b| (&a.address, &a.host).cmp(&(&b.address, &b.host)));
        listed
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

    /// The cluster's storage, for [`HostBuilder::storage`](airssys_wasm::HostBuilder::storage):
    /// each component's data is kept in the cluster's JetStream key-value bucket
    /// ([`JetStreamBackend`](crate::JetStreamBackend)), so that a component started on
    /// another host (when its host is lost) sees what it stored.
    pub async fn storage(&self) -> Result<airssys_wasm::storage::Storage, ClusterError> {
        let backend =
            crate::JetStreamBackend::open(self.client.clone(), &self.link.cluster).await?;
        Ok(airssys_wasm::storage::Storage::new(backend))
    }

    /// Leave the cluster: this host is no longer a member, and what it queued is sent.
    /// Stop or shut the host down first, so that its names are given up. Leaving twice is
    /// harmless.
    pub async fn leave(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        lock(&self.served).take();
        // What the host queued (frames, names it gave up) goes out first.
        let (done, drained) = tokio::sync::oneshot::channel();
        if self.link.queue.send(Outbound::Drained(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), drained).await;
        }
        self.link.registry.leave().await;
        let _ = self.client.flush().await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// Say this host is alive, every [`HEARTBEAT`].
async fn heartbeat(registry: Arc<Registry>) {
    let mut every = tokio::time::interval(HEARTBEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = registry.heartbeat().await {
            tracing::warn!(error = %e, "a heartbeat did not reach the cluster");
        }
    }
}

/// Look for lost hosts every [`CHECK`]. Each host decides for itself, from the heartbeats
/// it saw, that a member is lost; then requests its components wait on from the lost
/// host's components fail at once, and it takes over each of the lost host's names it
/// stands by for (a compare-and-swap on the name's revision: one host wins) and starts the
/// component. After a grace of [`LOST_AFTER`] more (time for every standby to have tried),
/// it tries its takeovers again, frees the names nobody took (so that a send to them is
/// refused as unknown rather than lost) and removes the lost host's member entry.
///
/// It also fences this host: a name it runs that the registry now gives to another host
/// (this host was taken for lost while it was cut off) is stopped here; one that was freed
/// is claimed again.
async fn failover(
    client: async_nats::Client,
    registry: Arc<Registry>,
    host: Host,
    standby: Arc<Mutex<HashMap<String, ComponentSpec>>>,
) {
    let mut every = tokio::time::interval(CHECK);
    let mut cut_off = false;
    let mut lost: HashMap<String, tokio::time::Instant> = HashMap::new();
    loop {
        every.tick().await;
        // Cut off from the server (or its own heartbeats not getting through), this host
        // sees no heartbeat at all: that says nothing about the others. Once back, each
        // gets a fresh start.
        let connected = client.connection_state() == async_nats::connection::State::Connected;
        if !connected || registry.since_own_beat() > LOST_AFTER / 2 {
            cut_off = true;
            continue;
        }
        if std::mem::take(&mut cut_off) {
            registry.members_seen_now();
            continue;
        }
        for gone in registry.silent_members(LOST_AFTER) {
            tracing::warn!(host = gone, "a host of the cluster is lost");
            registry.lose_member(&gone);
            lost.insert(gone.clone(), tokio::time::Instant::now());
            let names = registry.names_of(&gone);
            let refs: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
            host.fail_requests_to(&refs, &format!("its host {gone} was lost"));
            for (name, revision) in names {
                take_over(&registry, &host, &standby, &name, revision, &gone).await;
            }
        }
        // Back (a heartbeat seen again): a member again, nothing more to do for it.
        lost.retain(|gone, _| !registry.is_member(gone));
        let settled: Vec<String> = lost
            .iter()
            .filter(|(_, since)| since.elapsed() > LOST_AFTER)
            .map(|(gone, _)| gone.clone())
            .collect();
        for gone in settled {
            for (name, revision) in registry.names_of(&gone) {
                if !take_over(&registry, &host, &standby, &name, revision, &gone).await {
                    registry.free_lost(&name, revision).await;
                }
            }
            registry.delete_member(&gone).await;
            lost.remove(&gone);
        }
        fence(&registry, &host).await;
    }
}

/// Take `name` over from the lost host `gone` if this host stands by for it (and it is
/// not temporary), and start it; whether this host stood by for it.
async fn take_over(
    registry: &Registry,
    host: &Host,
    standby: &Mutex<HashMap<String, ComponentSpec>>,
    name: &str,
    revision: u64,
    gone: &str,
) -> bool {
    let Some(spec) = lock(standby).get(name).cloned() else { return false };
    if spec.restart_type() == airssys_rt::Restart::Temporary {
        return false;
    }
    if registry.take_over(name, revision).await {
        lock(standby).remove(name);
        match host.spawn(spec).await {
            Ok(()) => tracing::info!(name, from = gone, "took a component over"),
            Err(e) => tracing::warn!(name, error = %e, "cannot take a component over"),
        }
    }
    true
}

/// Stop here what the registry gives to another host now; claim again what was freed.
async fn fence(registry: &Registry, host: &Host) {
    for name in registry.claimed() {
        let owner = registry.owner(&name);
        if owner.as_deref() == Some(registry.host_id()) {
            continue;
        }
        let taken = match owner {
            Some(other) => Some(other),
            None => match registry.claim(&name).await {
                Ok(()) => None,
                Err(ClaimError::Taken { owner, .. }) => Some(owner),
                Err(_) => None,
            },
        };
        if let Some(other) = taken {
            tracing::warn!(
                name,
                owner = other,
                "another host runs this component now: stopped here"
            );
            registry.forget_claim(&name);
            let _ = host.stop(&name).await;
        }
    }
}

impl Transport for Link {
    fn embedder_address(&self) -> Option<String> {
        Some(airssys_wasm::address::embedder_address(&self.host_id))
    }

    fn carry(&self, target: &str, frame: Vec<u8>) -> Result<(), SendError> {
        let unknown = || SendError::UnknownTarget(target.to_owned());
        // The embedder of another host (a response to its call), or a component.
        let owner = match airssys_wasm::address::embedder_host(target) {
            Some(host) => host.to_owned(),
            None => self.registry.owner(subject::owner_name(target)).ok_or_else(unknown)?,
        };
        // This host's own name, not running here (stopping, or not started yet).
        if owner == self.host_id {
            return Err(unknown());
        }
        let most = outbound::frame_room(self.max_payload, &self.host_id);
        if frame.len() > most {
            return Err(SendError::PayloadTooLarge(most as u64));
        }
        let subject = subject::inbox(&self.cluster, &owner);
        self.queue.try_send(Outbound::Frame { subject, frame: frame.into() }).map_err(|e| match e {
            tokio::sync::mpsc::error::TrySendError::Full(_) => SendError::MailboxFull,
            tokio::sync::mpsc::error::TrySendError::Closed(_) => SendError::TargetStopped,
        })
    }

    fn broadcast(&self, frame: Vec<u8>) {
        if frame.len() > outbound::frame_room(self.max_payload, &self.host_id) {
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
        self.registry.forget_claim(name);
        if let Err(e) = self.queue.try_send(Outbound::Release(name.to_owned())) {
            // Full: given up from a task of its own rather than not at all.
            let registry = Arc::clone(&self.registry);
            let Outbound::Release(name) = e.into_inner() else { return };
            tokio::spawn(async move { registry.release(&name).await });
        }
    }
}
