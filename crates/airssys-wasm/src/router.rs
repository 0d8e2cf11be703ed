//! Addresses to component actors, and the checks every message passes before delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use airssys_rt::{ActorRef, AskError, System, TrySendError};

use crate::actor::{ComponentActor, Envelope, Kind};
use crate::bindings::{Payload, RequestError, SendError};
use crate::topics::Topics;

/// What a target accepts, checked before delivery.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Accepted codecs; empty means any.
    pub(crate) accepts: Arc<[u64]>,
    pub(crate) max_payload: usize,
}

/// One address: its policy, and its actor once looked up. The actor is cached so that a
/// message does not go through the system's registry (a global lock) every time; the cache is
/// refreshed when its actor is gone for good (a group restart can give an address a new
/// actor).
#[derive(Debug)]
struct Entry {
    policy: Policy,
    actor: Mutex<Option<ActorRef<ComponentActor>>>,
}

/// The host's address book: the policies of every component, and the system whose registry
/// maps each address to its (restart-stable) actor. Cloning shares it.
#[derive(Debug, Clone)]
pub(crate) struct Router {
    system: System,
    entries: Arc<RwLock<HashMap<Arc<str>, Arc<Entry>>>>,
    pub(crate) topics: Arc<Topics>,
}

impl Router {
    pub(crate) fn new(system: System) -> Self {
        Router { system, entries: Arc::default(), topics: Arc::default() }
    }

    pub(crate) fn insert(&self, address: Arc<str>, policy: Policy) {
        let entry = Arc::new(Entry { policy, actor: Mutex::new(None) });
        self.entries.write().unwrap_or_else(|e| e.into_inner()).insert(address, entry);
    }

    /// The actor at `address`, if it is running (or waiting for a restart).
    pub(crate) fn actor(&self, address: &str) -> Option<ActorRef<ComponentActor>> {
        self.system.lookup::<ComponentActor>(address)
    }

    /// Look up `target` and check `payload` against what it accepts.
    pub(crate) fn admit(
        &self,
        target: &str,
        payload: &Payload,
    ) -> Result<ActorRef<ComponentActor>, SendError> {
        let entry = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(target)
            .cloned()
            .ok_or_else(|| SendError::UnknownTarget(target.to_owned()))?;
        let policy = &entry.policy;
        if payload.bytes.len() > policy.max_payload {
            return Err(SendError::PayloadTooLarge(policy.max_payload as u64));
        }
        if !policy.accepts.is_empty() && !policy.accepts.contains(&payload.codec) {
            return Err(SendError::CodecNotAccepted(policy.accepts.to_vec()));
        }
        let mut cached = entry.actor.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(actor) = cached.as_ref().filter(|a| a.is_alive()) {
            return Ok(actor.clone());
        }
        *cached = self.actor(target);
        cached.clone().ok_or(SendError::TargetStopped)
    }

    /// Fire-and-forget, stamped with `sender`. Never waits: a full mailbox is refused.
    pub(crate) fn send(
        &self,
        sender: &Arc<str>,
        target: &str,
        payload: Payload,
    ) -> Result<(), SendError> {
        self.deliver(sender, target, None, payload)
    }

    /// Publish to every subscriber of `topic`, stamped with `sender`; returns how many it
    /// was queued for (a subscriber that refuses the codec or size, or is full, misses it).
    pub(crate) fn publish(
        &self,
        sender: &Arc<str>,
        topic: &str,
        payload: Payload,
    ) -> Result<u32, String> {
        let subscribers = self.topics.subscribers(topic)?;
        let topic: Arc<str> = topic.into();
        let mut delivered = 0;
        for subscriber in subscribers {
            if self.deliver(sender, &subscriber, Some(&topic), payload.clone()).is_ok() {
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
        payload: Payload,
    ) -> Result<(), SendError> {
        let actor = self.admit(target, &payload)?;
        let envelope = Envelope(Kind::Message {
            sender: Arc::clone(sender),
            payload,
            reply: None,
            topic: topic.cloned(),
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
        timeout: Duration,
    ) -> Result<Option<Payload>, RequestError> {
        let actor = self.admit(target, &payload).map_err(RequestError::Refused)?;
        ask(&actor, sender, payload, timeout).await
    }
}

/// Deliver a request to an admitted target and wait for its answer.
pub(crate) async fn ask(
    actor: &ActorRef<ComponentActor>,
    sender: &Arc<str>,
    payload: Payload,
    timeout: Duration,
) -> Result<Option<Payload>, RequestError> {
    let sender = Arc::clone(sender);
    let answer = actor
        .ask(
            |reply| Envelope(Kind::Message { sender, payload, reply: Some(reply), topic: None }),
            timeout,
        )
        .await;
    match answer {
        Ok(result) => result,
        Err(AskError::Timeout) => Err(RequestError::Timeout),
        Err(AskError::Closed) => Err(RequestError::Refused(SendError::TargetStopped)),
        // The receiver dropped the request without answering: it was killed while handling
        // it, or stopped with it still queued.
        Err(AskError::NoReply) => {
            Err(RequestError::ReceiverCrashed("the receiver stopped before answering".into()))
        }
    }
}
