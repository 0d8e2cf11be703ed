//! Codecs: serde values to and from payloads tagged with their multicodec code.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Payload;

/// A payload encoding, with its code from the multicodec table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// Raw bytes (0x55): [`Payload::raw`] and [`Payload::text`].
    Raw,
    /// JSON (0x0200).
    Json,
    /// CBOR (0x51).
    Cbor,
    /// MessagePack (0x0201).
    MessagePack,
}

impl Codec {
    /// Its multicodec code.
    pub const fn code(self) -> u32 {
        match self {
            Codec::Raw => 0x55,
            Codec::Json => 0x0200,
            Codec::Cbor => 0x51,
            Codec::MessagePack => 0x0201,
        }
    }

    /// The codec of a multicodec code, if this SDK knows it.
    pub const fn from_code(code: u32) -> Option<Codec> {
        match code {
            0x55 => Some(Codec::Raw),
            0x0200 => Some(Codec::Json),
            0x51 => Some(Codec::Cbor),
            0x0201 => Some(Codec::MessagePack),
            _ => None,
        }
    }
}

/// A value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The payload's codec is not one this SDK decodes (or raw bytes were asked to be a value).
    #[error("cannot decode codec 0x{0:x}: use json, cbor or messagepack")]
    Unsupported(u32),
    /// Encoding failed.
    #[error("cannot encode as {}: {reason}", crate::sentences::codec(codec))]
    Encode {
        /// The codec.
        codec: Codec,
        /// Why.
        reason: String,
    },
    /// Decoding failed: the bytes are not a valid value of the type in that codec.
    #[error("cannot decode {}: {reason}", crate::sentences::codec(codec))]
    Decode {
        /// The codec.
        codec: Codec,
        /// Why.
        reason: String,
    },
}

impl Payload {
    /// Raw bytes.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Payload {
        Payload { codec: Codec::Raw.code(), bytes: bytes.into() }
    }

    /// Text, as raw bytes.
    pub fn text(text: &str) -> Payload {
        Payload::raw(text.as_bytes())
    }

    /// `value` in `codec` (json, cbor or messagepack).
    pub fn encode<T: Serialize + ?Sized>(codec: Codec, value: &T) -> Result<Payload, CodecError> {
        let fail = |reason: String| CodecError::Encode { codec, reason };
        let bytes = match codec {
            Codec::Json => serde_json::to_vec(value).map_err(|e| fail(e.to_string()))?,
            Codec::Cbor => {
                let mut out = Vec::new();
                ciborium::into_writer(value, &mut out).map_err(|e| fail(e.to_string()))?;
                out
            }
            Codec::MessagePack => {
                rmp_serde::to_vec_named(value).map_err(|e| fail(e.to_string()))?
            }
            Codec::Raw => return Err(CodecError::Unsupported(Codec::Raw.code())),
        };
        Ok(Payload { codec: codec.code(), bytes })
    }

    /// `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Payload, CodecError> {
        Payload::encode(Codec::Json, value)
    }

    /// `value` as CBOR.
    pub fn cbor<T: Serialize + ?Sized>(value: &T) -> Result<Payload, CodecError> {
        Payload::encode(Codec::Cbor, value)
    }

    /// `value` as MessagePack.
    pub fn msgpack<T: Serialize + ?Sized>(value: &T) -> Result<Payload, CodecError> {
        Payload::encode(Codec::MessagePack, value)
    }

    /// Its codec, if this SDK knows it.
    pub fn codec(&self) -> Option<Codec> {
        Codec::from_code(self.codec)
    }

    /// A value of type `T`, decoded by the payload's codec.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        let codec = Codec::from_code(self.codec).ok_or(CodecError::Unsupported(self.codec))?;
        let fail = |reason: String| CodecError::Decode { codec, reason };
        match codec {
            Codec::Json => serde_json::from_slice(&self.bytes).map_err(|e| fail(e.to_string())),
            Codec::Cbor => {
                ciborium::from_reader(self.bytes.as_slice()).map_err(|e| fail(e.to_string()))
            }
            Codec::MessagePack => {
                rmp_serde::from_slice(&self.bytes).map_err(|e| fail(e.to_string()))
            }
            Codec::Raw => Err(CodecError::Unsupported(self.codec)),
        }
    }

    /// The bytes as text, if they are UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Point {
        x: i32,
        label: String,
    }

    #[test]
    fn every_codec_round_trips_and_is_tagged() {
        let p = Point { x: -3, label: "here".into() };
        for (codec, code) in
            [(Codec::Json, 0x0200), (Codec::Cbor, 0x51), (Codec::MessagePack, 0x0201)]
        {
            let payload = Payload::encode(codec, &p).unwrap();
            assert_eq!(payload.codec, code);
            assert_eq!(payload.decode::<Point>().unwrap(), p);
        }
        assert_eq!(Payload::json(&p).unwrap().bytes, br#"{"x":-3,"label":"here"}"#);
    }

    #[test]
    fn wrong_bytes_and_unknown_codecs_are_errors() {
        let garbage = Payload { codec: Codec::Cbor.code(), bytes: vec![0xff, 0x00] };
        assert!(matches!(garbage.decode::<Point>(), Err(CodecError::Decode { .. })));
        let unknown = Payload { codec: 0x50, bytes: vec![] };
        assert!(matches!(unknown.decode::<Point>(), Err(CodecError::Unsupported(0x50))));
        assert!(matches!(Payload::text("hi").decode::<Point>(), Err(CodecError::Unsupported(_))));
        assert_eq!(Payload::text("hi").as_text(), Some("hi"));
    }
}
