//! The default backend: one redb database (`storage.redb` in the host's data directory).
//!
//! - Keys are `(scope, key)` pairs in one table, so a scope's keys are contiguous and ordered,
//!   and a usage table keeps each scope's bytes and key count, updated in the same
//!   transaction as the data.
//! - Reads use their own read transactions and see only committed (acknowledged) writes.
//! - Writes go to one writer thread, which takes every write waiting, applies them in one
//!   transaction and commits it durably (fsync), then answers each: group commit, so many
//!   writers share one fsync. Each write group is checked (keys, counters, quota) against an
//!   overlay before it touches the table, so a refused group writes nothing and does not
//!   affect the others.

use std::ops::Bound;
use std::sync::Mutex;
use std::sync::mpsc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use super::{Backend, Quota, StorageError, Usage, Write, Written};

const DATA: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("data");
const USAGE: TableDefinition<'_, &str, (u64, u64)> = TableDefinition::new("usage");

/// Most write groups in one transaction.
const MAX_GROUP: usize = 512;

/// Where a job's outcome goes.
enum Reply {
    /// A caller blocked in `write`.
    Blocked(mpsc::SyncSender<Result<Vec<Written>, StorageError>>),
    /// A caller that submitted it (`submit`).
    Done(super::Done),
}

impl Reply {
    fn send(self, outcome: Result<Vec<Written>, StorageError>) {
        match self {
            Reply::Blocked(tx) => {
                let _ = tx.send(outcome);
            }
            Reply::Done(done) => done(outcome),
        }
    }
}

struct Job {
    scope: String,
    quota: Quota,
    writes: Vec<Write>,
    reply: Reply,
}

/// A redb database with a group-committing writer thread, which also closes it.
pub struct RedbBackend {
    /// `None` once closed.
    db: std::sync::RwLock<Option<std::sync::Arc<Database>>>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
}

impl std::fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbBackend").finish_non_exhaustive()
    }
}

fn unavailable(e: impl Into<redb::Error>) -> StorageError {
    StorageError::Unavailable(e.into().to_string())
}

impl RedbBackend {
    /// Open (or create) the database in `dir`. The directory must be this user's; it is
    /// created (or its permissions narrowed) to be private to this user, and so is the file.
    pub fn open(dir: &std::path::Path) -> Result<Self, StorageError> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            StorageError::Unavailable(format!("cannot {what} {}: {e}", dir.display()))
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail("create", &e))?;
        let meta = std::fs::metadata(dir).map_err(|e| fail("read", &e))?;
        if meta.uid() != rustix::process::geteuid().as_raw() {
            return Err(fail("use", &"it belongs to another user; use a directory of this user's"));
        }
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| fail("make private", &e))?;
        }
        let path = dir.join("storage.redb");
        // A host that just stopped in this process may still be closing it.
        let mut tries = 0;
        let db = loop {
            match Database::create(&path) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(StorageError::Unavailable(format!(
                        "cannot open {}: {e}",
                        path.display()
                    )));
                }
            }
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail("make private", &e))?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(DATA).map_err(unavailable)?;
        txn.open_table(USAGE).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        let db = std::sync::Arc::new(db);
        let (tx, rx) = mpsc::channel();
        let writer_db = std::sync::Arc::clone(&db);
        std::thread::Builder::new()
            .name("airssys-storage".into())
            .spawn(move || writer(writer_db, &rx))
            .map_err(|e| StorageError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(RedbBackend { db: std::sync::RwLock::new(Some(db)), jobs: Mutex::new(Some(tx)) })
    }

    /// The open database, or why there is none.
    fn db(&self) -> Result<std::sync::Arc<Database>, StorageError> {
        crate::sync::read(&self.db).clone().ok_or_else(|| {
            StorageError::Unavailable("the storage is closed (its host shut down)".into())
        })
    }
}

impl Drop for RedbBackend {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: group commits until the queue closes, then the final close.
fn writer(db: std::sync::Arc<Database>, jobs: &mpsc::Receiver<Job>) {
    commit_loop(&db, jobs);
    // Wait until the backend has let go of its handle, so that the close happens here.
    let mut waited = 0;
    while std::sync::Arc::strong_count(&db) > 1 && waited < 5000 {
        std::thread::sleep(std::time::Duration::from_millis(1));
        waited += 1;
    }
    drop(db);
}

fn commit_loop(db: &Database, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match commit(db, &mut group) {
            Ok(results) => {
                for (job, result) in group.into_iter().zip(results) {
                    job.reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, "storage commit failed");
                for job in group {
                    job.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

type Outcome = Result<Vec<Written>, StorageError>;

/// Apply every job in one transaction and commit it; each job's own outcome, or the error
/// that failed them all (nothing committed).
fn commit(db: &Database, group: &mut [Job]) -> Result<Vec<Outcome>, StorageError> {
    let txn = db.begin_write().map_err(unavailable)?;
    let mut results = Vec::with_capacity(group.len());
    {
        let mut data = txn.open_table(DATA).map_err(unavailable)?;
        let mut usage = txn.open_table(USAGE).map_err(unavailable)?;
        for job in group.iter_mut() {
            let writes = std::mem::take(&mut job.writes);
            results.push(apply(&mut data, &mut usage, &job.scope, job.quota, writes)?);
        }
    }
    txn.commit().map_err(unavailable)?;
    Ok(results)
}

/// Check one job ([`resolve`](super::resolve)), then write it: a refused job (`Ok(Err(..))`)
/// has not touched the tables. `Err` is a database failure.
fn apply(
    data: &mut redb::Table<'_, (&str, &str), &[u8]>,
    usage: &mut redb::Table<'_, &str, (u64, u64)>,
    scope: &str,
    quota: Quota,
    writes: Vec<Write>,
) -> Result<Outcome, StorageError> {
    let before = usage.get(scope).map_err(unavailable)?.map_or((0, 0), |g| g.value());
    let before = Usage { bytes: before.0, keys: before.1 };
    // A read that fails is a database failure, not a refusal of this job.
    let mut failed = None;
    let resolved = super::resolve(before, quota, writes, |key| {
        data.get((scope, key)).map(|v| v.map(|g| g.value().to_vec())).map_err(|e| {
            let e = unavailable(e);
            failed = Some(e.clone());
            e
        })
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let resolved = match resolved {
        Ok(resolved) => resolved,
        Err(refused) => return Ok(Err(refused)),
    };
    for (key, value) in &resolved.changes {
        match value {
            Some(v) => data.insert((scope, key.as_str()), v.as_slice()).map_err(unavailable)?,
            None => data.remove((scope, key.as_str())).map_err(unavailable)?,
        };
    }
    let after = resolved.usage;
    if after != before {
        if after.keys == 0 {
            usage.remove(scope).map_err(unavailable)?;
        } else {
            usage.insert(scope, (after.bytes, after.keys)).map_err(unavailable)?;
        }
    }
    Ok(Ok(resolved.written))
}

impl Backend for RedbBackend {
    /// Closing the queue ends the writer once it has answered what it holds; it then closes
    /// the database itself (file I/O), so that this call, often on an executor thread, does
    /// no redb work. Reopening in this process waits for that close.
    fn close(&self) {
        crate::sync::lock(&self.jobs).take();
        crate::sync::write(&self.db).take();
    }

    fn get(&self, scope: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = self.db()?.begin_read().map_err(unavailable)?;
        let table = match txn.open_table(DATA) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        Ok(table.get((scope, key)).map_err(unavailable)?.map(|g| g.value().to_vec()))
    }

    /// Point reads run inline. A redb read transaction never waits for a writer (it reads
    /// the last committed snapshot; registering it takes a short mutex), and a point lookup
    /// walks one B-tree path of a few pages, served from redb's page cache when hot and
    /// otherwise read with one `pread` each from a local file: bounded work, measured at
    /// about a microsecond when hot (`airssys-bench`, `wasm.storage_get`). Scans (key pages,
    /// usage, export) stay on the blocking pool: their length depends on the data.
    fn get_now(&self, scope: &str, key: &str) -> Option<Result<Option<Vec<u8>>, StorageError>> {
        Some(self.get(scope, key))
    }

    fn keys(
        &self,
        scope: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        self.scan(scope, prefix, after, limit, |k, _| keys.push(k.to_owned()))?;
        Ok(keys)
    }

    fn entries(
        &self,
        scope: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let mut entries = Vec::new();
        self.scan(scope, "", after, limit, |k, v| entries.push((k.to_owned(), v.to_vec())))?;
        Ok(entries)
    }

    fn usage(&self, scope: &str) -> Result<Usage, StorageError> {
        let txn = self.db()?.begin_read().map_err(unavailable)?;
        let table = txn.open_table(USAGE).map_err(unavailable)?;
        let (bytes, keys) = table.get(scope).map_err(unavailable)?.map_or((0, 0), |g| g.value());
        Ok(Usage { bytes, keys })
    }

    fn write(
        &self,
        scope: &str,
        quota: Quota,
        writes: Vec<Write>,
    ) -> Result<Vec<Written>, StorageError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.queue(Job { scope: scope.to_owned(), quota, writes, reply: Reply::Blocked(reply) });
        answer.recv().map_err(|_| StorageError::Unavailable("the storage writer stopped".into()))?
    }

    fn submit(
        self: std::sync::Arc<Self>,
        scope: String,
        quota: Quota,
        writes: Vec<Write>,
        done: super::Done,
    ) {
        // Queueing never blocks: the writer thread does the work and calls `done`.
        self.queue(Job { scope, quota, writes, reply: Reply::Done(done) });
    }
}

impl RedbBackend {
    /// Queue a job for the writer, or answer it at once if the store is closed.
    fn queue(&self, job: Job) {
        let job = match &*crate::sync::lock(&self.jobs) {
            Some(jobs) => match jobs.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        job.reply.send(Err(StorageError::Unavailable("the store is closed".into())));
    }

    /// Visit up to `limit` entries of `scope` whose key starts with `prefix`, in order,
    /// strictly after `after`.
    fn scan(
        &self,
        scope: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        mut visit: impl FnMut(&str, &[u8]),
    ) -> Result<(), StorageError> {
        let txn = self.db()?.begin_read().map_err(unavailable)?;
        let table = txn.open_table(DATA).map_err(unavailable)?;
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded((scope, a)),
            _ => Bound::Included((scope, prefix)),
        };
        let range = table.range::<(&str, &str)>((start, Bound::Unbounded)).map_err(unavailable)?;
        for entry in range.take(limit) {
            let (k, v) = entry.map_err(unavailable)?;
            let (s, key) = k.value();
            if s != scope || !key.starts_with(prefix) {
                break;
            }
            visit(key, v.value());
        }
        Ok(())
    }
}
