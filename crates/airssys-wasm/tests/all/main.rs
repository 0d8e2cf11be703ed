//! airssys-wasm end-to-end tests: real guest components compiled from source
//! (`test-programs`), real wasmtime, real actors.

mod chaos; // random crashes, limit hits, stops and restarts under request load
mod contract; // the contract versions served side by side; correlation and trace context
mod crash_safety; // SIGKILL of the host process mid-load, then a restart from its data
mod engine; // artifact cache, fuel, memory and stack limits, foreign inputs
mod fuzz_inputs; // property-test twins of the fuzz targets: manifest, message fields, storage
mod http; // wasi:http/proxy components over loopback HTTP, outgoing grants, wasi:keyvalue
mod isolation_cache_trust; // threats: artifact cache, protected host files, trust, odd files
mod isolation_grants; // threats: grants hold against symlink swaps and cross-component writes
mod isolation_limits; // threats: memory, subscriptions, open files, mailbox bytes, output, storage
mod isolation_supervision; // threats: slow init, forged log lines, response limits, crash loops
mod languages; // Python and JavaScript guests: the same end-to-end checks as Rust ones
mod layout; // ARCHITECTURE.md's rules of the repository: dependencies, stdout, errors, modules
mod limits; // CPU deadline and memory limit
mod links; // links and monitors between components
mod manifest; // the app manifest: parsing, errors, schema
mod messaging; // send, call, request, stamping, refusals
mod pubsub; // publish and subscribe between components
mod sdk; // components written with the guest SDK
mod security; // capabilities: targets, senders, topics, rate, pending requests, commands, files
mod services; // native services at addresses; the host as a shared handle
mod soak; // steady mixed traffic: memory, files, pending requests and audit stay flat
mod storage; // durable per-component storage
mod supervision; // traps, restarts, dead letters
mod transport; // two hosts joined by a loopback transport carrying the wire form
mod upgrade; // hot code upgrade: hand-over, rollback, refusals, pools
mod util; // shared helpers
