//! The answer slot of one ask: one allocation shared by the asker, the [`Reply`] handle the
//! actor gets, and the system's deadline reaper.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::deadline::Expire;
use crate::error::AskError;

struct State<R> {
    value: Option<R>,
    /// The `Reply` was dropped without answering.
    replier_gone: bool,
    /// The asker stopped waiting (finished, timed out or was dropped).
    asker_gone: bool,
    timed_out: bool,
    waker: Option<Waker>,
}

pub(crate) struct Slot<R> {
    state: Mutex<State<R>>,
}

fn lock<R>(slot: &Slot<R>) -> MutexGuard<'_, State<R>> {
    slot.state.lock().unwrap_or_else(|e| e.into_inner())
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

impl<R> Slot<R> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Slot {
            state: Mutex::new(State {
                value: None,
                replier_gone: false,
                asker_gone: false,
                timed_out: false,
                waker: None,
            }),
        })
    }

    /// The asker's side: the answer, or why there is none.
    pub(crate) fn poll_answer(&self, cx: &mut Context<'_>) -> Poll<Result<R, AskError>> {
        let mut st = lock(self);
        if let Some(v) = st.value.take() {
            return Poll::Ready(Ok(v));
        }
        if st.replier_gone {
            return Poll::Ready(Err(AskError::NoReply));
        }
        self.poll_timed_out(&mut st, cx)
    }

    /// While the request still waits for mailbox room: only the deadline can end the wait.
    pub(crate) fn poll_deadline(&self, cx: &mut Context<'_>) -> Poll<Result<R, AskError>> {
        let mut st = lock(self);
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

    /// The asker is done with the slot; a late answer is refused.
    pub(crate) fn abandon(&self) {
        let mut st = lock(self);
        st.asker_gone = true;
        st.waker = None;
        let late = st.value.take();
        drop(st);
        drop(late);
    }
}

impl<R: Send> Expire for Slot<R> {
    fn expire(&self) {
        let mut st = lock(self);
        st.timed_out = true;
        let w = st.waker.take();
        drop(st);
        wake(w);
    }
}

/// The handle an actor uses to answer an [`ActorRef::ask`](crate::ActorRef::ask). Dropping it
/// unanswered makes the asker's call fail with [`AskError::NoReply`] at once.
pub struct Reply<R>(Option<Arc<Slot<R>>>);

impl<R> fmt::Debug for Reply<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reply(..)")
    }
}

impl<R> Reply<R> {
    pub(crate) fn new(slot: Arc<Slot<R>>) -> Self {
        Reply(Some(slot))
    }

    /// Answer the request. Fails, handing the value back, if the asker stopped waiting (it
    /// timed out or was dropped).
    pub fn send(mut self, value: R) -> Result<(), R> {
        let Some(slot) = self.0.take() else {
            return Err(value);
        };
        let mut st = lock(&slot);
        if st.asker_gone || st.timed_out {
            return Err(value);
        }
        st.value = Some(value);
        let w = st.waker.take();
        drop(st);
        wake(w);
        Ok(())
    }

    /// True if the asker stopped waiting (timed out or was dropped).
    pub fn is_closed(&self) -> bool {
        self.0.as_ref().is_none_or(|slot| {
            let st = lock(slot);
            st.asker_gone || st.timed_out
        })
    }
}

impl<R> Drop for Reply<R> {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            let mut st = lock(&slot);
            st.replier_gone = true;
            let w = st.waker.take();
            drop(st);
            wake(w);
        }
    }
}
