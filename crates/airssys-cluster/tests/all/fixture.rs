//! The helpers the tests share; each test runs its own `nats-server`
//! (`test_programs::nats`).

use std::time::{Duration, Instant};

use airssys_cluster::{Cluster, ClusterConfig};
use airssys_wasm::{ComponentSpec, Host, Payload, Source, codec};
pub use test_programs::nats::NatsServer as Nats;

pub const T: Duration = Duration::from_secs(10);

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
