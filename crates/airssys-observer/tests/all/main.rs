//! The observer's integration tests: one binary (as wasmtime's `tests/all`).

mod access;
mod metrics;
mod page;
mod traces;
mod util;
