//! Paths of the guest components the tests use, compiled from `guests/` by the build script.
//! Each constant is the absolute path of a `.wasm` component built for `wasm32-wasip2`.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
