//! What leaves this host for the cluster, in the order it was queued: frames for other
//! hosts, and names given up. One task publishes them over the host's one NATS connection,
//! so frames from this host reach each other host in the order they were sent (NATS keeps
//! a connection's order to each subscriber).

use std::sync::Arc;

use crate::registry::Registry;

/// One item for the outbound task.
pub(crate) enum Outbound {
    /// A wire frame for the host whose inbox is `subject`.
    Frame { subject: String, frame: bytes::Bytes },
    /// A name this host gave up.
    Release(String),
    /// Told once everything queued before it is done.
    Drained(tokio::sync::oneshot::Sender<()>),
}

/// Frames queued and not yet published, at most: past it, a send is refused with
/// `mailbox-full` (the connection cannot keep up) rather than queued without bound.
pub(crate) const QUEUE: usize = 16 * 1024;

/// The header that names the host a frame comes from (the receiver checks that the host
/// may send as the frame's sender).
pub(crate) const ORIGIN: &str = "Airssys-Host";

/// Publish what is queued, in order, until every sender is gone; every frame says it comes
/// from `host`.
pub(crate) async fn run(
    client: async_nats::Client,
    registry: Arc<Registry>,
    host: String,
    mut queue: tokio::sync::mpsc::Receiver<Outbound>,
) {
    let mut origin = async_nats::HeaderMap::new();
    origin.insert(ORIGIN, host.as_str());
    while let Some(item) = queue.recv().await {
        match item {
            Outbound::Frame { subject, frame } => {
                if let Err(e) = client.publish_with_headers(subject, origin.clone(), frame).await {
                    tracing::warn!(error = %e, "a frame for another host was not published");
                }
            }
            Outbound::Release(name) => registry.release(&name).await,
            Outbound::Drained(done) => {
                let _ = client.flush().await;
                let _ = done.send(());
            }
        }
    }
    let _ = client.flush().await;
}
