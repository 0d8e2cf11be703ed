//! The mailbox of a cell: the user lane (unbounded or bounded, with drop policies and senders
//! waiting for room), the signal lane, and the receive loop's side of both (it takes the whole
//! queue as one batch).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};

use tokio::sync::Notify;

use super::{Cell, State, Status, drop_lock_then_wake};
use crate::error::{SendError, TrySendError};
use crate::exit::{Down, ExitReason, ExitSignal};
use crate::mailbox::{Delivery, DropPolicy};
use crate::sync::lock;

/// A system signal: travels in the priority lane, ahead of user messages.
pub(crate) enum Signal {
    /// Stop gracefully after the current message, with this reason.
    Stop(ExitReason),
    /// A linked actor exited.
    LinkExit(ExitSignal),
    /// A monitored actor exited. Boxed: a signal is part of every actor's task while it
    /// handles one, and `Down` is the largest of them.
    Down(Box<Down>),
    /// An exit signal sent with `exit` (not from a link), for an actor that traps exits.
    /// Boxed, as `Down`.
    Exit(Box<ExitSignal>),
}

/// What the actor loop takes out of the mailbox next.
pub(crate) enum Received<M> {
    Signal(Signal),
    Msg(M),
    /// The mailbox was closed to new messages and is now empty (drain finished).
    Drained,
    /// The incarnation was killed: it ends now, without taking another message.
    Killed,
}

/// The parts only a bounded mailbox needs.
///
/// The capacity counts every message not yet handed to a handler: those in the shared queue
/// (`State::msgs`) and those the receive loop has taken into its batch but not handed out yet
/// (`Cell::batch_len`). The receive loop hands messages out of its batch without the lock, so
/// a sender that waits for room and the receive loop meet on two atomics instead: the sender
/// counts itself in `waiting` and then reads `batch_len`; the receive loop lowers `batch_len`
/// and then reads `waiting` (all `SeqCst`). At least one of the two sees the other's write, so
/// a sender never waits while nobody will wake it.
pub(super) struct Bounded {
    capacity: usize,
    /// Messages dropped by drop-newest / drop-oldest sends.
    pub(super) dropped: AtomicU64,
    /// Senders waiting for room (counted before they look at the room; see above).
    waiting: AtomicU32,
    /// Senders waiting for room.
    pub(super) space: Notify,
}

impl Bounded {
    pub(super) fn new(capacity: usize) -> Self {
        Bounded {
            capacity,
            dropped: AtomicU64::new(0),
            waiting: AtomicU32::new(0),
            space: Notify::new(),
        }
    }

    /// A message no longer counts against the capacity (its `batch_len` decrement, or the
    /// queue change under the lock, is already made): wake one waiting sender, if any.
    fn wake_one(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.space.notify_one();
        }
    }
}

impl<M: Send + 'static> Cell<M> {
    /// Queue a message, or fail at once. With a drop policy, a full mailbox drops a message
    /// instead of failing.
    pub(crate) fn try_push(
        &self,
        msg: M,
        drop: Option<DropPolicy>,
    ) -> Result<Delivery<M>, TrySendError<M>> {
        self.try_push_map(msg, |m| m, drop)
    }

    /// [`try_push`](Self::try_push) for a value converted into `M` only once it is accepted,
    /// so a refused value is handed back unconverted.
    pub(crate) fn try_push_map<T>(
        &self,
        msg: T,
        map: impl FnOnce(T) -> M,
        drop: Option<DropPolicy>,
    ) -> Result<Delivery<M>, TrySendError<T>> {
        let mut st = lock(&self.state);
        if !st.accepting {
            return Err(TrySendError::Closed(msg));
        }
        let mut outcome = Delivery::Queued;
        if let Some(bounded) = &self.bounded
            && !self.has_room(&st, bounded)
        {
            match drop {
                None => return Err(TrySendError::Full(msg)),
                Some(DropPolicy::Newest) => {
                    bounded.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(Delivery::Dropped(map(msg)));
                }
                // The oldest message the receive loop has not taken yet: those in its batch
                // are out of reach (they are handed out without the lock). If it has taken
                // every counted message (possible only if it took a queue filled past the
                // capacity by `push_unbounded`), nothing can be evicted: the new one is dropped.
                Some(DropPolicy::Oldest) => {
                    bounded.dropped.fetch_add(1, Ordering::Relaxed);
                    match st.msgs.pop_front() {
                        Some(old) => outcome = Delivery::Dropped(old),
                        None => return Ok(Delivery::Dropped(map(msg))),
                    }
                }
            }
        }
        st.msgs.push_back(map(msg));
        let waker = st.rx_waker.take();
        drop_lock_then_wake(st, waker);
        Ok(outcome)
    }

    /// Queue a message, waiting for room in a full bounded mailbox.
    pub(crate) async fn push_wait(&self, msg: M) -> Result<(), SendError<M>> {
        let msg = match self.try_push(msg, None) {
            Ok(_) => return Ok(()),
            Err(TrySendError::Closed(m)) => return Err(SendError(m)),
            Err(TrySendError::Full(m)) => m,
        };
        let Some(bounded) = &self.bounded else {
            // Only a bounded mailbox is ever full.
            return Err(SendError(msg));
        };
        loop {
            let notified = bounded.space.notified();
            tokio::pin!(notified);
            // Register for a wake-up and count as waiting *before* looking at the room, so that
            // a message handed out in between is not missed (see `Bounded`).
            notified.as_mut().enable();
            let _waiting = WaitingSender::new(bounded);
            {
                let mut st = lock(&self.state);
                if !st.accepting {
                    return Err(SendError(msg));
                }
                if self.has_room(&st, bounded) {
                    st.msgs.push_back(msg);
                    let waker = st.rx_waker.take();
                    drop_lock_then_wake(st, waker);
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    /// Queue a message whatever the capacity (for supervisor bookkeeping, which must not be
    /// lost to a full mailbox). Fails only when the mailbox is closed.
    pub(crate) fn push_unbounded(&self, msg: M) -> bool {
        let mut st = lock(&self.state);
        if !st.accepting {
            return false;
        }
        st.msgs.push_back(msg);
        let waker = st.rx_waker.take();
        drop_lock_then_wake(st, waker);
        true
    }

    /// A bounded mailbox has room for one more message: fewer than `capacity` messages are
    /// queued or in the receive loop's batch. `st` is this cell's locked state.
    fn has_room(&self, st: &State<M>, bounded: &Bounded) -> bool {
        let batch = self.batch_len.load(Ordering::SeqCst) as usize;
        st.msgs.len() + batch < bounded.capacity
    }

    /// The receive loop just handed a message out of `inbox` (its batch): count what is left
    /// and, in a bounded mailbox, wake a waiting sender, since the message handed out no longer
    /// counts against the capacity.
    fn handed_out(&self, inbox: &VecDeque<M>) {
        let left = u32::try_from(inbox.len()).unwrap_or(u32::MAX);
        match &self.bounded {
            None => self.batch_len.store(left, Ordering::Relaxed),
            Some(bounded) => {
                self.batch_len.store(left, Ordering::SeqCst);
                bounded.wake_one();
            }
        }
    }

    /// Poll for the next signal or message (signals first).
    ///
    /// The receive loop takes all queued messages at once into its batch (`inbox`), so that
    /// senders and the receiver meet on the lock once per batch rather than once per message;
    /// it still checks the signal lane before every message. Messages in the batch stay
    /// counted (`batch_len`) until each is handed out, so a bounded mailbox's capacity still
    /// counts every message not yet handled, and each message handed out makes room for a
    /// waiting sender as a pop from the queue would.
    pub(crate) fn poll_recv(
        &self,
        inbox: &mut VecDeque<M>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Received<M>> {
        if !self.signal_pending.load(Ordering::Relaxed)
            && let Some(m) = inbox.pop_front()
        {
            self.handed_out(inbox);
            return Poll::Ready(Received::Msg(m));
        }
        let mut st = lock(&self.state);
        if st.killed {
            return Poll::Ready(Received::Killed);
        }
        if let Some(reason) = st.exit.take() {
            if st.signals.is_empty() {
                self.signal_pending.store(false, Ordering::Relaxed);
            }
            return Poll::Ready(Received::Signal(Signal::Stop(reason)));
        }
        if let Some(s) = st.signals.pop_front() {
            if st.signals.is_empty() {
                self.signal_pending.store(false, Ordering::Relaxed);
            }
            return Poll::Ready(Received::Signal(s));
        }
        if let Some(m) = inbox.pop_front() {
            drop(st);
            self.handed_out(inbox);
            return Poll::Ready(Received::Msg(m));
        }
        match &self.bounded {
            None => {
                if !st.msgs.is_empty() {
                    std::mem::swap(&mut st.msgs, inbox);
                    drop(st);
                    let m = inbox.pop_front();
                    self.handed_out(inbox);
                    if let Some(m) = m {
                        return Poll::Ready(Received::Msg(m));
                    }
                    st = lock(&self.state);
                }
            }
            Some(bounded) => {
                // The batch is counted before the lock is released: a sender must never see
                // these messages gone from the queue but not yet in `batch_len`. (At most
                // `u32::MAX` of them, the most `batch_len` can count.)
                if st.msgs.len() <= u32::MAX as usize {
                    std::mem::swap(&mut st.msgs, inbox);
                } else {
                    inbox.extend(st.msgs.drain(..u32::MAX as usize));
                }
                if let Some(m) = inbox.pop_front() {
                    let left = u32::try_from(inbox.len()).unwrap_or(u32::MAX);
                    self.batch_len.store(left, Ordering::SeqCst);
                    drop(st);
                    // `m` no longer counts: room for a waiting sender.
                    bounded.wake_one();
                    return Poll::Ready(Received::Msg(m));
                }
            }
        }
        if !st.accepting {
            return Poll::Ready(Received::Drained);
        }
        match &st.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Put messages taken by an incarnation that ended before handling them back at the front
    /// of the queue, for the next incarnation (or to be dropped if the actor is gone). They
    /// move from `batch_len` to the queue under the lock, so a bounded mailbox's count of
    /// unhandled messages does not change (and no sender is woken).
    pub(crate) fn requeue_front(&self, inbox: &mut VecDeque<M>) {
        if inbox.is_empty() {
            return;
        }
        let mut st = lock(&self.state);
        while let Some(m) = inbox.pop_back() {
            st.msgs.push_front(m);
        }
        self.batch_len.store(0, Ordering::SeqCst);
    }

    pub(crate) fn recv<'a>(&'a self, inbox: &'a mut VecDeque<M>) -> Recv<'a, M> {
        Recv { cell: self, inbox }
    }
}

/// Counts a sender in `Bounded::waiting` while it lives.
struct WaitingSender<'a>(&'a Bounded);

impl<'a> WaitingSender<'a> {
    fn new(bounded: &'a Bounded) -> Self {
        bounded.waiting.fetch_add(1, Ordering::SeqCst);
        WaitingSender(bounded)
    }
}

impl Drop for WaitingSender<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Future returned by [`Cell::recv`].
pub(crate) struct Recv<'a, M> {
    cell: &'a Cell<M>,
    inbox: &'a mut VecDeque<M>,
}

impl<M: Send + 'static> Future for Recv<'_, M> {
    type Output = Received<M>;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Received<M>> {
        let this = self.get_mut();
        this.cell.poll_recv(this.inbox, cx)
    }
}

/// The untyped mailbox operations: the signal lane, and closing the user lane.
pub(crate) trait MailboxOps {
    /// Deliver a signal to incarnation `incarnation` only (dropped if another one runs).
    fn signal(&self, s: Signal, incarnation: u32) -> bool;
    fn drain(&self);
}

impl<M: Send + 'static> MailboxOps for Cell<M> {
    fn signal(&self, s: Signal, incarnation: u32) -> bool {
        let mut st = lock(&self.state);
        if st.status != Status::Running || st.incarnation != incarnation {
            return false;
        }
        st.signals.push_back(s);
        self.signal_pending.store(true, Ordering::Relaxed);
        let waker = st.rx_waker.take();
        drop_lock_then_wake(st, waker);
        true
    }

    fn drain(&self) {
        let mut st = lock(&self.state);
        st.accepting = false;
        st.terminal = true;
        let waker = st.rx_waker.take();
        drop_lock_then_wake(st, waker);
        if let Some(bounded) = &self.bounded {
            bounded.space.notify_waiters();
        }
    }
}
