//! What a mailbox carries: the envelope of a message to a component or a native service, its
//! payload as it waits (shared between subscribers), the bytes it holds against its mailbox,
//! and [`Mailbox`], the one way the router hands an envelope to an actor of either kind
//! without knowing which.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use airssys_rt::{Actor, ActorHandle, ActorRef, AskError, PendingAsk, Reply, TrySendError};

use crate::types::{Message, Payload, RequestError};

/// The outcome of a request or call: the response, or why there is none.
pub(crate) type Answer = Result<Option<Payload>, RequestError>;

/// A payload as it waits in mailboxes: its bytes are shared, not copied, by every subscriber
/// a publish reaches.
#[derive(Debug, Clone)]
pub(crate) struct SharedPayload {
    pub(crate) codec: u32,
    pub(crate) bytes: bytes::Bytes,
}

impl From<Payload> for SharedPayload {
    fn from(p: Payload) -> Self {
        SharedPayload { codec: p.codec, bytes: p.bytes.into() }
    }
}

impl From<SharedPayload> for Payload {
    /// Without a copy when the bytes are not shared (a `send`, a request, the last
    /// subscriber of a publish to handle it).
    fn from(p: SharedPayload) -> Self {
        Payload { codec: p.codec, bytes: p.bytes.into() }
    }
}

/// What a component's mailbox carries.
pub(crate) struct Envelope(pub(crate) Delivery);

/// What an envelope delivers: a message, the order to start, or the outcome of a request.
pub(crate) enum Delivery {
    /// A message for `handle-message`.
    Message {
        sender: Arc<str>,
        /// Its codec and bytes: shared by every subscriber of a publish, copied out only
        /// for the guest (and not at all when this envelope holds the only reference).
        payload: SharedPayload,
        /// Set for a call or request: where the response goes.
        reply: Option<Reply<Result<Option<Payload>, RequestError>>>,
        /// Set for a call or request: its id among its requester's.
        correlation: Option<u64>,
        /// Set for a published message.
        topic: Option<Arc<str>>,
        /// The trace it belongs to.
        trace: Option<crate::trace::TraceContext>,
        /// Its bytes, counted against the mailbox until it is taken out.
        queued: Queued,
    },
    /// Instantiate and `init` the instance now, if it has not been yet (the first envelope
    /// an incarnation queues for itself; any other message that comes first does it too).
    Start,
    /// Carry out the code upgrade its code slot holds (`upgrade.rs`), between the message
    /// before this envelope and the one after it.
    Upgrade,
    /// An HTTP request from an `[[http]]` route: for a `wasi:http/proxy` component's
    /// `incoming-handler`, or, as a message, for a component of our own world.
    Http(HttpExchange),
    /// The outcome of a request this component made, for `handle-callback`.
    Callback {
        id: u64,
        outcome: Result<Option<Payload>, RequestError>,
        /// The instance that made the request: a callback queued for an instance that has
        /// since crashed is dropped, not handed to its successor (which never knew the id).
        instance: std::sync::Weak<PendingRequests>,
        /// The span that made the request: the callback's handler runs in a child of it.
        trace: Option<crate::trace::TraceContext>,
    },
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Delivery::Message { sender, payload, .. } => f
                .debug_struct("Message")
                .field("sender", sender)
                .field("codec", &payload.codec)
                .field("len", &payload.bytes.len())
                .finish(),
            Delivery::Callback { id, .. } => f.debug_struct("Callback").field("id", id).finish(),
            Delivery::Http(exchange) => f
                .debug_struct("Http")
                .field("method", exchange.request.method())
                .field("path", &exchange.request.uri().path())
                .finish(),
            Delivery::Start => f.write_str("Start"),
            Delivery::Upgrade => f.write_str("Upgrade"),
        }
    }
}

/// A response on its way back to an HTTP client.
pub(crate) type HttpResponse = hyper::Response<wasmtime_wasi_http::p2::body::HyperOutgoingBody>;

/// Where a component's HTTP response goes: set once, by the guest's `response-outparam.set`
/// or by the codec (`http_codec.rs`). Dropped unset (the instance crashed), the client gets a
/// `500`.
pub(crate) type Respond = tokio::sync::oneshot::Sender<
    Result<HttpResponse, wasmtime_wasi_http::p2::bindings::http::types::ErrorCode>,
>;

/// An HTTP request for a component (`host/http.rs`): read whole (so that a slow client
/// never holds an instance), with its time limit and the watch on its response body.
pub(crate) struct HttpExchange {
    pub(crate) request: http::Request<bytes::Bytes>,
    pub(crate) respond: Respond,
    /// How long the handler may take to its response's head, and then between two parts
    /// of its body (the route's timeout).
    pub(crate) limit: Duration,
    /// The response body's progress, and the way to end a response that stalls.
    pub(crate) stall: Arc<HttpStall>,
    /// Its body's bytes, counted against the mailbox until it is taken out.
    pub(crate) queued: Queued,
}

/// When an HTTP response body last moved, and how to end its connection when it stops
/// moving (a client that stops reading, a handler that stops writing): the guest's next
/// write then fails, instead of the guest waiting on it for ever.
pub(crate) struct HttpStall {
    arrived: tokio::time::Instant,
    /// Milliseconds after `arrived` at which the body last moved.
    moved: AtomicU64,
    /// Ends the connection the response goes out on.
    abort: Arc<tokio::sync::Notify>,
}

impl HttpStall {
    pub(crate) fn new(abort: Arc<tokio::sync::Notify>) -> Self {
        HttpStall { arrived: tokio::time::Instant::now(), moved: AtomicU64::new(0), abort }
    }

    /// The body moved now.
    pub(crate) fn moved(&self) {
        let ms = self.arrived.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        self.moved.store(ms, Ordering::Relaxed);
    }

    /// When the body last moved (the request's arrival if it never did).
    pub(crate) fn last_moved(&self) -> tokio::time::Instant {
        self.arrived + Duration::from_millis(self.moved.load(Ordering::Relaxed))
    }

    /// End the response's connection.
    pub(crate) fn abort(&self) {
        self.abort.notify_one();
    }
}

/// Payload bytes counted against a mailbox while their message waits in it; given back when
/// the message is taken out to be handled, or dropped.
pub(crate) struct Queued {
    bytes: usize,
    counter: Arc<AtomicUsize>,
}

impl Queued {
    /// Count `bytes` more in `counter`, unless that goes past `limit`.
    pub(crate) fn reserve(
        counter: &Arc<AtomicUsize>,
        bytes: usize,
        limit: usize,
    ) -> Option<Queued> {
        let before = counter.fetch_add(bytes, Ordering::AcqRel);
        if before.saturating_add(bytes) > limit {
            counter.fetch_sub(bytes, Ordering::AcqRel);
            return None;
        }
        Some(Queued { bytes, counter: Arc::clone(counter) })
    }
}

impl Queued {
    /// Nothing counted (for an envelope no longer in a mailbox).
    pub(crate) fn none() -> Queued {
        Queued { bytes: 0, counter: Arc::new(AtomicUsize::new(0)) }
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// The ids of one instance's requests still waiting for their outcome. An outcome is
/// delivered only if it takes its id out of this set first (`cancel` takes it out too, so
/// exactly one of the two wins). A callback names the instance that made its request by a
/// weak reference to this set (which also keeps its address from being reused), so that a
/// later instance never gets an earlier one's callback.
pub(crate) type PendingRequests = std::sync::Mutex<std::collections::HashSet<u64>>;

/// A message as its receiver sees it (the WIT `message`, for a guest or a service): the
/// payload's bytes are copied out only if they are still shared.
pub(crate) fn received(
    sender: &str,
    payload: SharedPayload,
    correlation: Option<u64>,
    topic: Option<&str>,
    trace: Option<&crate::trace::TraceContext>,
) -> Message {
    Message {
        sender: sender.to_owned(),
        payload: payload.into(),
        correlation,
        topic: topic.map(str::to_owned),
        trace: trace.map(ToString::to_string),
    }
}

/// Makes the envelope of a request around the slot its answer goes to.
pub(crate) type MakeRequest = Box<dyn FnOnce(Reply<Answer>) -> Envelope + Send>;

/// The mailbox of an actor that takes envelopes (a component's or a native service's): what
/// the router delivers to. Implemented for every such [`ActorRef`], so that the router,
/// below the actors, need not know their types.
pub(crate) trait Mailbox: Send + Sync + std::fmt::Debug {
    /// False once the actor is gone for good.
    fn is_alive(&self) -> bool;
    /// Its untyped handle (to link to or monitor).
    fn handle(&self) -> ActorHandle;
    /// Queue `envelope` now, or hand it back.
    #[allow(clippy::result_large_err, reason = "the actor reference's own error, given back")]
    fn try_tell(&self, envelope: Envelope) -> Result<(), TrySendError<Envelope>>;
    /// Queue a request now (or hand it back); its answer comes through the [`PendingAsk`].
    #[allow(clippy::result_large_err, reason = "the actor reference's own error, given back")]
    fn try_ask(
        &self,
        make: MakeRequest,
        timeout: Duration,
    ) -> Result<PendingAsk<Answer>, TrySendError<Envelope>>;
    /// A request that waits for mailbox room, then for its answer.
    fn ask(
        &self,
        make: MakeRequest,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Answer, AskError>> + Send + '_>>;
}

impl<A: Actor<Msg = Envelope>> Mailbox for ActorRef<A> {
    fn is_alive(&self) -> bool {
        ActorRef::is_alive(self)
    }

    fn handle(&self) -> ActorHandle {
        ActorRef::handle(self)
    }

    fn try_tell(&self, envelope: Envelope) -> Result<(), TrySendError<Envelope>> {
        ActorRef::try_tell(self, envelope)
    }

    fn try_ask(
        &self,
        make: MakeRequest,
        timeout: Duration,
    ) -> Result<PendingAsk<Answer>, TrySendError<Envelope>> {
        ActorRef::try_ask(self, make, timeout)
    }

    fn ask(
        &self,
        make: MakeRequest,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Answer, AskError>> + Send + '_>> {
        Box::pin(ActorRef::ask(self, make, timeout))
    }
}

/// The mailbox at an address, whatever actor takes it.
pub(crate) type Target = Arc<dyn Mailbox>;
