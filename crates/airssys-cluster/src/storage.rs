//! Storage that follows a component from host to host: a [`Backend`] on a JetStream
//! key-value bucket of the cluster (`airssys_<cluster>_data`), so that a component started
//! on another host (failover, or a move) sees the data it wrote on the first.
//!
//! Layout, per component (a *scope*):
//! - `d.<scope>.<key in hex>`: one entry per key, its value as it is (hex keeps the keys'
//!   byte order, so a prefix of keys is a prefix of subjects, and any key is a valid subject);
//! - `j.<scope>`: the scope's journal, the last write group, resolved to the values it sets
//!   and the keys it deletes.
//!
//! A write group is atomic through the journal: it is committed by replacing the journal with
//! a compare-and-swap on the journal's revision (so two hosts that both think they own a
//! scope cannot both commit on the same state), and then applied key by key. A host that
//! opens a scope (the first use of it on this host) applies the journal again before
//! anything else: applying the last group twice is harmless, and a host that died halfway
//! through applying it has its group completed by the next one. Each host keeps the scope's
//! keys and their sizes in memory, for listing and quotas; a commit that finds the journal
//! moved on (another host wrote the scope) reloads the scope and checks the group again.
//!
//! Durability is JetStream's: a write is acknowledged once the server has stored it (with
//! replicas when the bucket has them). A value, and the values of one write group together,
//! must fit in one NATS message (the server's `max_payload`, 1 MiB by default).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;

use airssys_wasm::storage::{
    Backend, Quota, Resolved, StorageError, Usage, Write, Written, resolve,
};

use crate::ClusterError;
use crate::subject;
use crate::sync::lock;

/// Room a value leaves in a message for its key and the journal's framing (a key has at
/// most 1 KiB).
const OVERHEAD: usize = 4096;

/// Room a journal leaves in a message for the headers of a compare-and-swap.
const HEADERS: usize = 512;

/// How long listing a scope's keys may take before it is given up.
const LISTING: Duration = Duration::from_secs(30);

/// How many times a commit is tried when the journal moved on under it.
const COMMIT_TRIES: usize = 5;

/// A [`Backend`] on the cluster's JetStream key-value bucket. Make it with
/// [`Cluster::storage`](crate::Cluster::storage).
pub struct JetStreamBackend {
    client: async_nats::Client,
    kv: kv::Store,
    stream: jetstream::stream::Stream,
    bucket: String,
    runtime: tokio::runtime::Handle,
    max_payload: usize,
    scopes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Scope>>>>,
    /// The latest journal revision seen of each scope (by its subject token), kept by a
    /// watch: a copy older than it is stale (another host wrote the scope).
    latest: Arc<Mutex<HashMap<String, u64>>>,
    watching: tokio::task::AbortHandle,
}

impl Drop for JetStreamBackend {
    fn drop(&mut self) {
        self.watching.abort();
    }
}

impl std::fmt::Debug for JetStreamBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamBackend").field("bucket", &self.bucket).finish_non_exhaustive()
    }
}

/// What this host knows of one scope.
#[derive(Default)]
struct Scope {
    /// Whether the journal was applied and the keys listed on this host.
    loaded: bool,
    /// The journal's revision (0: none yet).
    journal: u64,
    /// Every key with the size of its value.
    keys: BTreeMap<String, u64>,
    usage: Usage,
}

/// The last write group of a scope, resolved: each key with its new value (`None`: deleted).
#[derive(serde::Serialize, serde::Deserialize)]
struct Journal {
    writes: Vec<(String, Option<serde_bytes::ByteBuf>)>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(format!("{what}: {e}"))
}

fn hex(key: &str) -> String {
    use std::fmt::Write as _;
    key.bytes().fold(String::with_capacity(key.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

fn data_key(scope: &str, key: &str) -> String {
    format!("d.{}.{}", subject::key(scope), hex(key))
}

fn journal_key(scope: &str) -> String {
    format!("j.{}", subject::key(scope))
}

impl JetStreamBackend {
    /// Open (or create) the cluster's data bucket.
    pub(crate) async fn open(
        client: async_nats::Client,
        cluster: &str,
    ) -> Result<JetStreamBackend, ClusterError> {
        let js = jetstream::new(client.clone());
        let bucket = subject::data_bucket(cluster);
        let config = kv::Config {
            bucket: bucket.clone(),
            history: 1,
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        };
        let kv = match js.create_key_value(config).await {
            Ok(kv) => kv,
            Err(created) => js
                .get_key_value(bucket.as_str())
                .await
                .map_err(|_| ClusterError::Storage(Box::new(created)))?,
        };
        let stream = js
            .get_stream(format!("KV_{bucket}"))
            .await
            .map_err(|e| ClusterError::Storage(Box::new(e)))?;
        let max_payload = client.server_info().max_payload;
        let latest = Arc::new(Mutex::new(HashMap::new()));
        let watching = tokio::spawn(watch_journals(
            client.clone(),
            stream.clone(),
            bucket.clone(),
            Arc::clone(&latest),
        ))
        .abort_handle();
        Ok(JetStreamBackend {
            client,
            kv,
            stream,
            bucket,
            runtime: tokio::runtime::Handle::current(),
            max_payload,
            scopes: Mutex::default(),
            latest,
            watching,
        })
    }

    /// The largest value (and the most the values of one write group add up to).
    pub fn max_value(&self) -> usize {
        self.max_payload.saturating_sub(OVERHEAD).min(airssys_wasm::storage::MAX_VALUE)
    }

    fn scope(&self, scope: &str) -> Arc<tokio::sync::Mutex<Scope>> {
        Arc::clone(lock(&self.scopes).entry(scope.to_owned()).or_default())
    }

    /// Run `f` to its end; every method of [`Backend`] runs on a blocking thread.
    fn wait<T>(&self, f: impl Future<Output = T>) -> T {
        self.runtime.block_on(f)
    }

    /// Make this host's copy of `scope` current: apply its journal, list its keys.
    async fn load(&self, name: &str, scope: &mut Scope) -> Result<(), StorageError> {
        let entry = self
            .kv
            .entry(journal_key(name))
            .await
            .map_err(|e| unavailable("cannot read the storage journal", e))?;
        let mut journal = 0;
        if let Some(entry) = entry {
            journal = entry.revision;
            if entry.operation == kv::Operation::Put {
                let group: Journal = postcard::from_bytes(&entry.value).map_err(|e| {
                    unavailable(&format!("the storage journal of {name:?} is malformed"), e)
                })?;
                self.apply(name, journal, &group).await?;
            }
        }
        let keys = self.list(name).await?;
        let usage = keys.iter().fold(Usage::default(), |u, (k, size)| Usage {
            bytes: u.bytes + k.len() as u64 + size,
            keys: u.keys + 1,
        });
        *scope = Scope { loaded: true, journal, keys, usage };
        Ok(())
    }

    /// Every key of a scope with the size of its value, read from the bucket.
    async fn list(&self, name: &str) -> Result<BTreeMap<String, u64>, StorageError> {
        let prefix = format!("$KV.{}.d.{}.", self.bucket, subject::key(name));
        let last = jetstream::consumer::DeliverPolicy::LastPerSubject;
        let config = headers_of(&self.client, &prefix, last);
        let listing = async {
            let mut keys = BTreeMap::new();
            let consumer = self.stream.create_consumer(config).await.map_err(|e| e.to_string())?;
            if consumer.cached_info().num_pending == 0 {
                return Ok(keys);
            }
            let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
            while let Some(message) = messages.next().await {
                let message = message.map_err(|e| e.to_string())?;
                let pending = message.info().map_err(|e| e.to_string())?.pending;
                let header = |name: &str| {
                    message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str())
                };
                let deleted = matches!(header("KV-Operation"), Some("DEL" | "PURGE"));
                let key = message.subject.strip_prefix(prefix.as_str()).and_then(unhex);
                if let (false, Some(key)) = (deleted, key) {
                    let size = header("Nats-Msg-Size").and_then(|s| s.parse().ok()).unwrap_or(0);
                    keys.insert(key, size);
                }
                if pending == 0 {
                    return Ok(keys);
                }
            }
            Err("the listing ended early".to_owned())
        };
        match tokio::time::timeout(LISTING, listing).await {
            Ok(Ok(keys)) => Ok(keys),
            Ok(Err(e)) => Err(unavailable("cannot list the stored keys", e)),
            Err(_) => Err(unavailable("cannot list the stored keys", "timed out")),
        }
    }

    /// Write the values of the group committed at revision `committed` to their keys, each
    /// only if nothing wrote the key since that commit (a later group, or this one applied
    /// already), with a compare-and-swap on the key's revision: applying a group late (a slow
    /// host, or one applying it again) never undoes a later one. Returns whether every key
    /// was written here (false: some were newer, and this host's copy may be stale).
    async fn apply(
        &self,
        name: &str,
        committed: u64,
        group: &Journal,
    ) -> Result<bool, StorageError> {
        let failed = |e: String| unavailable("cannot apply a storage write", e);
        let mut all = true;
        for (key, value) in &group.writes {
            let key = data_key(name, key);
            let now = self.kv.entry(key.as_str()).await.map_err(|e| failed(e.to_string()))?;
            if now.as_ref().is_some_and(|e| e.revision > committed) {
                all = false;
                continue;
            }
            // A compare-and-swap on the key's revision now (0: it never had a value; a
            // deleted key's revision is its tombstone's).
            let expected = now.as_ref().map_or(0, |e| e.revision);
            let live = now.is_some_and(|e| e.operation == kv::Operation::Put);
            let moved = |e: kv::UpdateError| {
                (e.kind() != kv::UpdateErrorKind::WrongLastRevision).then(|| e.to_string())
            };
            let written = match value {
                Some(v) => {
                    let v = bytes::Bytes::copy_from_slice(v);
                    self.kv.update(key, v, expected).await.map(drop).map_err(moved)
                }
                None if live => {
                    self.kv.delete_expect_revision(key, Some(expected)).await.map_err(moved)
                }
                None => Ok(()),
            };
            match written {
                Ok(()) => {}
                // Written meanwhile: newer than this group.
                Err(None) => all = false,
                Err(Some(e)) => return Err(failed(e)),
            }
        }
        Ok(all)
    }

    /// A key's value, as this host's copy of the scope and the bucket say.
    async fn read(
        &self,
        name: &str,
        scope: &Scope,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        if !scope.keys.contains_key(key) {
            return Ok(None);
        }
        self.fetch(name, key).await
    }

    /// A key's value, from the bucket.
    async fn fetch(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let value = self
            .kv
            .get(data_key(name, key))
            .await
            .map_err(|e| unavailable("cannot read a stored value", e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    /// Check `writes` against the scope ([`resolve`]), reading the values of the keys they
    /// touch first.
    async fn resolve(
        &self,
        name: &str,
        scope: &Scope,
        quota: Quota,
        writes: Vec<Write>,
    ) -> Result<Resolved, StorageError> {
        let mut current: HashMap<String, Option<Vec<u8>>> = HashMap::new();
        for write in &writes {
            let key = match write {
                Write::Set(k, _) | Write::Delete(k) | Write::Increment(k, _) => k,
                Write::CompareAndSwap { key, .. } => key,
            };
            if !current.contains_key(key) {
                let value = self.read(name, scope, key).await?;
                current.insert(key.clone(), value);
            }
        }
        resolve(scope.usage, quota, writes, |key| Ok(current.get(key).cloned().flatten()))
    }

    /// Commit a resolved group: replace the journal if it is still at `revision`. `Ok(None)`:
    /// it moved on.
    async fn commit(
        &self,
        name: &str,
        revision: u64,
        group: &Journal,
    ) -> Result<Option<u64>, StorageError> {
        let encoded =
            postcard::to_stdvec(group).map_err(|e| unavailable("cannot encode a write", e))?;
        if encoded.len() > self.max_payload.saturating_sub(HEADERS) {
            return Err(StorageError::ValueTooLarge(self.max_value() as u64));
        }
        let key = journal_key(name);
        let committed = if revision == 0 {
            self.kv.create(key, encoded.into()).await.map_err(|e| match e.kind() {
                kv::CreateErrorKind::AlreadyExists => None,
                _ => Some(e.to_string()),
            })
        } else {
            self.kv.update(key, encoded.into(), revision).await.map_err(|e| match e.kind() {
                kv::UpdateErrorKind::WrongLastRevision => None,
                _ => Some(e.to_string()),
            })
        };
        match committed {
            Ok(revision) => Ok(Some(revision)),
            Err(None) => Ok(None),
            Err(Some(e)) => Err(unavailable("cannot commit a storage write", e)),
        }
    }

    async fn write_group(
        &self,
        name: &str,
        quota: Quota,
        writes: Vec<Write>,
    ) -> Result<Vec<Written>, StorageError> {
        for write in &writes {
            if let Write::Set(_, v) | Write::CompareAndSwap { new: Some(v), .. } = write
                && v.len() > self.max_value()
            {
                return Err(StorageError::ValueTooLarge(self.max_value() as u64));
            }
        }
        let scope = self.scope(name);
        let mut scope = scope.lock().await;
        for _ in 0..COMMIT_TRIES {
            self.current(name, &mut scope).await?;
            let resolved = self.resolve(name, &scope, quota, writes.clone()).await?;
            let group = Journal {
                writes: resolved
                    .changes
                    .into_iter()
                    .map(|(k, v)| (k, v.map(serde_bytes::ByteBuf::from)))
                    .collect(),
            };
            let Some(revision) = self.commit(name, scope.journal, &group).await? else {
                // Another host wrote this scope since this one loaded it.
                scope.loaded = false;
                continue;
            };
            scope.journal = revision;
            scope.usage = resolved.usage;
            for (key, value) in &group.writes {
                match value {
                    Some(v) => scope.keys.insert(key.clone(), v.len() as u64),
                    None => scope.keys.remove(key),
                };
            }
            match self.apply(name, revision, &group).await {
                Ok(true) => {}
                // Another host wrote some of these keys since: read the scope again.
                Ok(false) => scope.loaded = false,
                Err(e) => {
                    // Committed: the next use of the scope applies the group again.
                    tracing::warn!(error = %e, scope = name, "a committed write is not applied yet");
                    scope.loaded = false;
                }
            }
            return Ok(resolved.written);
        }
        Err(StorageError::Unavailable(format!(
            "the storage of {name:?} keeps changing under this host (is it running on two hosts?)"
        )))
    }

    /// This host's copy of `name`, loaded, and current: read again when the journal has
    /// moved on past it (another host wrote the scope; the watch says so).
    async fn current(&self, name: &str, scope: &mut Scope) -> Result<(), StorageError> {
        if scope.loaded {
            let latest = lock(&self.latest).get(&subject::key(name)).copied();
            if latest.is_some_and(|latest| latest > scope.journal) {
                scope.loaded = false;
            }
        }
        if !scope.loaded {
            self.load(name, scope).await?;
        }
        Ok(())
    }
}

/// An ordered consumer of the headers (not the values) of the bucket's messages under
/// `prefix`, from `policy` on: keys, revisions and sizes without the data.
fn headers_of(
    client: &async_nats::Client,
    prefix: &str,
    policy: jetstream::consumer::DeliverPolicy,
) -> jetstream::consumer::push::OrderedConfig {
    jetstream::consumer::push::OrderedConfig {
        deliver_subject: client.new_inbox(),
        filter_subject: format!("{prefix}>"),
        headers_only: true,
        replay_policy: jetstream::consumer::ReplayPolicy::Instant,
        deliver_policy: policy,
        ..Default::default()
    }
}

/// Keep `latest` up to date with the revision of each scope's journal as it changes, until
/// the backend is dropped (its task is aborted). A watch that ends is made again.
async fn watch_journals(
    client: async_nats::Client,
    stream: jetstream::stream::Stream,
    bucket: String,
    latest: Arc<Mutex<HashMap<String, u64>>>,
) {
    let prefix = format!("$KV.{bucket}.j.");
    loop {
        let config = headers_of(&client, &prefix, jetstream::consumer::DeliverPolicy::New);
        if let Ok(consumer) = stream.create_consumer(config).await
            && let Ok(mut messages) = consumer.messages().await
        {
            while let Some(Ok(message)) = messages.next().await {
                let (Ok(info), Some(scope)) =
                    (message.info(), message.subject.strip_prefix(prefix.as_str()))
                else {
                    continue;
                };
                let revision = info.stream_sequence;
                let mut latest = lock(&latest);
                let seen = latest.entry(scope.to_owned()).or_default();
                *seen = (*seen).max(revision);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl Backend for JetStreamBackend {
    fn get(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.wait(async {
            let scope = self.scope(name);
            let mut scope = scope.lock().await;
            // The first use on this host completes a group its last host did not finish.
            self.current(name, &mut scope).await?;
            self.fetch(name, key).await
        })
    }

    fn keys(
        &self,
        name: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.wait(async {
            let scope = self.scope(name);
            let mut scope = scope.lock().await;
            self.current(name, &mut scope).await?;
            let from = match after {
                Some(after) => std::ops::Bound::Excluded(after),
                None => std::ops::Bound::Included(prefix),
            };
            Ok(scope
                .keys
                .range::<str, _>((from, std::ops::Bound::Unbounded))
                .map(|(k, _)| k)
                .skip_while(|k| k.as_str() < prefix)
                .take_while(|k| k.starts_with(prefix))
                .take(limit)
                .cloned()
                .collect())
        })
    }

    fn entries(
        &self,
        name: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let keys = self.keys(name, "", after, limit)?;
        self.wait(async {
            let mut entries = Vec::with_capacity(keys.len());
            for key in keys {
                // Deleted since it was listed: an export is not a snapshot.
                if let Some(value) = self.fetch(name, &key).await? {
                    entries.push((key, value));
                }
            }
            Ok(entries)
        })
    }

    fn usage(&self, name: &str) -> Result<Usage, StorageError> {
        self.wait(async {
            let scope = self.scope(name);
            let mut scope = scope.lock().await;
            self.current(name, &mut scope).await?;
            Ok(scope.usage)
        })
    }

    fn write(
        &self,
        name: &str,
        quota: Quota,
        writes: Vec<Write>,
    ) -> Result<Vec<Written>, StorageError> {
        self.wait(self.write_group(name, quota, writes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn backend(url: &str) -> Arc<JetStreamBackend> {
        let client = async_nats::connect(url).await.unwrap();
        Arc::new(JetStreamBackend::open(client, "shop").await.unwrap())
    }

    fn blocking<T: Send + 'static>(
        b: &Arc<JetStreamBackend>,
        f: impl FnOnce(&JetStreamBackend) -> T + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        let b = Arc::clone(b);
        tokio::task::spawn_blocking(move || f(&b))
    }

    /// A host that dies after committing a group and before applying all of it: the next
    /// host to use the scope finishes the group before it reads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_committed_group_is_completed_by_the_next_host() {
        let nats = test_programs::nats::NatsServer::start().unwrap();
        let first = backend(&nats.url).await;
        let set = |k: &str, v: &str| Write::Set(k.into(), v.into());
        let done =
            blocking(&first, move |b| b.write("cart", Quota::UNLIMITED, vec![set("a", "1")]));
        done.await.unwrap().unwrap();
        // Committed (the journal holds it), not applied: as if the host died right there.
        let group = Journal {
            writes: vec![
                ("a".into(), None),
                ("b".into(), Some(serde_bytes::ByteBuf::from(b"2".to_vec()))),
            ],
        };
        let journal = first.scope("cart").lock().await.journal;
        assert!(first.commit("cart", journal, &group).await.unwrap().is_some());

        let next = backend(&nats.url).await;
        let read = blocking(&next, |b| (b.get("cart", "a"), b.get("cart", "b"), b.usage("cart")));
        let (a, b, usage) = read.await.unwrap();
        assert_eq!(a.unwrap(), None);
        assert_eq!(b.unwrap(), Some(b"2".to_vec()));
        assert_eq!(usage.unwrap(), Usage { bytes: 2, keys: 1 });
    }

    /// A group applied late (by a slow host, or again) never undoes a later one: each key is
    /// written only if nothing wrote it since the group was committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_late_group_does_not_undo_a_later_one() {
        let nats = test_programs::nats::NatsServer::start().unwrap();
        let (slow, next) = (backend(&nats.url).await, backend(&nats.url).await);
        let one =
            Journal { writes: vec![("k".into(), Some(serde_bytes::ByteBuf::from(b"1".to_vec())))] };
        // Committed by the slow host, not applied yet.
        let committed = slow.commit("cart", 0, &one).await.unwrap().unwrap();
        // The next host completes it as it loads, then writes its own group.
        let set = |v: &str| vec![Write::Set("k".into(), v.as_bytes().to_vec())];
        let wrote = blocking(&next, move |b| b.write("cart", Quota::UNLIMITED, set("2")));
        assert_eq!(wrote.await.unwrap().unwrap(), [Written::Set]);
        // Now the slow host applies its group: nothing is written.
        assert!(!slow.apply("cart", committed, &one).await.unwrap());
        let read = blocking(&slow, |b| b.get("cart", "k"));
        assert_eq!(read.await.unwrap().unwrap(), Some(b"2".to_vec()));
    }

    /// Whatever another connection put in the bucket, a malformed journal or stray keys,
    /// is a clear error for that scope only, never a panic.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn foreign_entries_in_the_bucket_are_refused_clearly() {
        let nats = test_programs::nats::NatsServer::start().unwrap();
        let store = backend(&nats.url).await;
        store
            .kv
            .put(journal_key("cart"), bytes::Bytes::from_static(b"\xff\xff\xff"))
            .await
            .unwrap();
        // Not hex, odd length, not UTF-8: not a key of ours, left out of the listing.
        for stray in ["zz", "abc", "ff"] {
            let key = format!("d.{}.{stray}", subject::key("other"));
            store.kv.put(key, bytes::Bytes::from_static(b"x")).await.unwrap();
        }
        let read = blocking(&store, |b| (b.get("cart", "a"), b.keys("other", "", None, 10)));
        let (cart, other) = read.await.unwrap();
        match cart {
            Err(StorageError::Unavailable(why)) => assert!(why.contains("malformed"), "{why}"),
            other => panic!("expected a clear error: {other:?}"),
        }
        assert_eq!(other.unwrap(), Vec::<String>::new());
        let write = blocking(&store, |b| {
            b.write("other", Quota::UNLIMITED, vec![Write::Set("k".into(), b"v".to_vec())])
        });
        assert_eq!(write.await.unwrap().unwrap(), [Written::Set]);
    }

    #[test]
    fn keys_keep_their_order_as_hex() {
        let mut keys = vec!["b", "a", "ab", "a\u{7f}", "é", "A"];
        let mut encoded: Vec<String> = keys.iter().map(|k| hex(k)).collect();
        keys.sort();
        encoded.sort();
        let decoded: Vec<String> = encoded.iter().map(|e| unhex(e).unwrap()).collect();
        assert_eq!(decoded, keys);
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("ff"), None);
    }
}
