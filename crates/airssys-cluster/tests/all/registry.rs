//! Each name runs on one host of a cluster at a time; joining fails with a clear error.

use std::time::Duration;

use airssys_cluster::{Cluster, ClusterConfig, ClusterError};
use airssys_wasm::HostError;
use airssys_wasm::transport::ClaimError;

use crate::fixture::{Nats, T, joined, relay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_runs_on_one_host_at_a_time() {
    let nats = Nats::start().unwrap();
    let (a_cluster, a) = joined(&nats, "shop", vec![relay("bob")]).await;
    let (c_cluster, c) = joined(&nats, "shop", vec![]).await;
    // Host c cannot start a second bob, whatever its view of the registry.
    let refused = c.spawn(relay("bob")).await;
    match &refused {
        Err(HostError::Claim { name, source: ClaimError::Taken { owner, .. } }) => {
            assert_eq!(name, "bob");
            assert_eq!(owner, a_cluster.host_id());
        }
        other => panic!("expected the name to be taken: {other:?}"),
    }
    let message = format!("{:#}", anyhow_chain(refused.unwrap_err()));
    assert!(message.contains("already runs on host"), "{message}");
    // Nor can a host start with it.
    let started = airssys_wasm::Host::builder()
        .transport(c_cluster.transport())
        .component(relay("bob"))
        .start()
        .await;
    assert!(matches!(started, Err(HostError::Claim { .. })), "{started:?}");
    // Once host a stops bob, the name is free for host c.
    a.stop("bob").await.unwrap();
    assert!(c_cluster.wait_until_free("bob", T).await, "the name is given up");
    c.spawn(relay("bob")).await.unwrap();
    assert_eq!(a_cluster.wait_for_owner("bob", T).await.as_deref(), Some(c_cluster.host_id()));
    // A host that shuts down gives its names up.
    c.shutdown(Duration::from_secs(5)).await;
    assert!(a_cluster.wait_until_free("bob", T).await);
    a.spawn(relay("bob")).await.unwrap();
    a.shutdown(Duration::from_secs(5)).await;
}

/// The error and its sources, one per line.
fn anyhow_chain(e: HostError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_fails_with_a_clear_error() {
    // Nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let refused = Cluster::join(ClusterConfig::new(format!("nats://127.0.0.1:{port}"), "c")).await;
    assert!(matches!(refused, Err(ClusterError::Connect { .. })), "{refused:?}");
    // A server without JetStream: the error says to enable it.
    let plain = Nats::with(&[]).unwrap();
    let refused = Cluster::join(ClusterConfig::new(&plain.url, "c")).await;
    match refused {
        Err(e @ ClusterError::Registry(_)) => assert!(e.to_string().contains("-js"), "{e}"),
        other => panic!("expected a registry error: {other:?}"),
    }
    // A server that wants a password, and the password.
    let guarded = Nats::with(&["-js", "--user", "u", "--pass", "p"]).unwrap();
    let refused = Cluster::join(ClusterConfig::new(&guarded.url, "c")).await;
    assert!(matches!(refused, Err(ClusterError::Connect { .. })), "{refused:?}");
    let credentials =
        airssys_cluster::Credentials::UserPassword { user: "u".into(), password: "p".into() };
    let joined = Cluster::join(ClusterConfig::new(&guarded.url, "c").credentials(credentials))
        .await
        .unwrap();
    assert_eq!(joined.hosts(), [joined.host_id().to_string()]);
    // A cluster name that is not one subject token.
    let refused = Cluster::join(ClusterConfig::new(&guarded.url, "a.b")).await;
    assert!(matches!(refused, Err(ClusterError::InvalidName(_))), "{refused:?}");
}
