//! Helpers shared by the tests.

use std::time::Duration;

use airssys_wasm::{ComponentSpec, Host, Payload, Source, codec};

pub const T: Duration = Duration::from_secs(5);

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
    guest(name, test_programs::RELAY).grants(airssys_wasm::Grants::all_messaging())
}

/// A component named `name` running the guest at `path`.
pub fn guest(name: &str, path: &str) -> ComponentSpec {
    ComponentSpec::new(name, Source::File(path.into()))
}

/// Ask a relay for what it recorded (`callbacks` or `received`) until `want` lines are there
/// (or about two seconds passed); returns the lines.
pub async fn recorded(host: &Host, relay: &str, what: &str, want: usize) -> Vec<String> {
    for _ in 0..200 {
        let got = text(host.call(relay, raw(what), T).await.unwrap());
        let lines: Vec<String> = got.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
        if lines.len() >= want {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Vec::new()
}

#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();

/// Capture everything logged through `tracing` by this test binary from now on, with a
/// global subscriber (a scoped one is not reliable while other tests run on other threads).
pub fn install_log_capture() {
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        capture
    });
}

/// What was captured since `install_log_capture`.
pub fn captured_logs() -> String {
    CAPTURE
        .get()
        .map(|c| String::from_utf8_lossy(&c.0.lock().unwrap()).into_owned())
        .unwrap_or_default()
}

/// Resident memory of this process, in bytes (`/proc/self/statm`; 0 where it cannot be read).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Open file descriptors of this process (`/proc/self/fd`).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// A small deterministic random number generator (SplitMix64), so that a failing run can be
/// repeated from its printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A duration in seconds from the environment variable `var`, or `default`.
pub fn secs_from_env(var: &str, default: u64) -> Duration {
    Duration::from_secs(std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default))
}

/// Run the ignored test `test` (its full path, `module::name`) of this test binary alone in a
/// child process, with `AIRSSYS_CHILD=1` and `env`, and fail with its output unless it
/// passed. For tests that measure the whole process (memory, open files) or kill it.
pub fn run_child_test(test: &str, env: &[(&str, String)]) -> String {
    let out = tempfile::tempfile().unwrap();
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"]);
    command.env("AIRSSYS_CHILD", "1").env("RUST_BACKTRACE", "0");
    command.stdout(out.try_clone().unwrap()).stderr(out.try_clone().unwrap());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    // A hung child fails the test instead of hanging the suite.
    let deadline = std::time::Instant::now() + secs_from_env("AIRSSYS_CHILD_DEADLINE_SECS", 900);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = String::new();
    {
        use std::io::{Read, Seek};
        let mut out = out;
        out.rewind().unwrap();
        let mut bytes = Vec::new();
        out.read_to_end(&mut bytes).unwrap();
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    match status {
        Some(status) => {
            assert!(status.success(), "{test} failed in its child process:\n{text}");
        }
        None => panic!("{test} hung in its child process (killed at its deadline):\n{text}"),
    }
    text
}

/// True in a child process started by [`run_child_test`] (an ignored child test run by hand
/// with `--ignored` returns at once otherwise).
pub fn in_child() -> bool {
    std::env::var_os("AIRSSYS_CHILD").is_some()
}

/// Whether the listed component `name` had its code from the artifact cache.
pub async fn from_cache(host: &Host, name: &str) -> bool {
    host.components().await.iter().find(|c| &*c.address == name).expect("listed").from_cache
}

/// The compiled artifacts in a cache directory, sorted.
pub fn cache_entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    files.sort();
    files
}

/// An error and its sources as one line (`a: b: c`, as `anyhow`'s `{:#}` prints them).
pub trait Chain {
    /// The error and its sources as one line.
    fn chain(&self) -> String;
}

impl<E: std::error::Error> Chain for E {
    fn chain(&self) -> String {
        chain(self)
    }
}

/// An error and its sources, as `anyhow`'s `{:#}` prints them: `a: b: c`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
