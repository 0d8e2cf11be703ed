//! The registry of a cluster: which host runs each component name, and which hosts are
//! members, in two JetStream key-value buckets (`subject.rs`). A name is claimed with the
//! bucket's `create` (it fails if the key exists: compare-and-swap on "absent") and given up
//! with a delete that expects the revision this host wrote, so a host never frees a name
//! another host has since taken. Each host keeps a copy of both buckets, updated by a watch,
//! that the message path reads without waiting on the network.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;

use airssys_wasm::transport::ClaimError;

use crate::ClusterError;
use crate::subject;
use crate::sync::lock;

/// Who runs a name, as the registry says.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub(crate) host: String,
    pub(crate) revision: u64,
}

/// One host's view of the cluster's registry.
pub(crate) struct Registry {
    names: kv::Store,
    hosts: kv::Store,
    host_id: String,
    /// Component name → the host that runs it, and the revision that says so.
    owners: RwLock<HashMap<String, Owner>>,
    /// The member hosts, with when this host last saw each one's heartbeat.
    members: RwLock<BTreeMap<String, Instant>>,
    /// Bumped at every change seen, for [`Registry::wait_until`].
    changes: tokio::sync::watch::Sender<u64>,
    /// The names this host has claimed and not given up.
    claimed: Mutex<HashSet<String>>,
    /// When this host's own heartbeat last reached the server.
    last_beat: Mutex<Instant>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("host_id", &self.host_id).finish_non_exhaustive()
    }
}

async fn bucket(js: &jetstream::Context, name: String) -> Result<kv::Store, ClusterError> {
    let config = kv::Config { bucket: name.clone(), history: 1, ..Default::default() };
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        // Created meanwhile by another host, with other settings: use it as it is.
        Err(created) => {
            js.get_key_value(name).await.map_err(|_| ClusterError::Registry(Box::new(created)))
        }
    }
}

impl Registry {
    /// Open (or create) the cluster's buckets, start watching them and enter this host.
    pub(crate) async fn open(
        js: &jetstream::Context,
        cluster: &str,
        host_id: &str,
    ) -> Result<Arc<Registry>, ClusterError> {
        let names = bucket(js, subject::names_bucket(cluster)).await?;
        let hosts = bucket(js, subject::hosts_bucket(cluster)).await?;
        // Every key's latest value first, then each change.
        let name_watch =
            names.watch_with_history(">").await.map_err(|e| ClusterError::Registry(Box::new(e)))?;
        let host_watch =
            hosts.watch_with_history(">").await.map_err(|e| ClusterError::Registry(Box::new(e)))?;
        let (names_had, hosts_had) = (has_entries(&names).await, has_entries(&hosts).await);
        let registry = Arc::new(Registry {
            names,
            hosts,
            host_id: host_id.to_owned(),
            owners: RwLock::default(),
            members: RwLock::default(),
            changes: tokio::sync::watch::Sender::new(0),
            claimed: Mutex::default(),
            last_beat: Mutex::new(Instant::now()),
        });
        // A put, not a create: a host restarted after a crash comes back under its id.
        registry.heartbeat().await.map_err(ClusterError::Registry)?;
        write(&registry.members).insert(host_id.to_owned(), Instant::now());
        // Joined once this host's copy holds what the buckets held: what is sent right
        // after joining finds the names already there.
        let (names_loaded, names_current) = tokio::sync::oneshot::channel();
        let (hosts_loaded, hosts_current) = tokio::sync::oneshot::channel();
        tokio::spawn(watch(Arc::downgrade(&registry), name_watch, Table::Names, names_loaded));
        tokio::spawn(watch(Arc::downgrade(&registry), host_watch, Table::Hosts, hosts_loaded));
        for (had, current) in [(names_had, names_current), (hosts_had, hosts_current)] {
            if had && tokio::time::timeout(LOAD, current).await.is_err() {
                return Err(ClusterError::Registry("the registry did not load in time".into()));
            }
        }
        Ok(registry)
    }

    /// Say this host is alive (and a member).
    pub(crate) async fn heartbeat(&self) -> Result<(), airssys_wasm::BoxError> {
        // Bounded well below the time after which others count this host lost.
        let put = self.hosts.put(&self.host_id, bytes::Bytes::from_static(b"member"));
        tokio::time::timeout(BEAT_TIMEOUT, put).await??;
        *lock(&self.last_beat) = Instant::now();
        Ok(())
    }

    /// How long ago this host's own heartbeat last reached the server.
    pub(crate) fn since_own_beat(&self) -> Duration {
        lock(&self.last_beat).elapsed()
    }

    /// The names this host has claimed and not given up.
    pub(crate) fn claimed(&self) -> Vec<String> {
        lock(&self.claimed).iter().cloned().collect()
    }

    /// This host no longer counts `name` as its claim: it gives the name up (a release
    /// queued now skips the delete if the name is claimed again before it runs), or
    /// another host has it now.
    pub(crate) fn forget_claim(&self, name: &str) {
        lock(&self.claimed).remove(name);
    }

    /// Whether `host` is a member, as this host last saw.
    pub(crate) fn is_member(&self, host: &str) -> bool {
        read(&self.members).contains_key(host)
    }

    /// This host's id.
    pub(crate) fn host_id(&self) -> &str {
        &self.host_id
    }

    /// The host that runs `name`, as this host last saw it.
    pub(crate) fn owner(&self, name: &str) -> Option<String> {
        read(&self.owners).get(name).map(|o| o.host.clone())
    }

    /// Every name with its host, as this host last saw them.
    pub(crate) fn owners(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> =
            read(&self.owners).iter().map(|(n, o)| (n.clone(), o.host.clone())).collect();
        all.sort();
        all
    }

    /// The names `host` runs, as this host last saw them, with their revisions.
    pub(crate) fn names_of(&self, host: &str) -> Vec<(String, u64)> {
        let owners = read(&self.owners);
        owners
            .iter()
            .filter(|(_, o)| o.host == host)
            .map(|(n, o)| (n.clone(), o.revision))
            .collect()
    }

    /// Count every member as seen now: after this host was cut off from the server, it
    /// could not have seen their heartbeats.
    pub(crate) fn members_seen_now(&self) {
        let now = Instant::now();
        for seen in write(&self.members).values_mut() {
            *seen = now;
        }
    }

    /// Whether host `origin` may send as component `name`: the registry names `origin` as
    /// its owner, or names no owner yet (a claim and the first frames after it travel
    /// different ways and may come in either order) while `origin` is a member. A frame
    /// with no origin, from a host that is not a member, or in the name of another host's
    /// component is refused.
    /// The embedder of a host (`host/<id>`) speaks only from that host.
    pub(crate) fn vouches(&self, origin: &str, sender: &str) -> bool {
        if origin.is_empty() || origin == self.host_id {
            return false;
        }
        if let Some(host) = airssys_wasm::address::embedder_host(sender) {
            return host == origin && read(&self.members).contains_key(origin);
        }
        match read(&self.owners).get(subject::owner_name(sender)) {
            Some(owner) => owner.host == origin,
            None => read(&self.members).contains_key(origin),
        }
    }

    /// The member hosts, as this host last saw them.
    pub(crate) fn members(&self) -> Vec<String> {
        read(&self.members).keys().cloned().collect()
    }

    /// The other members whose last heartbeat this host saw longer than `silence` ago.
    pub(crate) fn silent_members(&self, silence: Duration) -> Vec<String> {
        let members = read(&self.members);
        members
            .iter()
            .filter(|(host, seen)| **host != self.host_id && seen.elapsed() > silence)
            .map(|(host, _)| host.clone())
            .collect()
    }

    /// `host` is lost: it is no longer a member in this host's view (each host decides so
    /// itself, from the heartbeats it saw; a heartbeat seen again makes it a member again).
    pub(crate) fn lose_member(&self, host: &str) {
        write(&self.members).remove(host);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Remove a lost host's entry from the members bucket, for every host.
    pub(crate) async fn delete_member(&self, host: &str) {
        if let Err(e) = self.hosts.delete(host).await {
            tracing::warn!(host, error = %e, "cannot remove a lost host from the cluster");
        }
    }

    /// Take `name` over from a lost host, whose entry had `revision`: true if this host has
    /// it now (no other host took it first).
    pub(crate) async fn take_over(&self, name: &str, revision: u64) -> bool {
        let key = subject::key(name);
        let mine = bytes::Bytes::from(self.host_id.clone());
        let taken = match self.names.update(&key, mine.clone(), revision).await {
            Ok(_) => true,
            // Changed since: free now (a host released it), or another host's.
            Err(_) => match self.names.entry(&key).await {
                Ok(Some(e)) if e.operation == kv::Operation::Put => false,
                Ok(_) => self.names.create(&key, mine).await.is_ok(),
                Err(_) => false,
            },
        };
        if taken {
            lock(&self.claimed).insert(name.to_owned());
            let owner = Owner { host: self.host_id.clone(), revision };
            write(&self.owners).insert(name.to_owned(), owner);
            self.changes.send_modify(|n| *n += 1);
        }
        taken
    }

    /// Free `name`, left by a lost host whose entry had `revision` (unless another host has
    /// taken it since).
    pub(crate) async fn free_lost(&self, name: &str, revision: u64) {
        let key = subject::key(name);
        let _ = self.names.delete_expect_revision(&key, Some(revision)).await;
    }

    /// Wait until `check` holds of this host's view (it is checked after every change), or
    /// `timeout` passes; whether it holds.
    pub(crate) async fn wait_until(
        &self,
        timeout: Duration,
        check: impl Fn(&Self) -> bool,
    ) -> bool {
        let mut changes = self.changes.subscribe();
        let waiting = async {
            loop {
                if check(self) {
                    return;
                }
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, waiting).await.is_ok()
    }

    /// Take `name` for this host: it fails if another host has it.
    pub(crate) async fn claim(&self, name: &str) -> Result<(), ClaimError> {
        let key = subject::key(name);
        let unavailable = |e: Box<dyn std::error::Error + Send + Sync>| ClaimError::Unavailable(e);
        let mine = bytes::Bytes::from(self.host_id.clone());
        match self.names.create(&key, mine.clone()).await {
            Ok(_) => {}
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let entry = self.names.entry(&key).await.map_err(|e| unavailable(Box::new(e)))?;
                let entry = entry.filter(|e| e.operation == kv::Operation::Put);
                match entry {
                    // Left by this host (a stop whose release has not run yet): written
                    // again, so that a release racing this claim fails on the revision.
                    Some(e) if *e.value == *self.host_id.as_bytes() => {
                        if self.names.update(&key, mine.clone(), e.revision).await.is_err() {
                            // Deleted meanwhile by that release: taken afresh.
                            self.names
                                .create(&key, mine)
                                .await
                                .map_err(|e| unavailable(Box::new(e)))?;
                        }
                    }
                    Some(e) => {
                        let owner = String::from_utf8_lossy(&e.value).into_owned();
                        return Err(ClaimError::Taken { name: name.to_owned(), owner });
                    }
                    None => {
                        self.names
                            .create(&key, mine)
                            .await
                            .map_err(|e| unavailable(Box::new(e)))?;
                    }
                }
            }
            Err(e) => return Err(unavailable(Box::new(e))),
        }
        lock(&self.claimed).insert(name.to_owned());
        // The revision is the watch's to fill in; 0 until then.
        write(&self.owners)
            .entry(name.to_owned())
            .or_insert(Owner { host: self.host_id.clone(), revision: 0 });
        self.changes.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Give `name` up, if this host still has it and has not claimed it again since the
    /// release was queued.
    pub(crate) async fn release(&self, name: &str) {
        if lock(&self.claimed).contains(name) {
            return;
        }
        let key = subject::key(name);
        match self.names.entry(&key).await {
            Ok(Some(entry)) if *entry.value == *self.host_id.as_bytes() => {
                if let Err(e) = self.names.delete_expect_revision(&key, Some(entry.revision)).await
                {
                    tracing::warn!(name, error = %e, "cannot give a name up in the cluster");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(name, error = %e, "cannot give a name up in the cluster"),
        }
    }

    /// Leave the cluster: this host is no longer a member.
    pub(crate) async fn leave(&self) {
        if let Err(e) = self.hosts.delete(&self.host_id).await {
            tracing::warn!(host = self.host_id, error = %e, "cannot leave the cluster cleanly");
        }
    }
}

#[derive(Clone, Copy)]
enum Table {
    Names,
    Hosts,
}

/// Whether the bucket held any entry when this host opened it (true if it cannot tell).
async fn has_entries(store: &kv::Store) -> bool {
    store.status().await.map(|s| s.values() > 0).unwrap_or(true)
}

/// How long joining waits for the registry's current state.
const LOAD: Duration = Duration::from_secs(10);

/// Keep this host's copy of a bucket up to date, until the registry is dropped; `loaded` is
/// told once the copy holds the bucket's state at the start (the entry with no more
/// pending behind it).
async fn watch(
    registry: std::sync::Weak<Registry>,
    updates: kv::Watch,
    table: Table,
    loaded: tokio::sync::oneshot::Sender<()>,
) {
    let mut loaded = Some(loaded);
    let mut updates = Some(updates);
    loop {
        // A watch ends when the connection to the server is lost for long or the server
        // restarts: it is made again (every key's latest value first, then each change).
        let current = match updates.take() {
            Some(current) => current,
            None => {
                tokio::time::sleep(REWATCH).await;
                let Some(registry) = registry.upgrade() else { return };
                let store = match table {
                    Table::Names => &registry.names,
                    Table::Hosts => &registry.hosts,
                };
                match store.watch_with_history(">").await {
                    Ok(watch) => watch,
                    Err(e) => {
                        tracing::debug!(error = %e, "the cluster registry cannot be watched yet");
                        continue;
                    }
                }
            }
        };
        if !follow(&registry, current, table, &mut loaded).await {
            return;
        }
    }
}

/// How long a host waits before it watches the registry again.
const REWATCH: Duration = Duration::from_millis(250);

/// Apply `updates` to this host's copy until the watch ends (true) or the registry is
/// dropped (false).
async fn follow(
    registry: &std::sync::Weak<Registry>,
    mut updates: kv::Watch,
    table: Table,
    loaded: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> bool {
    while let Some(update) = updates.next().await {
        let Some(registry) = registry.upgrade() else { return false };
        let entry = match update {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(error = %e, "the cluster registry's watch failed; watching again");
                return true;
            }
        };
        let present = entry.operation == kv::Operation::Put;
        let value = String::from_utf8_lossy(&entry.value).into_owned();
        match table {
            Table::Names => {
                let name = subject::name_of(&entry.key);
                let mut owners = write(&registry.owners);
                if present {
                    owners.insert(name, Owner { host: value, revision: entry.revision });
                } else {
                    owners.remove(&name);
                }
            }
            Table::Hosts => {
                let mut members = write(&registry.members);
                if present {
                    // A heartbeat (or a join): seen now, by this host's clock.
                    members.insert(entry.key, Instant::now());
                } else {
                    members.remove(&entry.key);
                }
            }
        }
        registry.changes.send_modify(|n| *n += 1);
        if entry.delta == 0
            && let Some(loaded) = loaded.take()
        {
            let _ = loaded.send(());
        }
    }
    registry.strong_count() > 0
}

/// How long a heartbeat may take to reach the server.
const BEAT_TIMEOUT: Duration = Duration::from_secs(1);

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
