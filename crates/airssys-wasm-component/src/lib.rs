//! # airssys-wasm-component: the guest SDK
//!
//! This crate will wrap the `airssys:component` WIT bindings for Rust guests built for
//! `wasm32-wasip2`: typed messages with a codec and a macro that leaves only the handlers to
//! write.
//!
//! **Status:** not built yet (tracked by the CLI and SDK issue); it exports nothing today.
