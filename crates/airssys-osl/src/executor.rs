//! Executors: what actually performs an operation. [`Execute<O>`] is implemented per
//! operation (by hand or with `#[executor]`); [`TokioExecutor`] performs every operation on
//! tokio.

use std::collections::HashMap;
use std::future::Future;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{Notify, watch};

use crate::error::OslError;
use crate::ops::*;
use crate::principal::{Context, Principal};

/// Performs operations of type `O`.
pub trait Execute<O: Operation>: Send + Sync {
    /// Perform `op` for `ctx`'s principal.
    fn execute(
        &self,
        op: O,
        ctx: &Context,
    ) -> impl Future<Output = Result<O::Output, OslError>> + Send;
}

/// Performs every operation with tokio and std. Paths and programs are used as given: put the
/// security middleware in front of it (an [`Osl`](crate::Osl) pipeline) to check them.
#[derive(Debug, Clone, Default)]
pub struct TokioExecutor {
    processes: Arc<Mutex<HashMap<u32, Tracked>>>,
}

/// A process this executor started.
#[derive(Debug)]
struct Tracked {
    owner: Principal,
    kill: Arc<Notify>,
    /// Set as soon as the process is reaped: from then on its pid may be someone else's.
    reaped: Arc<AtomicBool>,
    exit: watch::Receiver<Option<ExitOutput>>,
}

/// How long output is still collected after a process ended (something it started may hold
/// its pipes open).
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

type Captured = Arc<Mutex<Vec<u8>>>;

async fn read_capped(stream: Option<impl AsyncRead + Unpin>, kept: Captured) {
    let Some(mut stream) = stream else { return };
    let mut chunk = vec![0u8; 16 << 10];
    // Keep reading past the cap (discarding) so that the child never blocks on a full pipe.
    while let Ok(n) = stream.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
        let room = ProcessSpawn::MAX_CAPTURE.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
}

/// Open without following a symlink in the final component (one planted after the security
/// check is refused with ELOOP).
fn no_follow(options: &mut std::fs::OpenOptions) -> &mut std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    options.custom_flags(libc::O_NOFOLLOW)
}

/// Run a whole file operation on tokio's blocking pool in one hop (a `tokio::fs::File` pays
/// one hop per read or write).
async fn blocking<T: Send + 'static>(
    operation: &'static str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, OslError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(OslError::io(operation)),
        Err(e) => Err(OslError::Io { operation, source: std::io::Error::other(e.to_string()) }),
    }
}

impl TokioExecutor {
    /// A new executor with no processes.
    pub fn new() -> Self {
        Self::default()
    }

    fn tracked<T>(
        &self,
        pid: ProcessId,
        ctx: &Context,
        f: impl FnOnce(&mut HashMap<u32, Tracked>) -> T,
    ) -> Result<T, OslError> {
        let mut processes = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        match processes.get(&pid.0) {
            Some(t) if t.owner == *ctx.principal() => Ok(f(&mut processes)),
            _ => Err(OslError::NoSuchProcess(pid.0)),
        }
    }
}

#[crate::executor]
impl TokioExecutor {
    async fn file_read(&self, op: FileRead, _ctx: &Context) -> Result<Vec<u8>, OslError> {
        blocking(FileRead::NAME, move || {
            let mut file = no_follow(std::fs::OpenOptions::new().read(true)).open(&op.path)?;
            let mut bytes = Vec::with_capacity(file.metadata().map_or(0, |m| m.len() as usize));
            std::io::Read::read_to_end(&mut file, &mut bytes)?;
            Ok(bytes)
        })
        .await
    }

    async fn file_write(&self, op: FileWrite, _ctx: &Context) -> Result<(), OslError> {
        blocking(FileWrite::NAME, move || {
            let mut options = std::fs::OpenOptions::new();
            let mut file =
                no_follow(options.write(true).create(true).truncate(true)).open(&op.path)?;
            std::io::Write::write_all(&mut file, &op.data)
        })
        .await
    }

    async fn file_append(&self, op: FileAppend, _ctx: &Context) -> Result<(), OslError> {
        blocking(FileAppend::NAME, move || {
            let mut options = std::fs::OpenOptions::new();
            let mut file = no_follow(options.append(true).create(true)).open(&op.path)?;
            std::io::Write::write_all(&mut file, &op.data)
        })
        .await
    }

    async fn file_delete(&self, op: FileDelete, _ctx: &Context) -> Result<(), OslError> {
        let meta =
            tokio::fs::symlink_metadata(&op.path).await.map_err(OslError::io(FileDelete::NAME))?;
        if meta.is_dir() {
            tokio::fs::remove_dir(&op.path).await
        } else {
            tokio::fs::remove_file(&op.path).await
        }
        .map_err(OslError::io(FileDelete::NAME))
    }

    async fn dir_create(&self, op: DirCreate, _ctx: &Context) -> Result<(), OslError> {
        if op.recursive {
            tokio::fs::create_dir_all(&op.path).await
        } else {
            tokio::fs::create_dir(&op.path).await
        }
        .map_err(OslError::io(DirCreate::NAME))
    }

    async fn dir_list(&self, op: DirList, _ctx: &Context) -> Result<Vec<DirEntry>, OslError> {
        let mut dir = tokio::fs::read_dir(&op.path).await.map_err(OslError::io(DirList::NAME))?;
        let mut entries = Vec::new();
        while let Some(entry) = dir.next_entry().await.map_err(OslError::io(DirList::NAME))? {
            let is_dir = entry.file_type().await.map(|t| t.is_dir()).unwrap_or(false);
            entries
                .push(DirEntry { name: entry.file_name().to_string_lossy().into_owned(), is_dir });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    async fn file_metadata(&self, op: FileMetadata, _ctx: &Context) -> Result<Metadata, OslError> {
        let meta = tokio::fs::metadata(&op.path).await.map_err(OslError::io(FileMetadata::NAME))?;
        Ok(Metadata {
            len: meta.len(),
            is_dir: meta.is_dir(),
            is_file: meta.is_file(),
            readonly: meta.permissions().readonly(),
            modified: meta.modified().ok(),
        })
    }

    async fn file_rename(&self, op: FileRename, _ctx: &Context) -> Result<(), OslError> {
        tokio::fs::rename(&op.from, &op.to).await.map_err(OslError::io(FileRename::NAME))
    }

    async fn process_spawn(&self, op: ProcessSpawn, ctx: &Context) -> Result<ProcessId, OslError> {
        let program = crate::path::resolve_program(&op.program)?;
        let mut command = tokio::process::Command::new(program);
        command.arg0(op.arg0.as_deref().unwrap_or(&op.program));
        command.args(&op.args).env_clear().envs(op.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &op.cwd {
            command.current_dir(dir);
        }
        let out = || if op.capture { Stdio::piped() } else { Stdio::null() };
        // Its own process group, so that a kill reaches whatever it started too.
        command
            .stdin(Stdio::null())
            .stdout(out())
            .stderr(out())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = command.spawn().map_err(OslError::io(ProcessSpawn::NAME))?;
        let Some(pid) = child.id() else {
            return Err(OslError::NotSupported("a child without a process id"));
        };
        let (out, err) = (Captured::default(), Captured::default());
        let stdout = tokio::spawn(read_capped(child.stdout.take(), Arc::clone(&out)));
        let stderr = tokio::spawn(read_capped(child.stderr.take(), Arc::clone(&err)));
        let kill = Arc::new(Notify::new());
        let reaped = Arc::new(AtomicBool::new(false));
        let (done, exit) = watch::channel(None);
        let killer = Arc::clone(&kill);
        let reaped_flag = Arc::clone(&reaped);
        let deadline = op.timeout.map(|t| tokio::time::Instant::now() + t);
        tokio::spawn(async move {
            let expired = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let mut timed_out = false;
            let group = rustix::process::Pid::from_raw(pid as i32);
            let kill_group = || {
                if let Some(group) = group {
                    let _ =
                        rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                }
            };
            let status = tokio::select! {
                status = child.wait() => status,
                () = expired => {
                    timed_out = true;
                    kill_group();
                    child.wait().await
                }
                () = killer.notified() => {
                    kill_group();
                    child.wait().await
                }
            };
            reaped_flag.store(true, Ordering::Release);
            // Whatever it left running in its group goes with it (and releases the output
            // pipes). The group id is still ours: the leader was reaped, but members keep it.
            kill_group();
            use std::os::unix::process::ExitStatusExt;
            let (code, signal) = match &status {
                Ok(s) => (s.code(), s.signal()),
                Err(_) => (None, None),
            };
            // Something outside the group (a `setsid` grandchild) may still hold the pipes:
            // collect for a short grace period, then keep what arrived.
            for mut reader in [stdout, stderr] {
                if tokio::time::timeout(OUTPUT_GRACE, &mut reader).await.is_err() {
                    reader.abort();
                    tracing::debug!(pid, "output still open after the process ended; truncated");
                }
            }
            let take =
                |c: &Captured| std::mem::take(&mut *c.lock().unwrap_or_else(|e| e.into_inner()));
            let (stdout, stderr) = (take(&out), take(&err));
            let _ = done.send(Some(ExitOutput { code, signal, timed_out, stdout, stderr }));
        });
        let tracked = Tracked { owner: ctx.principal().clone(), kill, reaped, exit };
        self.processes.lock().unwrap_or_else(|e| e.into_inner()).insert(pid, tracked);
        Ok(ProcessId(pid))
    }

    async fn process_wait(&self, op: ProcessWait, ctx: &Context) -> Result<ExitOutput, OslError> {
        let mut exit = self.tracked(op.pid, ctx, |p| p[&op.pid.0].exit.clone())?;
        let output = match exit.wait_for(Option::is_some).await {
            Ok(output) => output.clone(),
            Err(_) => None,
        };
        self.processes.lock().unwrap_or_else(|e| e.into_inner()).remove(&op.pid.0);
        output.ok_or(OslError::NoSuchProcess(op.pid.0))
    }

    async fn process_kill(&self, op: ProcessKill, ctx: &Context) -> Result<(), OslError> {
        let kill = self.tracked(op.pid, ctx, |p| Arc::clone(&p[&op.pid.0].kill))?;
        kill.notify_one();
        Ok(())
    }

    async fn process_signal(&self, op: ProcessSignal, ctx: &Context) -> Result<(), OslError> {
        let running =
            self.tracked(op.pid, ctx, |p| !p[&op.pid.0].reaped.load(Ordering::Acquire))?;
        if !running {
            // It has ended (and was reaped): its pid may belong to someone else now.
            return Ok(());
        }
        let signal = rustix::process::Signal::from_named_raw(op.signal)
            .ok_or(OslError::NotSupported("this signal number"))?;
        let pid = rustix::process::Pid::from_raw(op.pid.0 as i32)
            .ok_or(OslError::NoSuchProcess(op.pid.0))?;
        rustix::process::kill_process(pid, signal)
            .map_err(|e| OslError::Io { operation: ProcessSignal::NAME, source: e.into() })
    }

    async fn tcp_connect(
        &self,
        op: TcpConnect,
        _ctx: &Context,
    ) -> Result<tokio::net::TcpStream, OslError> {
        tokio::net::TcpStream::connect(&op.address).await.map_err(OslError::io(TcpConnect::NAME))
    }

    async fn tcp_listen(
        &self,
        op: TcpListen,
        _ctx: &Context,
    ) -> Result<tokio::net::TcpListener, OslError> {
        tokio::net::TcpListener::bind(&op.address).await.map_err(OslError::io(TcpListen::NAME))
    }

    async fn udp_bind(
        &self,
        op: UdpBind,
        _ctx: &Context,
    ) -> Result<tokio::net::UdpSocket, OslError> {
        tokio::net::UdpSocket::bind(&op.address).await.map_err(OslError::io(UdpBind::NAME))
    }

    async fn unix_connect(
        &self,
        op: UnixConnect,
        _ctx: &Context,
    ) -> Result<tokio::net::UnixStream, OslError> {
        tokio::net::UnixStream::connect(&op.path).await.map_err(OslError::io(UnixConnect::NAME))
    }
}
