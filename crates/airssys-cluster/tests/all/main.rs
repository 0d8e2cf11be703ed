//! The cluster crate's integration tests: hosts joined through a real `nats-server` (started
//! per test on a loopback port, with JetStream), running real guests.

mod fixture;
mod messaging;
mod registry;
mod storage;
