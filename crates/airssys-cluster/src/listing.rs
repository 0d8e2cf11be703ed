//! The components of the whole cluster, each with the host that runs it (`airssys ps`): each
//! host answers for its own components on `airssys.<cluster>.ps.<host-id>`, and a name the
//! registry gives to a host that does not answer is listed as `unreachable`.

use std::time::Duration;

use futures_util::StreamExt;

use airssys_wasm::Host;

/// How long a host is waited for.
pub(crate) const ASK: Duration = Duration::from_secs(1);

/// The most one answer may hold (a hostile or broken host's is dropped beyond it).
const MAX_ANSWER: usize = 4 << 20;

/// One component of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ClusterComponent {
    /// The id of the host that runs it.
    pub host: String,
    /// Its address.
    pub address: String,
    /// `running`, `restarting`, `stopped`, `failed`; `unreachable` (its host did not
    /// answer), or `unlisted` (its host's listing was too large for one NATS message).
    pub state: String,
    /// Messages waiting in its mailbox.
    pub mailbox: u64,
    /// Messages it has handled.
    pub handled: u64,
    /// Times it was restarted.
    pub restarts: u64,
    /// Bytes of linear memory its instance holds.
    pub memory: u64,
}

/// `host`'s own components.
pub(crate) async fn local(host: &Host, host_id: &str) -> Vec<ClusterComponent> {
    host.components()
        .await
        .into_iter()
        .map(|c| ClusterComponent {
            host: host_id.to_owned(),
            address: c.address.to_string(),
            state: format!("{:?}", c.state).to_lowercase(),
            mailbox: c.mailbox_len as u64,
            handled: c.handled,
            restarts: u64::from(c.restarts),
            memory: c.memory_bytes as u64,
        })
        .collect()
}

/// Answer the requests for `host`'s components, until the subscription ends.
pub(crate) async fn answer(
    client: async_nats::Client,
    mut asks: async_nats::Subscriber,
    host: Host,
    host_id: String,
) {
    while let Some(ask) = asks.next().await {
        let Some(reply) = ask.reply else { continue };
        let mut listed = local(&host, &host_id).await;
        // One NATS message: a listing too large for it is cut short (by address order), and
        // the asker shows the rest of this host's names as `unlisted`.
        let room = client.server_info().max_payload.saturating_sub(1024);
        let json = loop {
            match serde_json::to_vec(&listed) {
                Ok(json) if json.len() <= room || listed.is_empty() => break Some(json),
                Ok(_) => {
                    tracing::warn!(components = listed.len(), "the listing is cut short to fit");
                    listed.truncate(listed.len() * 3 / 4);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot encode the listing of components");
                    break None;
                }
            }
        };
        if let Some(json) = json
            && let Err(e) = client.publish(reply, json.into()).await
        {
            tracing::warn!(error = %e, "a listing of components was not sent");
        }
    }
}

/// Ask `host` (another host) for its components; `None` if it does not answer in time or
/// answers something else than a listing.
pub(crate) async fn ask(
    client: &async_nats::Client,
    subject: String,
    host: &str,
) -> Option<Vec<ClusterComponent>> {
    let asked = tokio::time::timeout(ASK, client.request(subject, bytes::Bytes::new())).await;
    let message = asked.ok()?.ok()?;
    if message.payload.len() > MAX_ANSWER {
        return None;
    }
    let mut listed: Vec<ClusterComponent> = serde_json::from_slice(&message.payload).ok()?;
    // A host answers for itself only.
    listed.retain(|c| c.host == host);
    Some(listed)
}
