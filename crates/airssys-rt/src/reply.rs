//! The answer slot of one ask: one allocation shared by the asker, the [`Reply`] handle the
//! actor gets, and the system's deadline reaper.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use crate::cell::CellOps;
use crate::deadline::Expire;
use crate::error::AskError;
use crate::exit::ExitReason;
use crate::sync::lock;

/// An answer slot whose `Reply` was dropped unanswered, told by the actor it was sent to
/// whether that actor exited (and why) once it knows.
pub(crate) trait Orphan: Send + Sync {
    fn orphaned(&self, reason: Option<ExitReason>);
}

/// Where a forwarded ask's outcome goes (see [`PendingAsk::forward`](crate::PendingAsk::forward)).
type Forward<R> = Box<dyn FnOnce(Result<R, AskError>) + Send>;

struct State<R> {
    value: Option<R>,
    /// Set when the asker forwarded the outcome instead of awaiting it: called once with the
    /// answer, the timeout or the replier's loss, by whoever brings it.
    forward: Option<Forward<R>>,
    /// While an outcome is forwarded, the slot keeps itself alive (no asker holds it), until
    /// the outcome is handed over: the replier, the actor's end and the reaper reach it by
    /// weak references.
    keep_alive: Option<Arc<AnswerSlot<R>>>,
    /// The `Reply` was dropped without answering (and the asker was told why).
    replier_gone: bool,
    /// The exit reason of the actor that dropped it, when it exited.
    exit: Option<ExitReason>,
    /// The asker stopped waiting (finished, timed out or was dropped).
    asker_gone: bool,
    timed_out: bool,
    waker: Option<Waker>,
}

/// The answer slot of one ask (see the module docs).
pub(crate) struct AnswerSlot<R> {
    state: Mutex<State<R>>,
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

impl<R> AnswerSlot<R> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(AnswerSlot {
            state: Mutex::new(State {
                value: None,
                forward: None,
                keep_alive: None,
                replier_gone: false,
                exit: None,
                asker_gone: false,
                timed_out: false,
                waker: None,
            }),
        })
    }

    /// The asker's side: the answer, or why there is none.
    pub(crate) fn poll_answer(&self, cx: &mut Context<'_>) -> Poll<Result<R, AskError>> {
        let mut st = lock(&self.state);
        if let Some(v) = st.value.take() {
            return Poll::Ready(Ok(v));
        }
        if st.replier_gone {
            return Poll::Ready(Err(AskError::NoReply(st.exit.clone())));
        }
        self.poll_timed_out(&mut st, cx)
    }

    /// While the request still waits for mailbox room: only the deadline can end the wait.
    pub(crate) fn poll_deadline(&self, cx: &mut Context<'_>) -> Poll<Result<R, AskError>> {
        let mut st = lock(&self.state);
        self.poll_timed_out(&mut st, cx)
    }

    fn poll_timed_out(&self, st: &mut State<R>, cx: &mut Context<'_>) -> Poll<Result<R, AskError>> {
        if st.timed_out {
            return Poll::Ready(Err(AskError::Timeout));
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Hand the outcome to `forward` instead of a waiting asker: at once if it is known, or
    /// when it comes (from the replier, the actor's end, or the deadline reaper).
    pub(crate) fn forward(self: &Arc<Self>, forward: Forward<R>) {
        let mut st = lock(&self.state);
        let known = if let Some(value) = st.value.take() {
            Some(Ok(value))
        } else if st.replier_gone {
            Some(Err(AskError::NoReply(st.exit.clone())))
        } else if st.timed_out {
            Some(Err(AskError::Timeout))
        } else {
            None
        };
        match known {
            Some(outcome) => {
                st.asker_gone = true;
                drop(st);
                forward(outcome);
            }
            None => {
                st.forward = Some(forward);
                st.keep_alive = Some(Arc::clone(self));
            }
        }
    }

    /// The asker is done with the slot; a late answer is refused.
    pub(crate) fn abandon(&self) {
        let mut st = lock(&self.state);
        st.asker_gone = true;
        st.waker = None;
        let late = st.value.take();
        drop(st);
        drop(late);
    }
}

impl<R: Send> Orphan for AnswerSlot<R> {
    fn orphaned(&self, reason: Option<ExitReason>) {
        replier_lost(self, reason);
    }
}

/// The replier dropped its `Reply` unanswered (`reason`: the exit of the actor that held it,
/// if it exited).
fn replier_lost<R>(slot: &AnswerSlot<R>, reason: Option<ExitReason>) {
    let mut st = lock(&slot.state);
    st.replier_gone = true;
    if let Some(forward) = st.forward.take() {
        st.asker_gone = true;
        let keep = st.keep_alive.take();
        drop(st);
        forward(Err(AskError::NoReply(reason)));
        drop(keep);
        return;
    }
    st.exit = reason;
    let w = st.waker.take();
    drop(st);
    wake(w);
}

impl<R: Send> Expire for AnswerSlot<R> {
    fn expire(&self) {
        let mut st = lock(&self.state);
        if st.asker_gone {
            return;
        }
        st.timed_out = true;
        if let Some(forward) = st.forward.take() {
            st.asker_gone = true;
            let keep = st.keep_alive.take();
            drop(st);
            forward(Err(AskError::Timeout));
            drop(keep);
            return;
        }
        let w = st.waker.take();
        drop(st);
        wake(w);
    }
}

/// The handle an actor uses to answer an [`ActorRef::ask`](crate::ActorRef::ask). Dropping it
/// unanswered makes the asker's call fail with [`AskError::NoReply`]: at the end of the
/// handler that dropped it, carrying the actor's exit reason if that handler crashed it.
pub struct Reply<R> {
    slot: Option<Arc<AnswerSlot<R>>>,
    /// The actor the request was sent to, told when the reply is dropped unanswered.
    target: Option<(Arc<dyn CellOps>, Weak<dyn Orphan>)>,
}

impl<R> fmt::Debug for Reply<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reply(..)")
    }
}

impl<R> Reply<R> {
    pub(crate) fn new(slot: Arc<AnswerSlot<R>>, target: Arc<dyn CellOps>) -> Self
    where
        R: Send + 'static,
    {
        let orphan: Weak<dyn Orphan> = Arc::downgrade(&slot) as Weak<AnswerSlot<R>>;
        Reply { slot: Some(slot), target: Some((target, orphan)) }
    }

    /// Answer the request. Fails, handing the value back, if the asker stopped waiting (it
    /// timed out or was dropped).
    pub fn send(mut self, value: R) -> Result<(), R> {
        let Some(slot) = self.slot.take() else {
            return Err(value);
        };
        let mut st = lock(&slot.state);
        if st.asker_gone || st.timed_out {
            return Err(value);
        }
        if let Some(forward) = st.forward.take() {
            st.asker_gone = true;
            let keep = st.keep_alive.take();
            drop(st);
            forward(Ok(value));
            drop(keep);
            return Ok(());
        }
        st.value = Some(value);
        let w = st.waker.take();
        drop(st);
        wake(w);
        Ok(())
    }

    /// True if the asker stopped waiting (timed out or was dropped).
    pub fn is_closed(&self) -> bool {
        self.slot.as_ref().is_none_or(|slot| {
            let st = lock(&slot.state);
            st.asker_gone || st.timed_out
        })
    }
}

impl<R> Drop for Reply<R> {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        let reason = match self.target.take() {
            Some((target, orphan)) => match target.orphan(orphan) {
                Ok(()) => return,
                Err(reason) => reason,
            },
            None => None,
        };
        replier_lost(&slot, reason);
    }
}
