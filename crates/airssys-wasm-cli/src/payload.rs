//! Payloads on the command line: typed in as text (JSON for the structured codecs), sent with
//! the right multicodec code, and responses shown back as JSON or text.

use airssys_wasm::{Payload, codec};
use anyhow::Context;
use base64::Engine as _;

/// The codec a payload is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodecArg {
    /// The bytes as given.
    Raw,
    /// JSON (checked).
    Json,
    /// CBOR, from the JSON given.
    Cbor,
    /// MessagePack, from the JSON given.
    Msgpack,
}

/// `input` as a payload in `codec`.
pub fn encode(codec_arg: CodecArg, input: &[u8]) -> anyhow::Result<Payload> {
    let value = || -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(input)
            .context("the payload is not valid JSON (use --codec raw to send bytes as they are)")
    };
    Ok(match codec_arg {
        CodecArg::Raw => Payload { codec: codec::RAW, bytes: input.to_vec() },
        CodecArg::Json => Payload { codec: codec::JSON, bytes: serde_json::to_vec(&value()?)? },
        CodecArg::Cbor => {
            let mut bytes = Vec::new();
            ciborium::into_writer(&value()?, &mut bytes)?;
            Payload { codec: codec::CBOR, bytes }
        }
        CodecArg::Msgpack => {
            Payload { codec: codec::MESSAGEPACK, bytes: rmp_serde::to_vec_named(&value()?)? }
        }
    })
}

/// A payload shown: JSON for the structured codecs, text for UTF-8 bytes, base64 otherwise.
pub fn decode(payload: &Payload) -> serde_json::Value {
    let structured = match payload.codec {
        codec::JSON => serde_json::from_slice(&payload.bytes).ok(),
        codec::CBOR => ciborium::from_reader(payload.bytes.as_slice()).ok(),
        codec::MESSAGEPACK => rmp_serde::from_slice(&payload.bytes).ok(),
        _ => None,
    };
    match structured {
        Some(value) => value,
        None => match std::str::from_utf8(&payload.bytes) {
            Ok(text) => serde_json::Value::String(text.to_owned()),
            Err(_) => serde_json::json!({
                "base64": base64::engine::general_purpose::STANDARD.encode(&payload.bytes)
            }),
        },
    }
}

/// A response as text mode prints it: a string as itself, nothing as a note, JSON pretty.
pub fn show(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "(no response payload)".into(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    }
}

/// A payload on the control socket: its codec and its bytes in base64.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WirePayload {
    /// Its multicodec code.
    pub codec: u32,
    /// Its bytes, in base64.
    pub base64: String,
}

impl From<&Payload> for WirePayload {
    fn from(p: &Payload) -> Self {
        WirePayload {
            codec: p.codec,
            base64: base64::engine::general_purpose::STANDARD.encode(&p.bytes),
        }
    }
}

impl TryFrom<WirePayload> for Payload {
    type Error = anyhow::Error;
    fn try_from(w: WirePayload) -> anyhow::Result<Payload> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(w.base64)
            .context("the payload is not base64")?;
        Ok(Payload { codec: w.codec, bytes })
    }
}
