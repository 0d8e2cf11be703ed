//! The codec between HTTP and messages: an HTTP request (an envelope's `Delivery::Http`)
//! as a message for a component of our own world, and that component's answer as the
//! response (documented in `docs/http.md`); and the host's own plain responses.
//!
//! The request, as a JSON message (codec `json`), from the sender `http`:
//! `{"method": "POST", "path": "/api/x", "query": "a=1", "headers": [["name", "value"], ...],
//! "body": "text"}`, with `"body_base64"` instead of `"body"` when the body is not UTF-8.
//!
//! The answer is the response:
//! - none: `204 No Content`;
//! - a JSON object whose keys are `status` (a number) and some of `headers` (a list of pairs),
//!   `body` (text) and `body_base64`: that status, those headers, that body;
//! - any other payload: `200`, with the payload's bytes as the body and its codec as the
//!   `content-type` (`application/json`, `application/cbor`, `application/msgpack`,
//!   `application/x-protobuf`, else `application/octet-stream`);
//! - a handler error: `500`, with the error's text.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::envelope::{HttpExchange, HttpResponse};
use crate::types::{Payload, RequestError};

/// The sender a message made from an HTTP request comes from.
pub(crate) const SENDER: &str = "http";

/// A body of bytes, as hyper and wasmtime-wasi-http take it.
pub(crate) fn body(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    http_body_util::Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

/// A plain-text response.
pub(crate) fn text(status: u16, text: impl Into<String>) -> HttpResponse {
    let mut response = hyper::Response::new(body(text.into()));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[derive(serde::Serialize)]
struct RequestMessage<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: Vec<(&'a str, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseMessage {
    status: u16,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
}

/// The request as a message payload (the codec above).
pub(crate) fn request_message(exchange: &HttpExchange) -> Payload {
    let request = &exchange.request;
    let text = std::str::from_utf8(request.body()).ok();
    let message = RequestMessage {
        method: request.method().as_str(),
        path: request.uri().path(),
        query: request.uri().query().unwrap_or(""),
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| {
                (name.as_str(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect(),
        body: text,
        body_base64: match text {
            Some(_) => None,
            None => Some(base64::engine::general_purpose::STANDARD.encode(request.body())),
        },
    };
    // Serializing strings and lists of strings cannot fail.
    let bytes = serde_json::to_vec(&message).unwrap_or_default();
    Payload { codec: crate::codec::JSON, bytes }
}

/// The response a component's answer stands for (the codec above).
pub(crate) fn response_of(answer: Result<Option<Payload>, RequestError>) -> HttpResponse {
    let payload = match answer {
        Ok(None) => {
            let mut response = hyper::Response::new(body(Bytes::new()));
            *response.status_mut() = http::StatusCode::NO_CONTENT;
            return response;
        }
        Ok(Some(payload)) => payload,
        Err(RequestError::HandlerError(e)) => return text(500, e),
        Err(RequestError::ReceiverCrashed(e)) => {
            return text(500, format!("the component crashed: {e}"));
        }
        Err(other) => return text(503, other.to_string()),
    };
    if payload.codec == crate::codec::JSON
        && let Ok(shaped) = serde_json::from_slice::<ResponseMessage>(&payload.bytes)
    {
        return shaped_response(shaped);
    }
    let content_type = match payload.codec {
        crate::codec::JSON => "application/json",
        crate::codec::CBOR => "application/cbor",
        crate::codec::MESSAGEPACK => "application/msgpack",
        crate::codec::PROTOBUF => "application/x-protobuf",
        _ => "application/octet-stream",
    };
    let mut response = hyper::Response::new(body(payload.bytes));
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response
}

fn shaped_response(shaped: ResponseMessage) -> HttpResponse {
    let bytes = match (shaped.body, shaped.body_base64) {
        (Some(text), None) => Bytes::from(text),
        (None, Some(b64)) => match base64::engine::general_purpose::STANDARD.decode(b64) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => return text(500, format!("the component's response has bad base64: {e}")),
        },
        (None, None) => Bytes::new(),
        (Some(_), Some(_)) => {
            return text(500, "the component's response has both `body` and `body_base64`");
        }
    };
    let Ok(status) = http::StatusCode::from_u16(shaped.status) else {
        return text(500, format!("the component's response has a bad status: {}", shaped.status));
    };
    let mut response = hyper::Response::new(body(bytes));
    *response.status_mut() = status;
    for (name, value) in shaped.headers {
        let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(name.as_str()),
            http::HeaderValue::try_from(value.as_str()),
        ) else {
            return text(500, format!("the component's response has a bad header: {name:?}"));
        };
        if wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(&name) {
            continue;
        }
        response.headers_mut().append(name, value);
    }
    response
}

/// The sender of HTTP messages, as the router takes it.
pub(crate) fn sender() -> Arc<str> {
    Arc::from(SENDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(body: &'static [u8]) -> HttpExchange {
        let request = http::Request::post("/api/x?a=1")
            .header("x-one", "1")
            .body(Bytes::from_static(body))
            .unwrap();
        let (respond, _) = tokio::sync::oneshot::channel();
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        HttpExchange {
            request,
            respond,
            limit: std::time::Duration::from_secs(1),
            stall: Arc::new(crate::envelope::HttpStall::new(Arc::new(tokio::sync::Notify::new()))),
            queued: crate::envelope::Queued::reserve(&counter, 0, 1).unwrap(),
        }
    }

    #[test]
    fn requests_become_json_messages() {
        let m = request_message(&exchange(b"hi"));
        let v: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
        assert_eq!(v["method"], "POST");
        assert_eq!(v["path"], "/api/x");
        assert_eq!(v["query"], "a=1");
        assert_eq!(v["headers"][0], serde_json::json!(["x-one", "1"]));
        assert_eq!(v["body"], "hi");
        let m = request_message(&exchange(b"\xff\x00"));
        let v: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
        assert_eq!(v["body_base64"], "/wA=");
        assert!(v.get("body").is_none());
    }

    #[test]
    fn answers_become_responses() {
        assert_eq!(response_of(Ok(None)).status(), 204);
        let json = |s: &str| Ok(Some(Payload { codec: crate::codec::JSON, bytes: s.into() }));
        let r = response_of(json(r#"{"status":201,"headers":[["x-a","b"]],"body":"made"}"#));
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-a"], "b");
        let r = response_of(json(r#"{"status":201,"other":1}"#));
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        let r = response_of(json(r#"{"status":1000}"#));
        assert_eq!(r.status(), 500);
        let r = response_of(Err(RequestError::HandlerError("nope".into())));
        assert_eq!(r.status(), 500);
        let raw = Ok(Some(Payload { codec: crate::codec::RAW, bytes: b"x".to_vec() }));
        assert_eq!(response_of(raw).headers()["content-type"], "application/octet-stream");
    }
}
