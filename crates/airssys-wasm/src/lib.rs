//! # airssys-wasm: WebAssembly components as supervised actors
//!
//! The AirsSys host. Each component (a WASI 0.2 component implementing the
//! `airssys:component` world in `wit/`) runs as an `airssys-rt` actor that owns one wasmtime
//! `Store` and one persistent instance, handles its messages one at a time, and is restarted
//! in place by its supervisor when it traps: same address, same mailbox, fresh instance.
//!
//! It has: the engine (pooling allocator with fallback, epoch CPU deadlines that trap a
//! spinning handler and let other actors run meanwhile, opt-in fuel, memory and stack limits,
//! an on-disk cache of compiled components), components and pools of them as actors, `send`,
//! `call`, `request` with `handle-callback`, `cancel`, topic publish/subscribe, and links and
//! monitors between components, with sender stamping, codec and size checks, dead letters,
//! durable per-component [`storage`], and the [`Host`] embedding API: a cheap cloneable handle,
//! native services at addresses ([`ServiceSpec`], [`HostBuilder::service`],
//! [`Host::add_service`]) and host interfaces of the embedder's own ([`HostBuilder::linker`],
//! whose functions get the caller's [`HostState`]). Guest stdout and stderr go into the host's
//! logs. The [`wire`] form of envelopes and a [`transport`] seam carry `send` and `publish` to
//! components on other hosts. Semantics: `docs/components.md`.
//!
//! Security (`docs/security.md`): deny-by-default capability grants for messaging, topics,
//! files, environment, network and commands (run through `airssys-osl`), limits and quotas,
//! one audit log, and signed components; the TOML app manifest (`docs/manifest.md`,
//! [`manifest`]).

#![deny(missing_docs)]

mod actor;
pub mod address;
mod app_grants;
mod audit;
mod bindings;
mod cache;
mod capability;
pub mod codec;
mod compute_slots;
mod contract_v0_1;
mod cpu_budget;
mod engine;
mod envelope;
mod error;
mod footprint;
mod fs_audit;
mod granted_dir;
mod guest;
mod handle_limit;
mod host;
mod http_codec;
pub mod inspect;
mod keyvalue;
mod limiter;
pub mod manifest;
mod outgoing;
mod output;
mod preopens;
mod process;
mod protected;
mod remote;
mod router;
mod service;
pub mod spans;
mod start_progress;
mod state;
pub mod storage;
mod sync;
mod topics;
pub mod trace;
pub mod transport;
pub mod trust;
pub mod types;
pub mod untrusted_file;
mod upgrade;
pub mod vitals;
mod wasi_shadow;
pub mod wire;

pub use actor::{DeadLetter, DeadLetterSummary};
/// A component's restart type ([`ComponentSpec::restart`]), as OTP's.
pub use airssys_rt::Restart;
pub use capability::{Grants, RateLimit};
pub use engine::{EPOCH_TICK, EngineConfig, MemoryLayout};
pub use error::{BoxError, HostError};
pub use host::{
    ComponentDescription, ComponentInfo, ComponentSpec, ComponentState, DEFAULT_HTTP_LISTEN,
    DEFAULT_UPGRADE_GRACE, HOST_ADDRESS, Host, HostBuilder, HttpRoute, Source, Supervision,
    TreeChild, Upgrade, Upgraded,
};
pub use outgoing::HttpClientLimits;
pub use output::OutputLimit;
pub use process::CommandGrant;
pub use service::{Service, ServiceResult, ServiceSpec};
pub use start_progress::StartProgress;
pub use state::HostState;
pub use types::{Message, Payload, RequestError, SendError, TopicError};
