//! Multicodec codes (from the official table) for payloads.

/// Raw bytes.
pub const RAW: u32 = 0x55;
/// JSON.
pub const JSON: u32 = 0x0200;
/// CBOR.
pub const CBOR: u32 = 0x51;
/// MessagePack.
pub const MESSAGEPACK: u32 = 0x0201;
/// Protocol Buffers.
pub const PROTOBUF: u32 = 0x50;

/// The code of a codec by its name (`raw`, `json`, `cbor`, `messagepack` or `msgpack`,
/// `protobuf`), case-insensitive.
pub fn by_name(name: &str) -> Option<u32> {
    match name.to_ascii_lowercase().as_str() {
        "raw" => Some(RAW),
        "json" => Some(JSON),
        "cbor" => Some(CBOR),
        "messagepack" | "msgpack" => Some(MESSAGEPACK),
        "protobuf" => Some(PROTOBUF),
        _ => None,
    }
}
