//! # airssys-wasm: WebAssembly components as supervised actors
//!
//! This crate will hold the AirsSys host: the wasmtime engine, the WIT contract
//! (`airssys:component`), components running as `airssys-rt` actors, messaging between them
//! (fire-and-forget, request-response, pub/sub) with multicodec payloads, capability security,
//! resource limits and per-component storage.
//!
//! **Status:** not built yet (tracked by the airssys-wasm spine issue). It exports nothing
//! today, so nothing can be mistaken for a working host.
