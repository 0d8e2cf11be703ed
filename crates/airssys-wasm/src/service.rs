//! Native services: Rust code at an address, which components `send`, `request`, `call` and
//! publish to exactly as they would another component.
//!
//! A service is an actor of the host's, supervised like a component: its mailbox is bounded,
//! the router checks every message to it as it checks one to a component (the sender's grants,
//! the service's codecs, payload and mailbox limits, its `accept_from`, rates, audit) and
//! stamps the sender. A handler that panics crashes the service; its supervisor starts a new
//! one from the spec's factory, at the same address.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use airssys_rt::{Actor, BoxError, Context, ExitReason, ExitSignal, Restart};

use crate::envelope::{Delivery, Envelope, received};
use crate::types::{Message, Payload, RequestError};

/// What a service's handler returns: for a request or call, `Ok(Some(payload))` is the
/// response, `Ok(None)` an empty one and `Err(text)` a `handler-error`; for a send or a
/// publish it is dropped.
pub type ServiceResult = Result<Option<Payload>, String>;

/// Rust code that handles the messages sent to an address, one at a time.
///
/// Implemented for every `FnMut(Message) -> impl Future<Output = ServiceResult>`:
///
/// ```
/// use airssys_wasm::{Message, Payload, ServiceResult, ServiceSpec};
///
/// // Answers every request with its payload's length, as text.
/// let spec = ServiceSpec::new("lengths", || {
///     |message: Message| async move {
///         let len = message.payload.bytes.len().to_string();
///         ServiceResult::Ok(Some(Payload::new(airssys_wasm::codec::RAW, len)))
///     }
/// });
/// assert_eq!(spec.name(), "lengths");
/// ```
pub trait Service: Send + 'static {
    /// Handle one message (see [`ServiceResult`]).
    fn handle(&mut self, message: Message) -> impl Future<Output = ServiceResult> + Send;
}

impl<F, Fut> Service for F
where
    F: FnMut(Message) -> Fut + Send + 'static,
    Fut: Future<Output = ServiceResult> + Send,
{
    fn handle(&mut self, message: Message) -> impl Future<Output = ServiceResult> + Send {
        self(message)
    }
}

/// [`Service`] in a form that can be boxed.
trait BoxedService: Send {
    fn handle_boxed(
        &mut self,
        message: Message,
    ) -> Pin<Box<dyn Future<Output = ServiceResult> + Send + '_>>;
}

impl<S: Service> BoxedService for S {
    fn handle_boxed(
        &mut self,
        message: Message,
    ) -> Pin<Box<dyn Future<Output = ServiceResult> + Send + '_>> {
        Box::pin(self.handle(message))
    }
}

type Factory = Arc<dyn Fn() -> Box<dyn BoxedService> + Send + Sync>;

/// How to run a native service: its address, the factory that makes it (again after a
/// crash), and the limits a component's spec has for what it receives.
#[derive(Clone)]
pub struct ServiceSpec {
    pub(crate) name: Arc<str>,
    make: Factory,
    pub(crate) accepts: Vec<u32>,
    pub(crate) max_payload: usize,
    pub(crate) mailbox: usize,
    pub(crate) accept_from: Option<Vec<String>>,
    pub(crate) restart: Restart,
}

impl std::fmt::Debug for ServiceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceSpec")
            .field("name", &self.name)
            .field("accepts", &self.accepts)
            .field("max_payload", &self.max_payload)
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

impl ServiceSpec {
    /// A service at the address `name` (a component name: letters, digits, `-`, `_`, `.`),
    /// made by `make` when it starts and again after a crash. By default it accepts any
    /// codec from anyone, payloads up to 1 MiB and 1024 queued messages, and is restarted
    /// whenever it ends (`Restart::Permanent`).
    pub fn new<S: Service>(
        name: impl Into<Arc<str>>,
        make: impl Fn() -> S + Send + Sync + 'static,
    ) -> Self {
        ServiceSpec {
            name: name.into(),
            make: Arc::new(move || Box::new(make()) as Box<dyn BoxedService>),
            accepts: Vec::new(),
            max_payload: 1 << 20,
            mailbox: 1024,
            accept_from: None,
            restart: Restart::Permanent,
        }
    }

    /// Its address.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Accept only these codecs (others are refused with `codec-not-accepted`).
    pub fn accepts(mut self, codecs: &[u32]) -> Self {
        self.accepts = codecs.to_vec();
        self
    }

    /// The largest payload it takes, in bytes.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Messages its mailbox holds before senders get `mailbox-full`.
    pub fn mailbox(mut self, capacity: usize) -> Self {
        self.mailbox = capacity.max(1);
        self
    }

    /// Accept messages only from these senders (addresses; `*` patterns as in a
    /// component's `accept_from`).
    pub fn accept_from(mut self, senders: &[&str]) -> Self {
        self.accept_from = Some(senders.iter().map(|s| (*s).to_owned()).collect());
        self
    }

    /// When its supervisor starts it again.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }
}

/// The actor that runs one service.
pub(crate) struct ServiceActor {
    address: Arc<str>,
    service: Box<dyn BoxedService>,
}

impl std::fmt::Debug for ServiceActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceActor").field("address", &self.address).finish()
    }
}

impl ServiceActor {
    pub(crate) fn new(spec: &ServiceSpec) -> Self {
        ServiceActor { address: Arc::clone(&spec.name), service: (spec.make)() }
    }
}

impl Actor for ServiceActor {
    type Msg = Envelope;

    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        // A component may link to a service; the service outlives it (`handle_exit`).
        ctx.trap_exits(true);
        Ok(())
    }

    async fn handle(
        &mut self,
        envelope: Envelope,
        _ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        let (sender, payload, reply, correlation, topic, trace, queued) = match envelope.0 {
            Delivery::Message { sender, payload, reply, correlation, topic, trace, queued } => {
                (sender, payload, reply, correlation, topic, trace, queued)
            }
            // An HTTP request, as a message (`http_codec.rs`).
            Delivery::Http(exchange) => {
                if exchange.respond.is_closed() {
                    // Its client is gone, or the listener answered `503` while it waited.
                    return Ok(());
                }
                let message = received(
                    crate::http_codec::SENDER,
                    crate::http_codec::request_message(&exchange).into(),
                    None,
                    None,
                    None,
                );
                let outcome = self.service.handle_boxed(message).await;
                let response =
                    crate::http_codec::response_of(outcome.map_err(RequestError::HandlerError));
                let _ = exchange.respond.send(Ok(response));
                return Ok(());
            }
            _ => return Ok(()),
        };
        drop(queued);
        let message = received(&sender, payload, correlation, topic.as_deref(), trace.as_ref());
        let outcome = self.service.handle_boxed(message).await;
        if let Some(reply) = reply {
            let _ = reply.send(outcome.map_err(RequestError::HandlerError));
        }
        Ok(())
    }

    /// The end of a component linked to it does not end a service (many components share
    /// one); any other exit signal but `Normal` (its supervisor's) stops it.
    async fn handle_exit(
        &mut self,
        signal: ExitSignal,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        let from_component = signal.from.downcast::<crate::actor::ComponentActor>().is_some();
        if !from_component && signal.reason != ExitReason::Normal {
            ctx.stop_with(signal.reason);
        }
        Ok(())
    }
}
