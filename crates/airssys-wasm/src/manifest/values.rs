//! Values with units: sizes (`"64MiB"`), durations (`"250ms"`), codecs (`"json"`).

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// A size in bytes, written as a number of bytes or a string with a unit (`"64MiB"`,
/// `"512 KiB"`, `"1GB"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "SizeSchema")]
pub struct ByteSize(pub u64);

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "only its schema is used")]
enum SizeSchema {
    /// Bytes.
    Bytes(u64),
    /// A number and a unit: B, KB, KiB, MB, MiB, GB, GiB.
    Text(String),
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a size: a number of bytes or a string such as \"64MiB\"",
            )
        })? {
            Raw::Bytes(n) => Ok(ByteSize(n)),
            Raw::Text(text) => {
                text.trim().parse::<bytesize::ByteSize>().map(|b| ByteSize(b.as_u64())).map_err(
                    |e| {
                        serde::de::Error::custom(format!(
                            "invalid size {text:?}: {e}; expected e.g. \"64MiB\""
                        ))
                    },
                )
            }
        }
    }
}

/// A duration, written as a string with units (`"250ms"`, `"10s"`, `"1m 30s"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct Duration(pub std::time::Duration);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a duration string such as \"250ms\"")
        })?;
        humantime::parse_duration(text.trim()).map(Duration).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?}: {e}; expected e.g. \"250ms\""
            ))
        })
    }
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum CodecSchema {
    /// A multicodec code.
    Code(u64),
    /// A name.
    Name(CodecName),
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum CodecName {
    Raw,
    Json,
    Cbor,
    Messagepack,
    Protobuf,
}

impl<'de> Deserialize<'de> for super::Codec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Code(u32),
            Name(String),
        }
        let expected = "expected a codec: raw, json, cbor, messagepack, protobuf, or a multicodec code (at most 32 bits)";
        match Raw::deserialize(d).map_err(|_| serde::de::Error::custom(expected))? {
            Raw::Code(code) => Ok(super::Codec(code)),
            Raw::Name(name) => crate::codec::by_name(&name).map(super::Codec).ok_or_else(|| {
                serde::de::Error::custom(format!("unknown codec {name:?}; {expected}"))
            }),
        }
    }
}
