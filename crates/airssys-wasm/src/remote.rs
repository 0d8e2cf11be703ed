//! Requests and calls this host made of components on other hosts, waiting for their
//! responses. Each gets a ticket, unique on this host, that travels in the wire `Request`
//! and comes back in its `Response`; the response, the timeout, or the transport's refusal
//! resolves it, exactly once. (The requester's own id for the request travels beside it, as
//! the receiver's `message.correlation`.) The other side, a request that came from another
//! host, is `Router::receive`: it is queued like a local one and its outcome is carried back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bindings::{RequestError, SendError};
use crate::envelope::Answer;
use crate::wire::{RefusalReason, RequestFailure, WirePayload};

/// What gets the outcome of a request to another host, once.
pub(crate) type Waiter = Box<dyn FnOnce(Answer) + Send>;

struct Waiting {
    /// The address the request went to: only it may answer.
    responder: Arc<str>,
    /// The address that made it: the response must be addressed to it.
    requester: Arc<str>,
    waiter: Waiter,
    /// The timeout's timer, stopped when the answer comes first.
    timer: Option<tokio::task::AbortHandle>,
}

/// The requests waiting on other hosts, by ticket. Tickets start at a random number, so
/// that another host cannot guess one (and a response from before a restart does not
/// meet a ticket of the same number).
pub(crate) struct Tickets {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, Waiting>>,
}

impl Default for Tickets {
    fn default() -> Self {
        Tickets { next: AtomicU64::new(fastrand::u64(..)), waiting: Mutex::default() }
    }
}

impl std::fmt::Debug for Tickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tickets").field("waiting", &crate::sync::lock(&self.waiting).len()).finish()
    }
}

impl Tickets {
    /// Wait for the response of `responder` under a new ticket, for `timeout` at most (then
    /// the waiter gets `timeout`).
    pub(crate) fn wait(
        self: &Arc<Self>,
        requester: &Arc<str>,
        responder: &str,
        timeout: Duration,
        waiter: Waiter,
    ) -> u64 {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let waiting = Waiting {
            responder: Arc::from(responder),
            requester: Arc::clone(requester),
            waiter,
            timer: None,
        };
        crate::sync::lock(&self.waiting).insert(ticket, waiting);
        let tickets = Arc::downgrade(self);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(tickets) = tickets.upgrade()
                && let Some(waiting) = tickets.take(ticket)
            {
                (waiting.waiter)(Err(RequestError::Timeout));
            }
        });
        if let Some(waiting) = crate::sync::lock(&self.waiting).get_mut(&ticket) {
            waiting.timer = Some(timer.abort_handle());
        }
        ticket
    }

    /// The response to `ticket` from `responder` for `requester`: false (and nothing done)
    /// if no request waits under it, or it went to another address, or came from another.
    pub(crate) fn answer(
        &self,
        ticket: u64,
        responder: &str,
        requester: &str,
        answer: Answer,
    ) -> bool {
        let mut waiting = crate::sync::lock(&self.waiting);
        match waiting.get(&ticket) {
            Some(w) if *w.responder == *responder && *w.requester == *requester => {}
            _ => return false,
        }
        let Some(w) = waiting.remove(&ticket) else { return false };
        drop(waiting);
        if let Some(timer) = w.timer {
            timer.abort();
        }
        (w.waiter)(answer);
        true
    }

    /// Answer every waiting request whose responder matches with `answer()`; how many.
    pub(crate) fn fail(
        &self,
        matches: impl Fn(&str) -> bool,
        answer: impl Fn() -> Answer,
    ) -> usize {
        let failed: Vec<Waiting> = {
            let mut waiting = crate::sync::lock(&self.waiting);
            let tickets: Vec<u64> =
                waiting.iter().filter(|(_, w)| matches(&w.responder)).map(|(t, _)| *t).collect();
            tickets.into_iter().filter_map(|t| waiting.remove(&t)).collect()
        };
        let n = failed.len();
        for w in failed {
            if let Some(timer) = w.timer {
                timer.abort();
            }
            (w.waiter)(answer());
        }
        n
    }

    /// Stop waiting under `ticket` (its request was never carried); the waiter is dropped
    /// unanswered. False if it was answered already (by its timeout, say).
    pub(crate) fn forget(&self, ticket: u64) -> bool {
        match self.take(ticket) {
            Some(w) => {
                if let Some(timer) = w.timer {
                    timer.abort();
                }
                true
            }
            None => false,
        }
    }

    fn take(&self, ticket: u64) -> Option<Waiting> {
        crate::sync::lock(&self.waiting).remove(&ticket)
    }
}

/// An outcome in its wire form.
pub(crate) fn to_wire(answer: Answer) -> Result<Option<WirePayload>, RequestFailure> {
    match answer {
        Ok(payload) => Ok(payload.map(|p| WirePayload { codec: p.codec, bytes: p.bytes })),
        Err(RequestError::Refused(e)) => Err(RequestFailure::Refused(refusal_to_wire(e))),
        Err(RequestError::Timeout) => Err(RequestFailure::Timeout),
        Err(RequestError::ReceiverCrashed(why)) => Err(RequestFailure::ReceiverCrashed(why)),
        Err(RequestError::HandlerError(why)) => Err(RequestFailure::HandlerError(why)),
    }
}

/// An outcome from its wire form.
pub(crate) fn from_wire(outcome: Result<Option<WirePayload>, RequestFailure>) -> Answer {
    match outcome {
        Ok(payload) => {
            Ok(payload.map(|p| crate::types::Payload { codec: p.codec, bytes: p.bytes }))
        }
        Err(RequestFailure::Refused(r)) => Err(RequestError::Refused(refusal_from_wire(r))),
        Err(RequestFailure::Timeout) => Err(RequestError::Timeout),
        Err(RequestFailure::ReceiverCrashed(why)) => Err(RequestError::ReceiverCrashed(why)),
        Err(RequestFailure::HandlerError(why)) => Err(RequestError::HandlerError(why)),
    }
}

pub(crate) fn refusal_to_wire(e: SendError) -> RefusalReason {
    match e {
        SendError::UnknownTarget(t) => RefusalReason::UnknownTarget(t),
        SendError::MailboxFull => RefusalReason::MailboxFull,
        SendError::PayloadTooLarge(n) => RefusalReason::PayloadTooLarge(n),
        SendError::CodecNotAccepted(c) => RefusalReason::CodecNotAccepted(c),
        SendError::NotPermitted => RefusalReason::NotPermitted,
        SendError::RateLimited => RefusalReason::RateLimited,
        SendError::TooManyRequests => RefusalReason::TooManyRequests,
        SendError::TargetStopped => RefusalReason::TargetStopped,
        SendError::NotSupported(why) => RefusalReason::NotSupported(why),
    }
}

fn refusal_from_wire(r: RefusalReason) -> SendError {
    match r {
        RefusalReason::UnknownTarget(t) => SendError::UnknownTarget(t),
        RefusalReason::MailboxFull => SendError::MailboxFull,
        RefusalReason::PayloadTooLarge(n) => SendError::PayloadTooLarge(n),
        RefusalReason::CodecNotAccepted(c) => SendError::CodecNotAccepted(c),
        RefusalReason::NotPermitted => SendError::NotPermitted,
        RefusalReason::RateLimited => SendError::RateLimited,
        RefusalReason::TooManyRequests => SendError::TooManyRequests,
        RefusalReason::TargetStopped => SendError::TargetStopped,
        RefusalReason::NotSupported(why) => SendError::NotSupported(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ticket_is_answered_once_by_its_responder_or_times_out() {
        let tickets = Arc::new(Tickets::default());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let send = |tx: tokio::sync::mpsc::UnboundedSender<Answer>| -> Waiter {
            Box::new(move |a| {
                let _ = tx.send(a);
            })
        };
        let alice: Arc<str> = Arc::from("alice");
        let first = tickets.wait(&alice, "bob", Duration::from_secs(60), send(tx.clone()));
        // Only bob answers alice's ticket to bob, for alice, and only once.
        assert!(!tickets.answer(first, "mallory", "alice", Ok(None)));
        assert!(!tickets.answer(first, "bob", "carol", Ok(None)));
        assert!(tickets.answer(first, "bob", "alice", Ok(None)));
        assert!(!tickets.answer(first, "bob", "alice", Ok(None)));
        assert_eq!(rx.recv().await.unwrap(), Ok(None));
        let second = tickets.wait(&alice, "bob", Duration::from_millis(10), send(tx.clone()));
        assert_ne!(first, second);
        assert_eq!(rx.recv().await.unwrap(), Err(RequestError::Timeout));
        assert!(!tickets.answer(second, "bob", "alice", Ok(None)), "answered by its timeout");
        assert!(!tickets.forget(second), "answered already");
        let third = tickets.wait(&alice, "bob", Duration::from_secs(60), send(tx));
        assert!(tickets.forget(third));
    }

    #[test]
    fn outcomes_round_trip_through_the_wire_form() {
        let payload = crate::types::Payload { codec: 0x55, bytes: b"x".to_vec() };
        for answer in [
            Ok(None),
            Ok(Some(payload)),
            Err(RequestError::Timeout),
            Err(RequestError::ReceiverCrashed("trap".into())),
            Err(RequestError::HandlerError("no".into())),
            Err(RequestError::Refused(SendError::CodecNotAccepted(vec![0x51]))),
            Err(RequestError::Refused(SendError::NotSupported("x".into()))),
        ] {
            assert_eq!(from_wire(to_wire(answer.clone())), answer);
        }
    }
}
