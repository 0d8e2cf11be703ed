//! Durable per-component storage: a key-value store for each component, scoped by the host
//! (a component names only its own keys), with quotas enforced in the same transaction as
//! the write. [`Backend`] is the small trait a store implements; [`RedbBackend`] (one redb
//! database under the host's data directory, crash-safe, with group commit) is the default.
//! [`Storage`] is the async handle the host and the embedder use: reads run on tokio's
//! blocking pool and writes are handed off with [`Backend::submit`] (to redb's writer thread),
//! never on an executor thread.

mod redb_store;

use std::sync::Arc;

pub use self::redb_store::RedbBackend;

/// The longest key, in bytes.
pub const MAX_KEY: usize = 1024;
/// The largest value, in bytes.
pub const MAX_VALUE: usize = 1 << 20;
/// The most keys one `list-keys` page returns.
pub const MAX_PAGE: usize = 1000;

/// Why a storage operation failed. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The key is empty or too long.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The value is larger than [`MAX_VALUE`].
    #[error("value too large: at most {0} bytes")]
    ValueTooLarge(u64),
    /// The write would take the component past its quota.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// `increment` found a value that is not a decimal 64-bit integer, or would overflow.
    #[error("not a counter: {0}")]
    NotACounter(String),
    /// A line of an import is malformed.
    #[error("line {line}: {reason}")]
    Import {
        /// The line (from 1).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The store cannot be used (I/O error, closed, full disk).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// How much a component may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Total bytes of keys and values.
    pub bytes: u64,
    /// Number of keys.
    pub keys: u64,
}

impl Quota {
    /// No limit (the embedder's own writes).
    pub const UNLIMITED: Quota = Quota { bytes: u64::MAX, keys: u64::MAX };
}

/// How much a component stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Total bytes of keys and values.
    pub bytes: u64,
    /// Number of keys.
    pub keys: u64,
}

/// One write of an atomic group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Set a key's value.
    Set(String, Vec<u8>),
    /// Delete a key.
    Delete(String),
    /// Add to a counter (a decimal 64-bit integer; a missing key counts as 0).
    Increment(String, i64),
    /// Set (`Some`) or delete (`None`) the key if its value is `expected` (`None`: absent).
    CompareAndSwap {
        /// The key.
        key: String,
        /// The value it must have now.
        expected: Option<Vec<u8>>,
        /// What it gets.
        new: Option<Vec<u8>>,
    },
}

/// What a [`Write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The key was set.
    Set,
    /// Whether the key existed before the delete.
    Deleted(bool),
    /// The counter's new value.
    Counter(i64),
    /// Whether the swap happened.
    Swapped(bool),
}

/// A storage backend. Every method may block (the host calls it on tokio's blocking pool).
/// A `scope` is a component's name: keys of different scopes never meet.
pub trait Backend: Send + Sync + 'static {
    /// A key's value.
    fn get(&self, scope: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Up to `limit` keys starting with `prefix`, in order, after `after` when given.
    fn keys(
        &self,
        scope: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;
    /// Up to `limit` entries in key order, after `after` when given (for export).
    fn entries(
        &self,
        scope: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
    /// How much the scope stores.
    fn usage(&self, scope: &str) -> Result<Usage, StorageError>;
    /// Apply `writes` in order, atomically and durably: when this returns `Ok`, all of them
    /// are on disk; when it returns `Err`, none is. Over `quota` (only when a write makes
    /// usage grow past it) is [`StorageError::QuotaExceeded`].
    fn write(
        &self,
        scope: &str,
        quota: Quota,
        writes: Vec<Write>,
    ) -> Result<Vec<Written>, StorageError>;

    /// Let go of what the backend holds (files, threads): later calls fail with
    /// [`StorageError::Unavailable`]. The host calls it when it shuts down, for a store it
    /// opened itself. The default does nothing.
    fn close(&self) {}

    /// A point read that cannot block for long, done on the caller's thread (an async
    /// executor thread), or `None` if this backend cannot promise that (the host then reads
    /// on tokio's blocking pool). The default is `None`.
    fn get_now(&self, scope: &str, key: &str) -> Option<Result<Option<Vec<u8>>, StorageError>> {
        let _ = (scope, key);
        None
    }

    /// Like [`Backend::write`], without blocking the caller (an async executor thread):
    /// hand the work off and call `done` with the outcome once it is durable (or refused).
    /// The default runs `write` on tokio's blocking pool; a backend with a writer thread of
    /// its own can queue the work there directly and save that hop.
    fn submit(self: Arc<Self>, scope: String, quota: Quota, writes: Vec<Write>, done: Done) {
        tokio::task::spawn_blocking(move || done(self.write(&scope, quota, writes)));
    }
}

/// A write group checked against the values it reads and the scope's quota: what it does
/// to each key, what each write answers, and the scope's usage after it. Each backend
/// applies it its own way ([`resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolved {
    /// Each key the group changes, with its new value (`None`: deleted).
    pub changes: std::collections::BTreeMap<String, Option<Vec<u8>>>,
    /// What each write did, in order.
    pub written: Vec<Written>,
    /// The scope's usage once the group is applied.
    pub usage: Usage,
}

/// Check a write group against a scope with `before` usage and `quota`, reading current
/// values through `current` (each key once at most): counters must be decimal 64-bit
/// integers that do not overflow, and usage may grow past the quota in neither bytes nor
/// keys. `Err` from `current` is passed on; a refused group changes nothing.
pub fn resolve(
    before: Usage,
    quota: Quota,
    writes: Vec<Write>,
    mut current: impl FnMut(&str) -> Result<Option<Vec<u8>>, StorageError>,
) -> Result<Resolved, StorageError> {
    let mut changes: std::collections::BTreeMap<String, Option<Vec<u8>>> = Default::default();
    let (mut bytes, mut keys) = (i128::from(before.bytes), i128::from(before.keys));
    let mut written = Vec::with_capacity(writes.len());
    for write in writes {
        let key = match &write {
            Write::Set(k, _) | Write::Delete(k) | Write::Increment(k, _) => k.clone(),
            Write::CompareAndSwap { key, .. } => key.clone(),
        };
        let old = match changes.get(&key) {
            Some(value) => value.clone(),
            None => current(&key)?,
        };
        let new = match write {
            Write::Set(_, value) => {
                written.push(Written::Set);
                Some(value)
            }
            Write::Delete(_) => {
                written.push(Written::Deleted(old.is_some()));
                None
            }
            Write::Increment(_, delta) => {
                let now = match &old {
                    None => 0,
                    Some(v) => std::str::from_utf8(v)
                        .ok()
                        .and_then(|t| t.parse::<i64>().ok())
                        .ok_or_else(|| {
                            StorageError::NotACounter(format!(
                                "the value of {key:?} is not a decimal 64-bit integer"
                            ))
                        })?,
                };
                let next = now.checked_add(delta).ok_or_else(|| {
                    StorageError::NotACounter(format!("{now} + {delta} overflows a 64-bit integer"))
                })?;
                written.push(Written::Counter(next));
                Some(next.to_string().into_bytes())
            }
            Write::CompareAndSwap { expected, new, .. } => {
                let swap = old == expected;
                written.push(Written::Swapped(swap));
                if !swap {
                    continue;
                }
                new
            }
        };
        let size = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, |v| (key.len() + v.len()) as i128);
        bytes += size(&new) - size(&old);
        keys += i128::from(new.is_some()) - i128::from(old.is_some());
        changes.insert(key, new);
    }
    let grew = |now: i128, was: u64| now > i128::from(was);
    if bytes > i128::from(quota.bytes) && grew(bytes, before.bytes) {
        return Err(StorageError::QuotaExceeded(format!(
            "{bytes} bytes would exceed the quota of {} bytes",
            quota.bytes
        )));
    }
    if keys > i128::from(quota.keys) && grew(keys, before.keys) {
        return Err(StorageError::QuotaExceeded(format!(
            "{keys} keys would exceed the quota of {} keys",
            quota.keys
        )));
    }
    let clamp = |n: i128| u64::try_from(n.max(0)).unwrap_or(u64::MAX);
    Ok(Resolved { changes, written, usage: Usage { bytes: clamp(bytes), keys: clamp(keys) } })
}

/// Called once with the outcome of a submitted write.
pub type Done = Box<dyn FnOnce(Result<Vec<Written>, StorageError>) + Send>;

/// Check a key.
pub(crate) fn check_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(StorageError::InvalidKey("a key cannot be empty".into()));
    }
    if key.len() > MAX_KEY {
        return Err(StorageError::InvalidKey(format!("a key has at most {MAX_KEY} bytes")));
    }
    Ok(())
}

/// The host's store: a [`Backend`] behind an async, cloneable handle.
#[derive(Clone)]
pub struct Storage {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").finish_non_exhaustive()
    }
}

/// One exported entry: the value as text when it is UTF-8, else as base64.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
}

impl Storage {
    /// A store over `backend`.
    pub fn new(backend: impl Backend) -> Self {
        Storage { backend: Arc::new(backend) }
    }

    /// Close the store (see [`Backend::close`]).
    pub(crate) fn close(&self) {
        self.backend.close();
    }

    /// The default store: a redb database in `dir` (created, private to this user).
    pub fn open(dir: &std::path::Path) -> Result<Self, StorageError> {
        Ok(Storage::new(RedbBackend::open(dir)?))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Backend) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || f(&*backend))
            .await
            .map_err(|e| StorageError::Unavailable(format!("storage task failed: {e}")))?
    }

    /// A component's value for `key`.
    pub async fn get(&self, component: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        if let Some(read) = self.backend.get_now(component, key) {
            return read;
        }
        let (scope, key) = (component.to_owned(), key.to_owned());
        self.blocking(move |b| b.get(&scope, &key)).await
    }

    /// One page of a component's keys starting with `prefix`, after `after`.
    pub async fn keys_page(
        &self,
        component: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let (scope, prefix) = (component.to_owned(), prefix.to_owned());
        let after = after.map(str::to_owned);
        let limit = limit.clamp(1, MAX_PAGE);
        self.blocking(move |b| b.keys(&scope, &prefix, after.as_deref(), limit)).await
    }

    /// All of a component's keys starting with `prefix`, in order.
    pub async fn keys(&self, component: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut all: Vec<String> = Vec::new();
        loop {
            let page = self.keys_page(component, prefix, all.last().map(String::as_str), MAX_PAGE);
            let page = page.await?;
            let done = page.len() < MAX_PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// How much a component stores.
    pub async fn usage(&self, component: &str) -> Result<Usage, StorageError> {
        let scope = component.to_owned();
        self.blocking(move |b| b.usage(&scope)).await
    }

    /// Apply `writes` to a component's store atomically and durably, within `quota`.
    pub async fn write(
        &self,
        component: &str,
        quota: Quota,
        writes: Vec<Write>,
    ) -> Result<Vec<Written>, StorageError> {
        for w in &writes {
            let (key, value) = match w {
                Write::Set(k, v) => (k, Some(v)),
                Write::Delete(k) | Write::Increment(k, _) => (k, None),
                Write::CompareAndSwap { key, new, .. } => (key, new.as_ref()),
            };
            check_key(key)?;
            if value.is_some_and(|v| v.len() > MAX_VALUE) {
                return Err(StorageError::ValueTooLarge(MAX_VALUE as u64));
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        Arc::clone(&self.backend).submit(
            component.to_owned(),
            quota,
            writes,
            Box::new(move |outcome| {
                let _ = tx.send(outcome);
            }),
        );
        rx.await.map_err(|_| StorageError::Unavailable("the write was dropped".into()))?
    }

    /// Set a component's value (the embedder's write: no quota).
    pub async fn set(
        &self,
        component: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), StorageError> {
        self.write(component, Quota::UNLIMITED, vec![Write::Set(key.into(), value)]).await?;
        Ok(())
    }

    /// Delete a component's key; whether it existed.
    pub async fn delete(&self, component: &str, key: &str) -> Result<bool, StorageError> {
        let done = self.write(component, Quota::UNLIMITED, vec![Write::Delete(key.into())]);
        Ok(matches!(done.await?.first(), Some(Written::Deleted(true))))
    }

    /// A component's data as JSON lines (`{"key": .., "text": ..}`, or `"base64"` for a value
    /// that is not UTF-8), in key order. Returns how many entries were written. It reads page
    /// by page: writes made meanwhile may or may not be in it (it is not a snapshot), but no
    /// key appears twice.
    pub async fn export(
        &self,
        component: &str,
        out: &mut (impl std::io::Write + ?Sized),
    ) -> Result<usize, StorageError> {
        use base64::Engine as _;
        let io = |e: std::io::Error| StorageError::Unavailable(format!("cannot write: {e}"));
        let mut count = 0;
        // Values may be up to 1 MiB: small pages bound the memory held at once.
        const EXPORT_PAGE: usize = 64;
        let mut after: Option<String> = None;
        loop {
            let scope = component.to_owned();
            let from = after.clone();
            let page =
                self.blocking(move |b| b.entries(&scope, from.as_deref(), EXPORT_PAGE)).await?;
            for (key, value) in &page {
                let line = match std::str::from_utf8(value) {
                    Ok(text) => Line { key: key.clone(), text: Some(text.into()), base64: None },
                    Err(_) => Line {
                        key: key.clone(),
                        text: None,
                        base64: Some(base64::engine::general_purpose::STANDARD.encode(value)),
                    },
                };
                let json = serde_json::to_string(&line)
                    .map_err(|e| StorageError::Unavailable(e.to_string()))?;
                writeln!(out, "{json}").map_err(io)?;
                count += 1;
            }
            match page.last() {
                Some((key, _)) if page.len() == EXPORT_PAGE => after = Some(key.clone()),
                _ => return Ok(count),
            }
        }
    }

    /// Import JSON lines as written by [`Storage::export`] into a component's store, in one
    /// atomic write (a malformed line imports nothing and names the line). Existing keys
    /// not in the input are kept. Returns how many entries were imported.
    pub async fn import(&self, component: &str, input: &str) -> Result<usize, StorageError> {
        use base64::Engine as _;
        let mut writes = Vec::new();
        for (i, text) in input.lines().enumerate() {
            if text.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| StorageError::Import { line: i + 1, reason };
            let line: Line = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
            let value = match (line.text, line.base64) {
                (Some(text), None) => text.into_bytes(),
                (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| bad(format!("bad base64: {e}")))?,
                _ => return Err(bad("expected exactly one of \"text\" and \"base64\"".into())),
            };
            check_key(&line.key).map_err(|e| bad(e.to_string()))?;
            if value.len() > MAX_VALUE {
                return Err(bad(format!("the value is larger than {MAX_VALUE} bytes")));
            }
            writes.push(Write::Set(line.key, value));
        }
        let count = writes.len();
        if count > 0 {
            self.write(component, Quota::UNLIMITED, writes).await?;
        }
        Ok(count)
    }
}

/// A component's storage: the host's store, its scope and its quota.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) storage: Storage,
    pub(crate) scope: Arc<str>,
    pub(crate) quota: Quota,
}

/// An open `wasi:keyvalue` bucket (`keyvalue.rs`): its key prefix among the component's keys,
/// and the keys its `list-keys` cursors stand for.
#[derive(Debug)]
pub struct Bucket {
    pub(crate) prefix: String,
    /// The key each recent `list-keys` cursor continues after (a `u64` cursor cannot hold a
    /// key), oldest first; cursors are numbered upward and never reused.
    pub(crate) cursors: std::collections::VecDeque<(u64, String)>,
    pub(crate) next_cursor: u64,
}

/// A `wasi:keyvalue@0.2.0-draft2` compare-and-swap handle (`keyvalue.rs`): a storage key and
/// the value it held when the handle was made; a swap succeeds only if it still holds it.
#[derive(Debug)]
pub struct Cas {
    pub(crate) key: String,
    pub(crate) seen: Option<Vec<u8>>,
}
