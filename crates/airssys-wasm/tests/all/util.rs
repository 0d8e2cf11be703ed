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
