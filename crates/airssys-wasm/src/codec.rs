//! Multicodec codes (from the official table) for payloads.

/// Raw bytes.
pub const RAW: u64 = 0x55;
/// JSON.
pub const JSON: u64 = 0x0200;
/// CBOR.
pub const CBOR: u64 = 0x51;
/// MessagePack.
pub const MESSAGEPACK: u64 = 0x0201;
/// Protocol Buffers.
pub const PROTOBUF: u64 = 0x50;
