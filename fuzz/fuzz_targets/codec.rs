//! Multicodec payload decoding on arbitrary (codec, bytes): the guest SDK's typed decode
//! (run natively), and the CLI's rendering of a response. Decoding fails with a typed error
//! or yields a value that encodes and decodes back to itself; rendering always yields JSON.

#![no_main]

use airssys_wasm_component::{Codec, CodecError, Payload};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    codec: u8,
    other: u64,
    bytes: Vec<u8>,
}

/// A typed request like the SDK calculator's.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Typed {
    Add { a: i64, b: i64 },
    Ask { target: String, a: i64, b: i64 },
    Many { items: Vec<Option<u32>>, blob: serde_bytes_like::Blob },
}

mod serde_bytes_like {
    /// Bytes as a sequence.
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct Blob(pub Vec<u8>);
}

fuzz_target!(|input: Input| {
    let code = match input.codec % 6 {
        0 => 0x55,
        1 => 0x0200,
        2 => 0x51,
        3 => 0x0201,
        4 => 0x50,
        _ => input.other,
    };
    let payload = Payload { codec: code, bytes: input.bytes };
    let known = Codec::from_code(code);
    assert_eq!(known.map(Codec::code), known.is_some().then_some(code));

    // Untyped: a value that re-encodes to itself.
    match payload.decode::<serde_json::Value>() {
        Ok(value) => {
            let codec = known.expect("only a known codec decodes");
            let again = Payload::encode(codec, &value).expect("a decoded value encodes");
            assert_eq!(again.codec, code);
            let back: serde_json::Value = again.decode().expect("an encoded value decodes");
            assert_eq!(back, value, "{codec:?} round trip changed the value");
        }
        Err(CodecError::Unsupported(c)) => {
            assert_eq!(c, code);
            assert!(matches!(known, None | Some(Codec::Raw)));
        }
        Err(CodecError::Decode { codec, reason }) => {
            assert_eq!(Some(codec), known);
            assert!(!reason.is_empty());
        }
        Err(other) => panic!("decode failed with an encode error: {other}"),
    }

    // Typed: the same, into a user type.
    if let Ok(typed) = payload.decode::<Typed>() {
        let codec = known.expect("only a known codec decodes");
        let again = Payload::encode(codec, &typed).expect("a decoded value encodes");
        assert_eq!(again.decode::<Typed>().expect("an encoded value decodes"), typed);
    }

    // The CLI's rendering of a response: JSON, text or base64, never a panic.
    let wire = airssys_wasm::Payload { codec: payload.codec, bytes: payload.bytes.clone() };
    let shown = airssys_wasm_cli::payload::decode(&wire);
    let _ = airssys_wasm_cli::payload::show(&shown);
    let back = airssys_wasm_cli::payload::WirePayload::from(&wire);
    let round = airssys_wasm::Payload::try_from(back).expect("our own base64 decodes");
    assert_eq!(round, wire);

    // Codec names.
    if let Ok(name) = std::str::from_utf8(&payload.bytes) {
        if let Some(c) = airssys_wasm::codec::by_name(name) {
            assert!(Codec::from_code(c).is_some() || c == airssys_wasm::codec::PROTOBUF);
        }
    }
});
