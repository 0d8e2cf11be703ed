//! Addresses to component actors, and the checks every message passes before delivery.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use airssys_rt::{ActorHandle, AskError, PendingAsk, Reply, System, TrySendError};

use crate::address::is_address;
pub(crate) use crate::address::member_address;
use crate::bindings::{Payload, RequestError, SendError};
use crate::envelope::{Answer, Delivery, Envelope, Queued, SharedPayload, Target};
use crate::topics::Topics;

/// What a target accepts, checked before delivery.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Accepted codecs; empty means any.
    pub(crate) accepts: Arc<[u32]>,
    pub(crate) max_payload: usize,
    /// Bytes of payload its mailbox may hold (never less than `max_payload`).
    pub(crate) mailbox_bytes: usize,
    /// Senders it accepts; `None`: anyone.
    pub(crate) accept_from: Option<Arc<crate::capability::Addresses>>,
}

/// One address: its policy, and its actor once looked up. The actor is cached so that a
/// message does not go through the system's registry (a global lock) every time; the cache is
/// refreshed when its actor is gone for good (a group restart can give an address a new
/// actor).
#[derive(Debug)]
struct Entry {
    /// Its address (a pool member's is `name/i`), made once, not per message.
    address: Arc<str>,
    policy: Policy,
    actor: Mutex<Option<Target>>,
    /// Bytes of payload queued in its mailbox.
    queued: Arc<AtomicUsize>,
}

/// Longest timeout a request or call may have, a guest's or another host's.
pub(crate) const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// The name a pool member's address (`name/i`) belongs to; any other address is its own.
fn pool_of(address: &str) -> &str {
    address.split_once('/').map_or(address, |(pool, _)| pool)
}

/// Where a request goes ([`Router::route_request`]).
pub(crate) enum RequestRoute {
    /// To a component on this host.
    Here(Admitted),
    /// To another host, through the transport.
    Remote,
}

/// A target that passed the checks, with its mailbox room reserved for the payload.
pub(crate) struct Admitted {
    pub(crate) actor: Target,
    pub(crate) queued: Queued,
}

/// A name that resolves to one component, or to a pool of members (`name/0`, `name/1`, ...)
/// served round-robin.
#[derive(Debug)]
enum Route {
    One(Arc<Entry>),
    /// Its members, shared so that a message to the pool takes them without a copy (a pool
    /// may have a million).
    Pool {
        members: Arc<[Arc<Entry>]>,
        next: AtomicUsize,
    },
}

/// What the sender's side stamps on a request besides its address: its id among the
/// requester's requests (the receiver sees it as `message.correlation`) and its trace.
pub(crate) struct Stamp {
    pub(crate) correlation: u64,
    pub(crate) trace: Option<crate::trace::TraceContext>,
}

/// Why an address is not one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotOne {
    /// It names a pool.
    Pool,
}

/// The host's address book: the policies of every component, and the system whose registry
/// maps each address to its (restart-stable) actor. Cloning shares it.
#[derive(Debug, Clone)]
pub(crate) struct Router {
    system: System,
    pub(crate) audit: crate::audit::Audit,
    entries: Arc<RwLock<HashMap<Arc<str>, Route>>>,
    pub(crate) topics: Arc<Topics>,
    /// Ids of the requests and calls the host (no component) makes.
    host_requests: Arc<AtomicU64>,
    /// Where envelopes for components this host does not have go (`transport.rs`).
    transport: Option<Arc<dyn crate::transport::Transport>>,
    /// This host's embedder's address on other hosts (`Transport::embedder_address`).
    embedder: Option<Arc<str>>,
    /// Requests this host's components made of components on other hosts (`remote.rs`).
    tickets: Arc<crate::remote::Tickets>,
    /// The mailbox of a registered actor, if it takes envelopes: given by the layer above,
    /// which knows the actor types (components, services), so that the router need not.
    mailbox_of: MailboxOf,
}

/// See [`Router::mailbox_of`](Router).
pub(crate) type MailboxOf = fn(&ActorHandle) -> Option<Target>;

impl Router {
    pub(crate) fn new(
        system: System,
        audit: crate::audit::Audit,
        transport: Option<Arc<dyn crate::transport::Transport>>,
        mailbox_of: MailboxOf,
    ) -> Self {
        let embedder = transport.as_ref().and_then(|t| t.embedder_address()).map(Arc::from);
        Router {
            system,
            audit,
            embedder,
            entries: Arc::default(),
            topics: Arc::default(),
            host_requests: Arc::default(),
            transport,
            tickets: Arc::default(),
            mailbox_of,
        }
    }

    /// The transport to other hosts, if this host is joined to any.
    pub(crate) fn transport(&self) -> Option<&Arc<dyn crate::transport::Transport>> {
        self.transport.as_ref()
    }

    /// Where a request or call goes: to a component here (checked and its room reserved),
    /// or, for an address this host does not have, to another host through the transport.
    pub(crate) fn route_request(
        &self,
        sender: &str,
        target: &str,
        payload: &SharedPayload,
    ) -> Result<RequestRoute, SendError> {
        match self.admit(sender, target, payload) {
            Ok(admitted) => Ok(RequestRoute::Here(admitted)),
            Err(SendError::UnknownTarget(_)) if self.transport.is_some() => {
                if sender == crate::address::HOST_ADDRESS {
                    self.embedder()?;
                }
                Ok(RequestRoute::Remote)
            }
            Err(e) => Err(e),
        }
    }

    /// The sender as other hosts know it: the embedder's (`host`) is this host's embedder
    /// address (see [`Router::embedder`]).
    fn on_wire<'a>(&'a self, sender: &'a Arc<str>) -> Result<&'a Arc<str>, SendError> {
        if &**sender == crate::address::HOST_ADDRESS { self.embedder() } else { Ok(sender) }
    }

    /// This host's embedder's address on other hosts, if the transport gives it one; without
    /// one, the embedder's envelopes stay here.
    fn embedder(&self) -> Result<&Arc<str>, SendError> {
        self.embedder.as_ref().ok_or_else(|| {
            // The answer would have to find its way back to an embedder with no address
            // on other hosts.
            SendError::NotSupported("a message from the host to a component on another host".into())
        })
    }

    /// Carry a request to the host that has `target`; `waiter` gets its outcome once: the
    /// response, `timeout`, or nothing if this returns an error (it was not carried).
    pub(crate) fn request_remote(
        &self,
        sender: &Arc<str>,
        target: &str,
        payload: SharedPayload,
        stamp: Stamp,
        timeout: Duration,
        waiter: crate::remote::Waiter,
    ) -> Result<(), SendError> {
        let Some(transport) = &self.transport else {
            return Err(SendError::UnknownTarget(target.to_owned()));
        };
        let sender = self.on_wire(sender)?;
        let ticket = self.tickets.wait(sender, target, timeout, waiter);
        let envelope = crate::wire::Envelope::Request {
            sender: sender.to_string(),
            target: target.to_owned(),
            payload: payload.into(),
            correlation: stamp.correlation,
            ticket,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            trace: stamp.trace,
        };
        let carried = encode(&envelope).and_then(|frame| transport.carry(target, frame));
        // Not carried, and not answered meanwhile (by its timeout, or a lost host's
        // failover): the refusal is the outcome. Answered already: that was the outcome.
        match carried {
            Err(refused) if self.tickets.forget(ticket) => Err(refused),
            _ => Ok(()),
        }
    }

    /// See [`Host::fail_requests_to`](crate::Host::fail_requests_to).
    pub(crate) fn fail_remote_requests(&self, names: &[&str], why: &str) -> usize {
        self.tickets.fail(
            |responder| names.contains(&pool_of(responder)),
            || Err(RequestError::ReceiverCrashed(why.to_owned())),
        )
    }

    /// Carry the outcome of a request that came from another host back to its requester.
    /// An outcome the transport refuses (too large for it, say) goes back as that refusal,
    /// so that the requester is not left to its timeout.
    fn respond(
        &self,
        responder: &str,
        requester: &str,
        ticket: u64,
        answer: Answer,
        trace: Option<crate::trace::TraceContext>,
    ) {
        let Some(transport) = &self.transport else { return };
        let response = |outcome| crate::wire::Envelope::Response {
            sender: responder.to_owned(),
            target: requester.to_owned(),
            ticket,
            outcome,
            trace,
        };
        let carried = encode(&response(crate::remote::to_wire(answer)))
            .and_then(|frame| transport.carry(requester, frame));
        if let Err(refused) = carried {
            let refusal = Err(RequestError::Refused(refused));
            let carried = encode(&response(crate::remote::to_wire(refusal)))
                .and_then(|frame| transport.carry(requester, frame));
            if let Err(e) = carried {
                tracing::debug!(requester, error = %e, "a response to another host was lost");
            }
        }
    }

    /// Deliver an envelope from another host (its sender stamped there) as a local one.
    pub(crate) fn receive(
        &self,
        envelope: crate::wire::Envelope,
    ) -> Result<(), crate::transport::ReceiveError> {
        use crate::transport::ReceiveError;
        use crate::wire::Envelope as E;
        // What another host stamped is checked, not trusted: the sender must be an address
        // in form, and not one of this host's own (nor `host`), so that it cannot pass for a
        // local sender; an invalid trace context is dropped.
        let sender = envelope.sender();
        let own = crate::sync::read(&self.entries).contains_key(sender);
        if !is_address(sender) || own {
            return Err(ReceiveError::Refused(SendError::NotPermitted));
        }
        let valid = |t: Option<crate::trace::TraceContext>| t.filter(|t| t.is_valid());
        match envelope {
            E::Message { sender, target, payload: p, trace } => self
                .deliver(&Arc::from(sender), &target, None, p.into(), valid(trace))
                .map_err(ReceiveError::Refused),
            E::Publish { sender, topic, payload: p, trace } => {
                self.publish_here(&Arc::from(sender), &topic, p.into(), valid(trace))
                    .map_err(|e| ReceiveError::Refused(SendError::NotSupported(e)))?;
                Ok(())
            }
            E::Request { sender, target, payload, correlation, ticket, timeout_ms, trace } => {
                let sender: Arc<str> = Arc::from(sender);
                let payload = SharedPayload::from(payload);
                let trace = valid(trace);
                // Refused here or answered later, the outcome goes back to the requester.
                let respond = {
                    let (router, requester) = (self.clone(), Arc::clone(&sender));
                    let responder = target.clone();
                    move |answer: Answer| {
                        router.respond(&responder, &requester, ticket, answer, trace);
                    }
                };
                let timeout = Duration::from_millis(u64::from(timeout_ms)).min(MAX_CALL_TIMEOUT);
                let stamp = Stamp { correlation, trace };
                let queued = self
                    .admit(&sender, &target, &payload)
                    .and_then(|admitted| start_ask(admitted, &sender, payload, stamp, timeout));
                match queued {
                    Ok(pending) => {
                        pending.forward(move |outcome| respond(answer_of(outcome)));
                        Ok(())
                    }
                    Err(refused) => {
                        respond(Err(RequestError::Refused(refused.clone())));
                        Err(ReceiveError::Refused(refused))
                    }
                }
            }
            E::Response { sender, target, ticket, outcome, .. } => {
                let answer = crate::remote::from_wire(outcome);
                if self.tickets.answer(ticket, &sender, &target, answer) {
                    Ok(())
                } else {
                    Err(ReceiveError::UnknownTicket(ticket))
                }
            }
            E::Exit { .. } | E::Down { .. } => {
                Err(ReceiveError::NotSupported("links and monitors between hosts"))
            }
        }
    }

    /// The stamp of a request or call the host makes: the start of a new trace.
    pub(crate) fn host_stamp(&self) -> Stamp {
        Stamp {
            correlation: self.host_requests.fetch_add(1, Ordering::Relaxed) + 1,
            trace: Some(crate::trace::TraceContext::new_root()),
        }
    }

    /// Add the addresses of one component: `name` itself, or `name` as a pool plus each of
    /// `members`; all or none. False (and nothing added) when one of them is taken.
    pub(crate) fn reserve(&self, name: Arc<str>, members: &[Arc<str>], policy: Policy) -> bool {
        let entry = |address: &Arc<str>| {
            Arc::new(Entry {
                address: Arc::clone(address),
                policy: policy.clone(),
                actor: Mutex::new(None),
                queued: Arc::default(),
            })
        };
        let mut entries = crate::sync::write(&self.entries);
        if entries.contains_key(&name) || members.iter().any(|m| entries.contains_key(m)) {
            return false;
        }
        if members.is_empty() {
            let one = entry(&name);
            entries.insert(name, Route::One(one));
            return true;
        }
        let mut pool = Vec::with_capacity(members.len());
        for member in members {
            let e = entry(member);
            pool.push(Arc::clone(&e));
            entries.insert(Arc::clone(member), Route::One(e));
        }
        entries.insert(name, Route::Pool { members: pool.into(), next: AtomicUsize::new(0) });
        true
    }

    /// Remove the addresses `insert` added.
    pub(crate) fn remove(&self, name: &str, members: &[Arc<str>]) {
        let mut entries = crate::sync::write(&self.entries);
        entries.remove(name);
        for member in members {
            entries.remove(member);
        }
    }

    /// The actor at `address`, if it is running (or waiting for a restart).
    pub(crate) fn actor(&self, address: &str) -> Option<Target> {
        (self.mailbox_of)(&self.system.whereis(address)?)
    }

    /// The actor of the one component at `address` (`Ok(None)`: no such address, or it is
    /// not running). A pool's name is no one component.
    pub(crate) fn single(&self, address: &str) -> Result<Option<Target>, NotOne> {
        let entries = crate::sync::read(&self.entries);
        let entry = match entries.get(address) {
            None => return Ok(None),
            Some(Route::Pool { .. }) => return Err(NotOne::Pool),
            Some(Route::One(entry)) => Arc::clone(entry),
        };
        drop(entries);
        Ok(self.resolve(&entry))
    }

    /// Look up `target`, check `payload` against what it accepts, and reserve room for it
    /// in the target's mailbox (in bytes: a mailbox holding its limit of payload bytes is
    /// full).
    pub(crate) fn admit(
        &self,
        sender: &str,
        target: &str,
        payload: &SharedPayload,
    ) -> Result<Admitted, SendError> {
        let entries = crate::sync::read(&self.entries);
        let (entry, pool) = match entries.get(target) {
            None => return Err(SendError::UnknownTarget(target.to_owned())),
            Some(Route::One(entry)) => (Arc::clone(entry), None),
            Some(Route::Pool { members, next }) => {
                let start = next.fetch_add(1, Ordering::Relaxed);
                (Arc::clone(&members[start % members.len()]), Some((Arc::clone(members), start)))
            }
        };
        drop(entries);
        let policy = &entry.policy;
        if payload.bytes.len() > policy.max_payload {
            self.audit.denial(
                sender,
                "deliver",
                airssys_osl::Action::Limit,
                target,
                &format!(
                    "payload size ({} bytes, limit {})",
                    payload.bytes.len(),
                    policy.max_payload
                ),
            );
            return Err(SendError::PayloadTooLarge(policy.max_payload as u64));
        }
        if !policy.accepts.is_empty() && !policy.accepts.contains(&payload.codec) {
            return Err(SendError::CodecNotAccepted(policy.accepts.to_vec()));
        }
        if policy.accept_from.as_ref().is_some_and(|a| !a.allows(sender)) {
            self.audit.denial(
                sender,
                "deliver",
                airssys_osl::Action::MessageAccept,
                target,
                "the receiver does not accept messages from this sender",
            );
            return Err(SendError::NotPermitted);
        }
        let (actor, entry) = match pool {
            None => (self.resolve(&entry).ok_or(SendError::TargetStopped)?, entry),
            // Round-robin over the members that are running (a stopped member is skipped).
            Some((members, start)) => (0..members.len())
                .map(|k| (start + k) % members.len())
                .find_map(|i| {
                    let member = &members[i];
                    let actor = self.resolve(member)?;
                    Some((actor, Arc::clone(member)))
                })
                .ok_or(SendError::TargetStopped)?,
        };
        let limit = entry.policy.mailbox_bytes;
        let queued = Queued::reserve(&entry.queued, payload.bytes.len(), limit)
            .ok_or(SendError::MailboxFull)?;
        Ok(Admitted { actor, queued })
    }

    /// A running actor at `target` (a pool's members round-robin, a stopped one skipped)
    /// with room for `bytes` more in its mailbox: for an HTTP request, which no codec, size
    /// or sender rule applies to (its route is the host's own configuration).
    pub(crate) fn admit_http(&self, target: &str, bytes: usize) -> Result<Admitted, SendError> {
        let entries = crate::sync::read(&self.entries);
        let (members, start): (Arc<[Arc<Entry>]>, usize) = match entries.get(target) {
            None => return Err(SendError::UnknownTarget(target.to_owned())),
            Some(Route::One(entry)) => (Arc::new([Arc::clone(entry)]), 0),
            Some(Route::Pool { members, next }) => {
                (Arc::clone(members), next.fetch_add(1, Ordering::Relaxed))
            }
        };
        drop(entries);
        // The first running member with room; a full one passes the request on.
        let mut outcome = Err(SendError::TargetStopped);
        for k in 0..members.len() {
            let entry = &members[(start + k) % members.len()];
            let Some(actor) = self.resolve(entry) else { continue };
            match Queued::reserve(&entry.queued, bytes, entry.policy.mailbox_bytes) {
                Some(queued) => return Ok(Admitted { actor, queued }),
                None => outcome = Err(SendError::MailboxFull),
            }
        }
        outcome
    }

    /// The running actor of an entry, through its cache.
    fn resolve(&self, entry: &Entry) -> Option<Target> {
        let mut cached = crate::sync::lock(&entry.actor);
        if let Some(actor) = cached.as_ref().filter(|a| a.is_alive()) {
            return Some(actor.clone());
        }
        *cached = self.actor(&entry.address);
        cached.clone()
    }

    /// Fire-and-forget, stamped with `sender`. Never waits: a full mailbox is refused.
    pub(crate) fn send(
        &self,
        sender: &Arc<str>,
        target: &str,
        payload: Payload,
        trace: Option<crate::trace::TraceContext>,
    ) -> Result<(), SendError> {
        let payload = SharedPayload::from(payload);
        let Some(transport) = &self.transport else {
            return self.deliver(sender, target, None, payload, trace);
        };
        match self.deliver(sender, target, None, payload.clone(), trace) {
            // Not here: to the host that has it, in the wire form.
            Err(SendError::UnknownTarget(_)) => {
                let envelope = crate::wire::Envelope::Message {
                    sender: self.on_wire(sender)?.to_string(),
                    target: target.to_owned(),
                    payload: payload.into(),
                    trace,
                };
                transport.carry(target, encode(&envelope)?)
            }
            other => other,
        }
    }

    /// Publish to every subscriber of `topic`, stamped with `sender`; returns how many it
    /// was queued for on this host (a subscriber that refuses the codec or size, or is full,
    /// misses it). With a transport, it also goes to every other host, for theirs.
    pub(crate) fn publish(
        &self,
        sender: &Arc<str>,
        topic: &str,
        payload: Payload,
        trace: Option<crate::trace::TraceContext>,
    ) -> Result<u32, String> {
        // One allocation of the bytes, shared by every subscriber's envelope.
        let payload = SharedPayload::from(payload);
        let delivered = self.publish_here(sender, topic, payload.clone(), trace)?;
        if let Some(transport) = &self.transport
            && let Ok(sender) = self.on_wire(sender)
        {
            let envelope = crate::wire::Envelope::Publish {
                sender: sender.to_string(),
                topic: topic.to_owned(),
                payload: payload.into(),
                trace,
            };
            if let Ok(frame) = encode(&envelope) {
                transport.broadcast(frame);
            }
        }
        Ok(delivered)
    }

    /// Publish to this host's subscribers of `topic`.
    fn publish_here(
        &self,
        sender: &Arc<str>,
        topic: &str,
        payload: SharedPayload,
        trace: Option<crate::trace::TraceContext>,
    ) -> Result<u32, String> {
        let subscribers = self.topics.subscribers(topic)?;
        let topic: Arc<str> = topic.into();
        let mut delivered = 0;
        for subscriber in subscribers {
            if self.deliver(sender, &subscriber, Some(&topic), payload.clone(), trace).is_ok() {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    fn deliver(
        &self,
        sender: &Arc<str>,
        target: &str,
        topic: Option<&Arc<str>>,
        payload: SharedPayload,
        trace: Option<crate::trace::TraceContext>,
    ) -> Result<(), SendError> {
        let Admitted { actor, queued } = self.admit(sender, target, &payload)?;
        let envelope = Envelope(Delivery::Message {
            sender: Arc::clone(sender),
            payload,
            reply: None,
            correlation: None,
            topic: topic.cloned(),
            trace,
            queued,
        });
        actor.try_tell(envelope).map_err(|e| match e {
            TrySendError::Full(_) => SendError::MailboxFull,
            TrySendError::Closed(_) => SendError::TargetStopped,
        })
    }

    /// Request-response, stamped with `sender`: the target's `handle-message` return value,
    /// or why there is none, within `timeout`.
    pub(crate) async fn call(
        &self,
        sender: &Arc<str>,
        target: &str,
        payload: Payload,
        stamp: Stamp,
        timeout: Duration,
    ) -> Result<Option<Payload>, RequestError> {
        let payload = SharedPayload::from(payload);
        let answer = match self.route_request(sender, target, &payload) {
            Ok(RequestRoute::Here(admitted)) => {
                ask(admitted, sender, payload, stamp, timeout).await
            }
            Ok(RequestRoute::Remote) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let waiter = Box::new(move |answer| {
                    let _ = tx.send(answer);
                });
                self.request_remote(sender, target, payload, stamp, timeout, waiter)
                    .map_err(RequestError::Refused)?;
                rx.await.unwrap_or_else(|_| {
                    Err(RequestError::ReceiverCrashed("the host stopped waiting".into()))
                })
            }
            Err(refused) => return Err(RequestError::Refused(refused)),
        };
        self.check_response(sender, target, answer)
    }

    /// A response is a message to its requester: it must fit the requester's own limits
    /// (payload size, accepted codecs) as any message to it must. One that does not is
    /// replaced by the refusal the requester would have given a message like it, and the
    /// responder's overrun is audited. The host (no component) takes any response.
    pub(crate) fn check_response(
        &self,
        requester: &str,
        responder: &str,
        answer: Answer,
    ) -> Answer {
        let Ok(Some(payload)) = &answer else { return answer };
        let entries = crate::sync::read(&self.entries);
        let Some(Route::One(entry)) = entries.get(requester) else { return answer };
        let policy = &entry.policy;
        if payload.bytes.len() > policy.max_payload {
            let rule = format!(
                "response size ({} bytes, the requester's limit {})",
                payload.bytes.len(),
                policy.max_payload
            );
            let max = policy.max_payload as u64;
            drop(entries);
            self.audit.denial(responder, "respond", airssys_osl::Action::Limit, requester, &rule);
            return Err(RequestError::Refused(SendError::PayloadTooLarge(max)));
        }
        if !policy.accepts.is_empty() && !policy.accepts.contains(&payload.codec) {
            return Err(RequestError::Refused(SendError::CodecNotAccepted(
                policy.accepts.to_vec(),
            )));
        }
        answer
    }
}

/// The wire form of an envelope; an envelope that cannot be encoded (postcard does not fail
/// on these types) is refused as not supported, never a panic.
fn encode(envelope: &crate::wire::Envelope) -> Result<Vec<u8>, SendError> {
    crate::wire::encode(envelope).map_err(|e| SendError::NotSupported(e.to_string()))
}

impl From<SharedPayload> for crate::wire::WirePayload {
    fn from(p: SharedPayload) -> Self {
        crate::wire::WirePayload { codec: p.codec, bytes: p.bytes.into() }
    }
}

impl From<crate::wire::WirePayload> for SharedPayload {
    fn from(p: crate::wire::WirePayload) -> Self {
        SharedPayload { codec: p.codec, bytes: p.bytes.into() }
    }
}

/// Deliver a request to an admitted target and wait for its answer (waiting for mailbox
/// room within the timeout, as `gen_server:call` does).
pub(crate) async fn ask(
    admitted: Admitted,
    sender: &Arc<str>,
    payload: SharedPayload,
    stamp: Stamp,
    timeout: Duration,
) -> Answer {
    let sender = Arc::clone(sender);
    let Admitted { actor, queued } = admitted;
    let answer = actor
        .ask(
            Box::new(move |reply| request_envelope(sender, payload, reply, stamp, queued)),
            timeout,
        )
        .await;
    answer_of(answer)
}

fn request_envelope(
    sender: Arc<str>,
    payload: SharedPayload,
    reply: Reply<Answer>,
    stamp: Stamp,
    queued: Queued,
) -> Envelope {
    Envelope(Delivery::Message {
        sender,
        payload,
        reply: Some(reply),
        correlation: Some(stamp.correlation),
        topic: None,
        trace: stamp.trace,
        queued,
    })
}

/// Queue a request now, or refuse it now (a full mailbox included).
pub(crate) fn start_ask(
    admitted: Admitted,
    sender: &Arc<str>,
    payload: SharedPayload,
    stamp: Stamp,
    timeout: Duration,
) -> Result<PendingAsk<Answer>, SendError> {
    let sender = Arc::clone(sender);
    let Admitted { actor, queued } = admitted;
    actor
        .try_ask(
            Box::new(move |reply| request_envelope(sender, payload, reply, stamp, queued)),
            timeout,
        )
        .map_err(|e| match e {
            TrySendError::Full(_) => SendError::MailboxFull,
            TrySendError::Closed(_) => SendError::TargetStopped,
        })
}

/// Wait for the answer of a request queued by [`start_ask`].
pub(crate) async fn finish_ask(pending: PendingAsk<Answer>) -> Answer {
    answer_of(pending.await)
}

pub(crate) fn answer_of(answer: Result<Answer, AskError>) -> Answer {
    match answer {
        Ok(result) => result,
        Err(AskError::Timeout) => Err(RequestError::Timeout),
        Err(AskError::Closed) => Err(RequestError::Refused(SendError::TargetStopped)),
        // The receiver dropped the request without answering: it was killed while handling
        // it, or stopped with it still queued.
        Err(AskError::NoReply(_)) => {
            Err(RequestError::ReceiverCrashed("the receiver stopped before answering".into()))
        }
        // A component waiting for its own answer inside its own handler would wait for itself
        // until the timeout; it is refused at once instead.
        Err(AskError::CallingSelf) => Err(RequestError::Refused(SendError::NotPermitted)),
        Err(_) => Err(RequestError::ReceiverCrashed("the receiver did not answer".into())),
    }
}
