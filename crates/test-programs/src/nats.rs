//! A real `nats-server` on a loopback port, for the cluster tests and the cluster
//! benchmark: `$NATS_SERVER`, or the pinned one `tools/install-nats-server` installs (the
//! script is run the first time it is needed in a process; a second run costs nothing).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A `nats-server`, killed when dropped. Its data (JetStream included) lives in a
/// temporary directory that outlives a [`stop`](NatsServer::stop).
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// A server with JetStream (`-js`).
    pub fn start() -> Result<NatsServer, String> {
        NatsServer::with(&["-js"])
    }

    /// A server with these arguments besides its address, port and data directory.
    pub fn with(args: &[&str]) -> Result<NatsServer, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let mut server = NatsServer {
            child: None,
            url: format!("nats://127.0.0.1:{port}"),
            port,
            args: args.iter().map(|a| a.to_string()).collect(),
            dir,
        };
        server.start_again()?;
        Ok(server)
    }

    /// Kill the server (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again, on the same port with the same data; ready once it takes
    /// connections.
    pub fn start_again(&mut self) -> Result<(), String> {
        let child = Command::new(binary()?)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.dir.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start nats-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err("nats-server did not start within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `nats-server` binary, found once per process.
fn binary() -> Result<PathBuf, String> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("NATS_SERVER") {
                return Ok(PathBuf::from(path));
            }
            let script =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/install-nats-server");
            let out = Command::new(&script)
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                let why = String::from_utf8_lossy(&out.stderr);
                return Err(format!("{} failed: {why}", script.display()));
            }
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            Ok(PathBuf::from(path))
        })
        .clone()
}
