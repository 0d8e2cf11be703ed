//! Addresses to component actors, and the checks every message passes before delivery.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use airssys_rt::{ActorRef, AskError, TrySendError};

use crate::actor::{ComponentActor, Envelope};
use crate::bindings::{Payload, RequestError, SendError};

/// What a target accepts, checked before delivery.
#[derive(Debug, Clone)]
pub(crate) struct Inbox {
    pub(crate) actor: ActorRef<ComponentActor>,
    /// Accepted codecs; empty means any.
    pub(crate) accepts: Arc<[u64]>,
    pub(crate) max_payload: usize,
}

/// The host's address table. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Router {
    table: Arc<RwLock<HashMap<Arc<str>, Inbox>>>,
}

impl Router {
    pub(crate) fn insert(&self, address: Arc<str>, inbox: Inbox) {
        self.table
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(address, inbox);
    }

    /// Look up `target` and check `payload` against what it accepts.
    fn admit(
        &self,
        target: &str,
        payload: &Payload,
    ) -> Result<ActorRef<ComponentActor>, SendError> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        let inbox = table
            .get(target)
            .ok_or_else(|| SendError::UnknownTarget(target.to_owned()))?;
        if payload.bytes.len() > inbox.max_payload {
            return Err(SendError::PayloadTooLarge(inbox.max_payload as u64));
        }
        if !inbox.accepts.is_empty() && !inbox.accepts.contains(&payload.codec) {
            return Err(SendError::CodecNotAccepted(inbox.accepts.to_vec()));
        }
        Ok(inbox.actor.clone())
    }

    /// Fire-and-forget, stamped with `sender`. Never waits: a full mailbox is refused.
    pub(crate) fn send(
        &self,
        sender: &Arc<str>,
        target: &str,
        payload: Payload,
    ) -> Result<(), SendError> {
        let actor = self.admit(target, &payload)?;
        let envelope = Envelope {
            sender: Arc::clone(sender),
            payload,
            reply: None,
        };
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
        let actor = self
            .admit(target, &payload)
            .map_err(RequestError::Refused)?;
        let sender = Arc::clone(sender);
        let answer = actor
            .ask(
                |reply| Envelope {
                    sender,
                    payload,
                    reply: Some(reply),
                },
                timeout,
            )
            .await;
        match answer {
            Ok(result) => result,
            Err(AskError::Timeout) => Err(RequestError::Timeout),
            Err(AskError::Closed) => Err(RequestError::Refused(SendError::TargetStopped)),
            // The receiver dropped the request without answering: it crashed (or was killed)
            // while handling it, or stopped with it still queued.
            Err(AskError::NoReply) => Err(RequestError::ReceiverCrashed(
                "the receiver stopped before answering".into(),
            )),
        }
    }
}
