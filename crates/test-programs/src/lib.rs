//! Paths of the guest components the tests use, compiled from `guests/` by the build script.
//! Each constant is the absolute path of a `.wasm` component built for `wasm32-wasip2`. And
//! [`nats::NatsServer`], the NATS server the cluster tests and benchmark run against.

pub mod nats;

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
