//! The control socket's protocol (also in `docs/cli.md`): each request is one line of JSON
//! with an `op` field; each answer is one line, `{"ok": ..}` or `{"error": ".."}`.
//!
//! [`parse`] reads a request line, [`handle`] carries out every request but `logs` (which
//! streams, and is served by the socket itself) against a [`Host`], and [`answer`] turns the
//! outcome into the answer line's value.

use std::path::Path;
use std::time::Duration;

use airssys_wasm::Host;
use anyhow::{Context, bail};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::payload::WirePayload;

/// A request on the control socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// List the components and their state (`airssys ps`).
    Ps,
    /// Send a message from `host` to `target`.
    Send {
        /// The address to send to.
        target: String,
        /// What to send.
        payload: WirePayload,
    },
    /// Call `target` from `host` and wait for its response.
    Call {
        /// The address to call.
        target: String,
        /// What to send.
        payload: WirePayload,
        /// How long to wait for the response (at most [`MAX_CALL_TIMEOUT`]).
        timeout_ms: u64,
    },
    /// Stop a component and remove it.
    Stop {
        /// Its name.
        name: String,
    },
    /// Stop a component and start it again from its spec.
    Restart {
        /// Its name.
        name: String,
    },
    /// Replace a running component's code with the component file at `path` (read by the
    /// host; under a trust policy with keys, signed by `path.sig`).
    Upgrade {
        /// Its name.
        name: String,
        /// The new code's file.
        path: String,
        /// Its grace window, in milliseconds (default: the host's).
        #[serde(default)]
        grace_ms: Option<u64>,
    },
    /// A value in a component's store.
    StoreGet {
        /// The component whose store it is.
        component: String,
        /// The key.
        key: String,
    },
    /// Set a value in a component's store.
    StorePut {
        /// The component whose store it is.
        component: String,
        /// The key.
        key: String,
        /// The value, in base64.
        base64: String,
    },
    /// Remove a key from a component's store.
    StoreRm {
        /// The component whose store it is.
        component: String,
        /// The key.
        key: String,
    },
    /// The keys of a component's store that start with `prefix`.
    StoreLs {
        /// The component whose store it is.
        component: String,
        /// The prefix the keys start with.
        prefix: String,
    },
    /// A component's store as JSON lines.
    StoreExport {
        /// The component whose store it is.
        component: String,
    },
    /// Write JSON lines (as `store-export` gives them) into a component's store.
    StoreImport {
        /// The component whose store it is.
        component: String,
        /// The lines.
        lines: String,
    },
    /// Records of the audit log, filtered.
    Audit {
        /// Only this component's records, when given.
        component: Option<String>,
        /// Only records with one of these decisions (`allow`, `deny`, ...); empty: all.
        decisions: Vec<String>,
    },
    /// The app's recent log lines, and new ones as they come when `follow` is set.
    Logs {
        /// How many recent lines.
        lines: usize,
        /// Keep streaming new lines.
        follow: bool,
    },
}

/// The longest wait a `call` request may ask for.
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(3600);

/// A request line, or the error answer's text.
pub fn parse(line: &str) -> Result<Request, String> {
    serde_json::from_str::<Request>(line).map_err(|e| format!("not a request: {e}"))
}

/// The answer line's value for an outcome: `{"ok": value}` or `{"error": "text"}`.
pub fn answer(outcome: Result<serde_json::Value, String>) -> serde_json::Value {
    match outcome {
        Ok(value) => serde_json::json!({ "ok": value }),
        Err(error) => serde_json::json!({ "error": error }),
    }
}

/// Carry out a request against `host`; `audit` is the app's audit log file, if it has one.
/// A `logs` request answers `null` here: the socket serves it, since it may stream.
pub async fn handle(
    host: &Host,
    cluster: Option<&airssys_cluster::Cluster>,
    audit: Option<&Path>,
    request: Request,
) -> Result<serde_json::Value, String> {
    handle_inner(host, cluster, audit, request).await.map_err(|e| format!("{e:#}"))
}

fn storage(host: &Host) -> anyhow::Result<&airssys_wasm::storage::Storage> {
    host.storage().context("this app has no storage (no component is granted any)")
}

async fn handle_inner(
    host: &Host,
    cluster: Option<&airssys_cluster::Cluster>,
    audit: Option<&Path>,
    request: Request,
) -> anyhow::Result<serde_json::Value> {
    Ok(match request {
        // Every component of the cluster, each with its host.
        Request::Ps if cluster.is_some() => {
            let listed = match cluster {
                Some(cluster) => cluster.components().await,
                None => Vec::new(),
            };
            serde_json::to_value(listed)?
        }
        Request::Ps => {
            let allocation = match host.on_demand_reason() {
                None => "pool".to_owned(),
                Some(reason) => format!("on demand: {reason}"),
            };
            let list: Vec<serde_json::Value> = host
                .components()
                .await
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "address": &*c.address,
                        "state": format!("{:?}", c.state).to_lowercase(),
                        "mailbox": c.mailbox_len,
                        "handled": c.handled,
                        "restarts": c.restarts,
                        "from_cache": c.from_cache,
                        "memory": c.memory_bytes,
                        "output_dropped": c.output_dropped,
                        "version": &*c.version,
                        "allocation": allocation,
                    })
                })
                .collect();
            serde_json::Value::Array(list)
        }
        Request::Send { target, payload } => {
            host.send(&target, payload.try_into()?)
                .map_err(|e| anyhow::anyhow!("{target} refused the message: {e}"))?;
            serde_json::Value::Null
        }
        Request::Call { target, payload, timeout_ms } => {
            let timeout = Duration::from_millis(timeout_ms).min(MAX_CALL_TIMEOUT);
            let response = host
                .call(&target, payload.try_into()?, timeout)
                .await
                .map_err(|e| anyhow::anyhow!("the call to {target} failed: {e}"))?;
            serde_json::json!({ "payload": response.as_ref().map(WirePayload::from) })
        }
        Request::Stop { name } => {
            host.stop(&name).await?;
            serde_json::Value::Null
        }
        Request::Restart { name } => {
            host.restart(&name).await?;
            serde_json::Value::Null
        }
        Request::Upgrade { name, path, grace_ms } => {
            let mut upgrade = airssys_wasm::Upgrade::new(airssys_wasm::Source::File(path.into()));
            if let Some(ms) = grace_ms {
                upgrade = upgrade.grace(Duration::from_millis(ms));
            }
            let done = host.upgrade(&name, upgrade).await?;
            serde_json::json!({
                "from": &*done.from,
                "to": &*done.to,
                "instances": done.instances,
                "handed_over": done.handed_over,
            })
        }
        Request::StoreGet { component, key } => {
            let value = storage(host)?.get(&component, &key).await?;
            match value {
                Some(v) => base64::engine::general_purpose::STANDARD.encode(v).into(),
                None => serde_json::Value::Null,
            }
        }
        Request::StorePut { component, key, base64 } => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(base64)
                .context("the value is not base64")?;
            storage(host)?.set(&component, &key, bytes).await?;
            serde_json::Value::Null
        }
        Request::StoreRm { component, key } => {
            storage(host)?.delete(&component, &key).await?.into()
        }
        Request::StoreLs { component, prefix } => {
            storage(host)?.keys(&component, &prefix).await?.into()
        }
        Request::StoreExport { component } => {
            let mut out = Vec::new();
            storage(host)?.export(&component, &mut out).await?;
            String::from_utf8(out)?.into()
        }
        Request::StoreImport { component, lines } => {
            storage(host)?.import(&component, &lines).await?.into()
        }
        Request::Audit { component, decisions } => {
            let Some(path) = audit else {
                bail!(
                    "this app's audit records go to its logs (`airssys logs`): set [audit] file in its manifest to query them"
                );
            };
            let decisions: Vec<&str> = decisions.iter().map(String::as_str).collect();
            let records = airssys_osl::read_audit(path, component.as_deref(), &decisions)
                .with_context(|| format!("cannot read the audit log {}", path.display()))?;
            records
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "time_ms": r.time_ms, "principal": r.principal, "operation": r.operation,
                        "action": r.action, "resource": r.resource, "decision": r.decision, "rule": r.rule,
                    })
                })
                .collect::<Vec<_>>()
                .into()
        }
        Request::Logs { .. } => serde_json::Value::Null,
    })
}
