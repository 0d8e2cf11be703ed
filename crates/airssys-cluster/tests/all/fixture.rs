//! A real `nats-server` per test, and the helpers the tests share.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use airssys_cluster::{Cluster, ClusterConfig};
use airssys_wasm::{ComponentSpec, Host, Payload, Source, codec};

pub const T: Duration = Duration::from_secs(10);

/// The `nats-server` binary: `$NATS_SERVER`, or the pinned one `tools/install-nats-server`
/// installs (run here if needed, once per test binary).
fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("NATS_SERVER") {
            return PathBuf::from(path);
        }
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/install-nats-server");
        let out = Command::new(&script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(out.status.success(), "{} failed", script.display());
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// A `nats-server` on a loopback port, stopped (killed) when dropped.
pub struct Nats {
    child: Option<Child>,
    pub url: String,
    port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

impl Nats {
    /// A server with JetStream.
    pub fn start() -> Nats {
        Nats::with(&["-js"])
    }

    /// A server with these extra arguments.
    pub fn with(args: &[&str]) -> Nats {
        let port = free_port();
        let mut nats = Nats {
            child: None,
            url: format!("nats://127.0.0.1:{port}"),
            port,
            args: args.iter().map(|a| a.to_string()).collect(),
            dir: tempfile::tempdir().unwrap(),
        };
        nats.start_again();
        nats
    }

    /// Kill the server (its JetStream data stays on disk).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server again, on the same port with the same data.
    pub fn start_again(&mut self) {
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.dir.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        // Ready once it takes connections.
        let deadline = Instant::now() + T;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A host joined to `cluster` on `nats`, running `components`, served.
pub async fn joined(nats: &Nats, cluster: &str, components: Vec<ComponentSpec>) -> (Cluster, Host) {
    joined_audited(nats, cluster, components, airssys_osl::AuditLog::memory()).await
}

/// [`joined`], its audit records kept in `audit`.
pub async fn joined_audited(
    nats: &Nats,
    cluster: &str,
    components: Vec<ComponentSpec>,
    audit: airssys_osl::AuditLog,
) -> (Cluster, Host) {
    let joined = Cluster::join(ClusterConfig::new(&nats.url, cluster)).await.unwrap();
    let mut builder = Host::builder().transport(joined.transport()).audit(audit);
    for c in components {
        builder = builder.component(c);
    }
    let host = builder.start().await.unwrap();
    assert!(joined.serve(host.clone()));
    (joined, host)
}

/// A raw-codec payload with this text.
pub fn raw(text: &str) -> Payload {
    Payload { codec: codec::RAW, bytes: text.as_bytes().to_vec() }
}

/// The text of a response.
pub fn text(p: Option<Payload>) -> String {
    String::from_utf8(p.expect("a response").bytes).unwrap()
}

/// A relay guest named `name`, with every messaging capability granted.
pub fn relay(name: &str) -> ComponentSpec {
    ComponentSpec::new(name, Source::File(test_programs::RELAY.into()))
        .grants(airssys_wasm::Grants::all_messaging())
}

/// Ask a relay for what it recorded (`received`) until `want` lines are there (or ten
/// seconds passed); returns the lines.
pub async fn recorded(host: &Host, relay: &str, want: usize) -> Vec<String> {
    let deadline = Instant::now() + T;
    loop {
        let got = text(host.call(relay, raw("received"), T).await.unwrap());
        let lines: Vec<String> = got.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
        if lines.len() >= want || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a relay recorded of its tagged requests' outcomes (`take`), once there is something.
pub async fn taken(host: &Host, relay: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let got = text(host.call(relay, raw("take"), T).await.unwrap());
        if !got.is_empty() || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
