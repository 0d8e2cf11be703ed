//! The values of the contract's `types` interface (`airssys:component/types` in
//! `wit/airssys.wit`), as this crate's own Rust types.
//!
//! They are what the host's API takes and gives (a [`Payload`] to send, the [`SendError`] of
//! a refusal), and what the generated bindings use for the same WIT types (the bindings map
//! the interface here with `bindgen!`'s `with`), so that no generated type is part of the
//! public API. The derives check at compile time that each type matches its WIT definition.

use wasmtime::component::{ComponentType, Lift, Lower};

/// The address of a component (its name, or `name/i` for a pool member), or `host`.
pub(crate) type Address = String;
/// Identifies one request among those its requester made.
pub(crate) type CorrelationId = u64;
/// Identifies one monitor among those its monitoring instance made.
pub(crate) type MonitorId = u64;

/// Bytes and the codec that says what they are.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub struct Payload {
    /// A multicodec code (see [`codec`](crate::codec)).
    #[component(name = "codec")]
    pub codec: u32,
    /// The bytes.
    #[component(name = "bytes")]
    pub bytes: Vec<u8>,
}

impl Payload {
    /// A payload of `bytes` in `codec`.
    pub fn new(codec: u32, bytes: impl Into<Vec<u8>>) -> Self {
        Payload { codec, bytes: bytes.into() }
    }
}

/// A message as its receiver sees it (a component's `handle-message`, a native
/// [`Service`](crate::Service)).
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub struct Message {
    /// The true sender, stamped by its host.
    #[component(name = "sender")]
    pub sender: String,
    /// What it carries.
    #[component(name = "payload")]
    pub payload: Payload,
    /// Set when the sender waits for a response: the id its host gave the request.
    #[component(name = "correlation")]
    pub correlation: Option<u64>,
    /// Set when the message was published: its topic.
    #[component(name = "topic")]
    pub topic: Option<String>,
    /// The W3C `traceparent` of the trace it belongs to, if any.
    #[component(name = "trace")]
    pub trace: Option<String>,
}

/// Why a message was not queued.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[component(variant)]
pub enum SendError {
    /// No component (or service) has this address.
    #[error("no component has the address {0:?}")]
    #[component(name = "unknown-target")]
    UnknownTarget(String),
    /// The target's mailbox is full.
    #[error("the target's mailbox is full")]
    #[component(name = "mailbox-full")]
    MailboxFull,
    /// The payload is larger than the limit (in bytes).
    #[error("the payload is larger than the limit of {0} bytes")]
    #[component(name = "payload-too-large")]
    PayloadTooLarge(u64),
    /// The target does not accept this codec; these are the codecs it accepts.
    #[error("the target does not accept this codec; it accepts {}", codecs(.0))]
    #[component(name = "codec-not-accepted")]
    CodecNotAccepted(Vec<u32>),
    /// The sender's grants do not allow this, or the target does not accept messages from
    /// the sender.
    #[error("not permitted")]
    #[component(name = "not-permitted")]
    NotPermitted,
    /// The sender is over its message rate.
    #[error("the sender is over its message rate")]
    #[component(name = "rate-limited")]
    RateLimited,
    /// The sender has as many requests pending as it may.
    #[error("the sender has as many requests pending as it may")]
    #[component(name = "too-many-requests")]
    TooManyRequests,
    /// The target is stopping or has stopped.
    #[error("the target is stopping or has stopped")]
    #[component(name = "target-stopped")]
    TargetStopped,
    /// The host does not support the operation; the text says which.
    #[error("not supported: {0}")]
    #[component(name = "not-supported")]
    NotSupported(String),
}

/// Multicodec codes as a reader knows them: `0x0200, 0x51`.
fn codecs(list: &[u32]) -> String {
    let codes: Vec<String> = list.iter().map(|c| format!("0x{c:02x}")).collect();
    codes.join(", ")
}

/// Why a publish, subscribe or unsubscribe failed.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[component(variant)]
pub enum TopicError {
    /// The topic or pattern is malformed; the text says why.
    #[error("invalid topic: {0}")]
    #[component(name = "invalid")]
    Invalid(String),
    /// The grants do not allow it.
    #[error("not permitted")]
    #[component(name = "not-permitted")]
    NotPermitted,
    /// The instance holds as many subscriptions as it may (the limit).
    #[error("as many subscriptions as allowed ({0}) are held")]
    #[component(name = "too-many-subscriptions")]
    TooManySubscriptions(u32),
    /// The publisher is over its message rate.
    #[error("the publisher is over its message rate")]
    #[component(name = "rate-limited")]
    RateLimited,
}

/// Why a request or call produced no response.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[component(variant)]
pub enum RequestError {
    /// It was never queued, or its response did not fit the requester's own limits.
    #[error("refused: {0}")]
    #[component(name = "refused")]
    Refused(#[source] SendError),
    /// No response within the timeout.
    #[error("no response within the timeout")]
    #[component(name = "timeout")]
    Timeout,
    /// The receiver crashed while handling it; the crash reason.
    #[error("the receiver crashed: {0}")]
    #[component(name = "receiver-crashed")]
    ReceiverCrashed(String),
    /// The receiver's handler returned an error; its text.
    #[error("the handler returned an error: {0}")]
    #[component(name = "handler-error")]
    HandlerError(String),
}

/// How a linked or monitored component ended, as a guest reads it.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(variant)]
pub(crate) enum ExitReason {
    #[component(name = "normal")]
    Normal,
    #[component(name = "shutdown")]
    Shutdown,
    #[component(name = "killed")]
    Killed,
    #[component(name = "no-such-component")]
    NoSuchComponent,
    #[component(name = "crashed")]
    Crashed(String),
}

/// A monitored component ended.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub(crate) struct DownNotice {
    #[component(name = "monitor")]
    pub(crate) monitor: u64,
    #[component(name = "target")]
    pub(crate) target: String,
    #[component(name = "reason")]
    pub(crate) reason: ExitReason,
}

/// A linked component ended (to an instance that traps exits).
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(record)]
pub(crate) struct ExitNotice {
    #[component(name = "partner")]
    pub(crate) partner: String,
    #[component(name = "reason")]
    pub(crate) reason: ExitReason,
}

/// What `handle-notice` gets.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(variant)]
pub(crate) enum Notice {
    #[component(name = "down")]
    Down(DownNotice),
    #[component(name = "exit")]
    Exit(ExitNotice),
}

// The linker side of the interface, as the bindings expect it of a mapped interface: it has
// no functions, so there is nothing to add to a linker.

/// What a store's data must be to serve the interface.
pub(crate) trait HostWithStore<T>: wasmtime::component::HasData + Send {}

impl<H: ?Sized, T> HostWithStore<T> for H where H: wasmtime::component::HasData + Send {}

/// The host side of the interface: no functions.
pub(crate) trait Host: Send {}

impl<H: Host + ?Sized + Send> Host for &mut H {}

/// Add the interface to a linker: nothing to add.
pub(crate) fn add_to_linker<T, D>(
    _linker: &mut wasmtime::component::Linker<T>,
    _host_getter: fn(&mut T) -> D::Data<'_>,
) -> wasmtime::Result<()>
where
    D: HostWithStore<T>,
    for<'a> D::Data<'a>: Host,
    T: 'static + Send,
{
    Ok(())
}
