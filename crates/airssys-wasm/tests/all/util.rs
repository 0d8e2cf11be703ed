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
