//! What the page can do to a component: describe it, restart it, stop it, upgrade it, send
//! it a test message. Each answers JSON: what happened, or `{"error": ...}` with a 4xx/5xx.

use std::path::PathBuf;

use airssys_wasm::{HostError, Payload, Source, Upgrade};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::server::App;
use crate::snapshot::component_of;

fn failed(status: StatusCode, error: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": error.to_string() }))).into_response()
}

fn host_failed(e: &HostError) -> Response {
    let status = match e {
        HostError::NotFound(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    failed(status, e)
}

pub(crate) async fn describe(State(app): State<App>, Path(address): Path<String>) -> Response {
    match app.host.describe(&address).await {
        Some(d) => Json(json!({
            "address": address,
            "component": &*d.name,
            "grants": d.grants,
            "config": d.config,
            "recent_output": d.recent_output,
            "storage": d.storage.map(|u| json!({ "bytes": u.bytes, "keys": u.keys })),
            "storage_quota": d.storage_quota.map(|q| json!({ "bytes": q.bytes, "keys": q.keys })),
        }))
        .into_response(),
        None => failed(StatusCode::NOT_FOUND, format!("no component at {address}")),
    }
}

/// Restart the component (a pool member: its whole pool) from its spec.
pub(crate) async fn restart(State(app): State<App>, Path(address): Path<String>) -> Response {
    let name = component_of(&address);
    tracing::info!(component = name, "restart asked from the observer");
    match app.host.restart(name).await {
        Ok(()) => Json(json!({ "restarted": name })).into_response(),
        Err(e) => host_failed(&e),
    }
}

/// Stop and remove the component (a pool member: its whole pool).
pub(crate) async fn stop(State(app): State<App>, Path(address): Path<String>) -> Response {
    let name = component_of(&address);
    tracing::info!(component = name, "stop asked from the observer");
    match app.host.stop(name).await {
        Ok(()) => Json(json!({ "stopped": name })).into_response(),
        Err(e) => host_failed(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendBody {
    /// `json` (the default) or `raw`.
    #[serde(default)]
    codec: Option<String>,
    /// The message, as text.
    text: String,
}

/// Send a test message from the address `host`.
pub(crate) async fn send(
    State(app): State<App>,
    Path(address): Path<String>,
    Json(body): Json<SendBody>,
) -> Response {
    let codec = match body.codec.as_deref().unwrap_or("json") {
        "json" => {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&body.text) {
                return failed(StatusCode::BAD_REQUEST, format!("not JSON: {e}"));
            }
            airssys_wasm::codec::JSON
        }
        "raw" => airssys_wasm::codec::RAW,
        other => {
            return failed(
                StatusCode::BAD_REQUEST,
                format!("unknown codec {other:?}: json or raw"),
            );
        }
    };
    let payload = Payload { codec, bytes: body.text.into_bytes() };
    match app.host.send(&address, payload) {
        Ok(()) => Json(json!({ "sent": address })).into_response(),
        Err(e) => failed(StatusCode::UNPROCESSABLE_ENTITY, format!("not sent: {e}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpgradeBody {
    /// The new code: a component file on the host's machine.
    file: PathBuf,
}

/// Upgrade the component in place to the code in a file (checked as `airssys upgrade` is).
pub(crate) async fn upgrade(
    State(app): State<App>,
    Path(address): Path<String>,
    Json(body): Json<UpgradeBody>,
) -> Response {
    let name = component_of(&address);
    tracing::info!(component = name, file = %body.file.display(), "upgrade asked from the observer");
    match app.host.upgrade(name, Upgrade::new(Source::File(body.file))).await {
        Ok(u) => Json(json!({
            "upgraded": name,
            "from": &*u.from,
            "to": &*u.to,
            "instances": u.instances,
            "handed_over": u.handed_over,
        }))
        .into_response(),
        Err(e) => host_failed(&e),
    }
}
