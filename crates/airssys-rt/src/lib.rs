//! # airssys-rt: an Erlang/OTP-style actor runtime on tokio
//!
//! - **Actors** ([`Actor`]) own their state and handle one typed message at a time, with
//!   lifecycle hooks (`started`, `stopping`, `stopped`) and [`Actor::on_error`] to decide what
//!   an error does.
//! - **Messaging**: [`ActorRef::tell`] (fire-and-forget, with backpressure on a bounded
//!   mailbox), [`ActorRef::try_tell`] (never waits), [`ActorRef::tell_dropping`]
//!   (drop newest / drop oldest), and [`ActorRef::ask`] (request-response with a timeout).
//!   Errors hand undelivered messages back.
//! - **Mailboxes** ([`MailboxConfig`]): unbounded or bounded, with a separate lane for system
//!   signals that never waits behind user messages.
//! - **Registry** ([`System::register`], [`System::lookup`]), **pub/sub** ([`PubSub`], with
//!   `*` and `#` patterns) and **timers** ([`ActorRef::send_after`], [`ActorRef::send_interval`]).
//! - **Links and monitors** as in Erlang ([`Context::link`], [`Context::monitor`],
//!   [`Context::trap_exits`]); **stop** (graceful) versus **kill** (immediate); a panic in a
//!   handler crashes only that actor.
//! - **Supervision** ([`supervisor`]): one-for-one, one-for-all, rest-for-one; permanent,
//!   transient, temporary; restart intensity; backoff; ordered start and reverse stop with
//!   shutdown timeouts; nested trees; children added and removed at run time. Restarts happen
//!   in place: the [`ActorRef`] and the queued messages survive.
//! - **Graceful shutdown** of everything with [`System::shutdown`].
//!
//! The full contract is `docs/runtime-semantics.md` in the repository.
//!
//! This crate knows nothing of WebAssembly; `airssys-wasm` builds component actors on it.

#![deny(missing_docs)]

mod actor;
mod actor_ref;
mod cell;
mod context;
mod deadline;
mod error;
mod exit;
mod link_ref;
pub mod mailbox;
mod metrics;
pub mod pubsub;
mod reply;
mod spawn;
pub mod supervisor;
mod sync;
mod system;
mod timer;

pub use actor::{Actor, ErrorAction};
pub use actor_ref::{ActorHandle, ActorRef, PendingAsk, Recipient};
pub use context::Context;
pub use error::{
    AskError, BoxError, RegistryError, SendError, SpawnError, TopicError, TrySendError,
};
pub use exit::{ActorId, Down, ExitReason, ExitSignal, MonitorRef};
pub use link_ref::LinkRef;
pub use mailbox::{Delivery, DropPolicy, MailboxConfig};
pub use metrics::ActorMetrics;
pub use pubsub::{PubSub, PublishReport, SubscriptionId};
pub use reply::Reply;
pub use supervisor::{
    AutoShutdown, Backoff, ChildCounts, ChildInfo, ChildSpec, ChildState, DynamicSpec,
    DynamicSupervisorRef, Restart, Shutdown, Strategy, SupervisorError, SupervisorRef,
    SupervisorSpec,
};
pub use system::{ShutdownReport, SpawnOptions, System};
pub use timer::Timer;
