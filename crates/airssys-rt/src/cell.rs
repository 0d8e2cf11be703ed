//! The per-actor shared state: mailbox lanes, status, links, monitors and exit bookkeeping.
//!
//! One `Cell` lives as long as the actor's *address*. A supervised actor keeps its cell (and so
//! its address and queued messages) across restarts; each run of the actor code in it is an
//! *incarnation*. Everything mutable sits behind one uncontended mutex so that an idle actor
//! costs one small allocation.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context as TaskContext, Poll, Waker};

use tokio::sync::{Notify, oneshot};
use tokio::task::AbortHandle;

use crate::actor_ref::ActorHandle;
use crate::deadline::Deadlines;
use crate::error::{RegistryError, SendError, TrySendError};
use crate::exit::{ActorId, Down, ExitReason, ExitSignal, MonitorRef};
use crate::mailbox::{Delivery, DropPolicy, MailboxConfig};
use crate::metrics::ActorMetrics;
use crate::reply::Orphan;
use crate::supervisor::Restart;
use crate::system::System;

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

/// Why a new incarnation could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The cell is closed for good.
    Dead,
    /// The previous incarnation has not finished.
    StillRunning,
}

/// Where the actor is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// An incarnation is running (or about to).
    Running,
    /// The incarnation exited and its supervisor will decide whether to restart it; the
    /// mailbox stays open and keeps queued messages.
    Restarting,
    /// Gone for good: the mailbox is closed and its messages were dropped.
    Dead,
}

/// Told to a supervisor when one of its children's incarnations exits.
#[derive(Debug, Clone)]
pub(crate) struct ChildExit {
    pub(crate) actor: ActorId,
    pub(crate) incarnation: u32,
    pub(crate) reason: ExitReason,
    /// The child is gone for good (drained, or stopped for good): it cannot be restarted.
    pub(crate) last: bool,
}

/// A cell that was just closed for good.
#[must_use = "call `notify` once the system has forgotten the actor"]
pub(crate) struct Closed {
    /// The name it was registered under, to be removed from the registry.
    pub(crate) name: Option<Arc<str>>,
    first_waiter: Option<ExitWaiter>,
    waiters: Vec<ExitWaiter>,
    reason: ExitReason,
}

impl Closed {
    /// Wake those waiting for the actor's end. Called after the system has removed the actor,
    /// so a woken waiter never sees it in the actor table or the registry.
    pub(crate) fn notify(self) {
        for w in self.first_waiter.into_iter().chain(self.waiters) {
            let _ = w.tx.send(self.reason.clone());
        }
    }
}

/// The supervisor of a cell: told when an incarnation exits, and the child's restart type,
/// so that the cell knows at its exit whether a restart may follow (a child that will not be
/// restarted releases its name before anyone hears of its exit).
#[derive(Clone)]
pub(crate) struct ParentHook {
    /// Called when an incarnation exits; returns false if the parent is gone.
    pub(crate) notify: Arc<dyn Fn(ChildExit) -> bool + Send + Sync>,
    /// The child's restart type.
    pub(crate) restart: Restart,
}

struct ExitWaiter {
    /// Fire only when the actor is dead for good (not on an exit that leads to a restart).
    permanent: bool,
    tx: oneshot::Sender<ExitReason>,
}

struct State<M> {
    msgs: VecDeque<M>,
    signals: VecDeque<Signal>,
    rx_waker: Option<Waker>,
    status: Status,
    /// False once the mailbox no longer takes user messages (dead, or draining).
    accepting: bool,
    /// The next exit is final even if a supervisor would restart the actor.
    terminal: bool,
    /// The supervisor will restart the running incarnation whatever its exit reason (it is
    /// stopping it for a group restart).
    restart_expected: bool,
    /// The running incarnation was killed (or sent an untrapped exit signal): it handles
    /// nothing more, runs no hook, and exits with exactly the reason in `Relations::killed`
    /// (kept there, out of every actor's cell, because kills are rare).
    killed: bool,
    incarnation: u32,
    abort: Option<AbortHandle>,
    /// While running: a pending stop request (the most common signal, kept out of `signals`
    /// so that a stop allocates nothing; taken before any other signal). After an exit: the
    /// reason of the last exit.
    exit: Option<ExitReason>,
    /// Links, monitors, waiters, parent and name: allocated on first use, so that an idle
    /// actor that has none pays one pointer.
    rel: Option<Box<Relations>>,
    /// The first exit waiter, kept inline: `wait_for_exit` is common and should not need the
    /// relations box. Further waiters go to `Relations::exit_waiters`.
    first_waiter: Option<ExitWaiter>,
}

#[derive(Default)]
struct Relations {
    /// Linked actors, with the incarnation each was in when the link was made: an exit
    /// signal is for that incarnation only.
    links: Vec<(ActorHandle, u32)>,
    /// Monitors others hold on this actor, with the name they monitored it by (if any).
    monitors: Vec<(MonitorRef, ActorHandle, u32, Option<Arc<str>>)>,
    /// Monitors this actor holds on others (removed from them when it exits).
    monitoring: Vec<(MonitorRef, ActorHandle)>,
    exit_waiters: Vec<ExitWaiter>,
    parent: Option<ParentHook>,
    name: Option<Arc<str>>,
    /// Answer slots of asks whose `Reply` was dropped while this actor was handling a message
    /// or ending: their askers learn at the end of that handler whether the actor crashed.
    orphans: Vec<Weak<dyn Orphan>>,
    /// The reason of the kill (or untrapped exit signal) of the running incarnation.
    killed: Option<ExitReason>,
}

impl<M> State<M> {
    /// Not gone for good, and not killed for good (a kill without a restart to follow).
    fn alive(&self) -> bool {
        self.status != Status::Dead && (!self.killed || self.accepting)
    }

    fn rel(&mut self) -> &mut Relations {
        self.rel.get_or_insert_with(Default::default)
    }
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
struct Bounded {
    capacity: usize,
    /// Messages dropped by drop-newest / drop-oldest sends.
    dropped: AtomicU64,
    /// Senders waiting for room (counted before they look at the room; see above).
    waiting: AtomicU32,
    /// Senders waiting for room.
    space: Notify,
}

impl Bounded {
    /// A message no longer counts against the capacity (its `batch_len` decrement, or the
    /// queue change under the lock, is already made): wake one waiting sender, if any.
    fn wake_one(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.space.notify_one();
        }
    }
}

/// The shared half of an actor. `ActorRef<A>` is an `Arc<Cell<A::Msg>>`.
pub(crate) struct Cell<M> {
    pub(crate) id: ActorId,
    state: Mutex<State<M>>,
    /// Capacity, drop count and waiting senders of a bounded mailbox (`None`: unbounded).
    bounded: Option<Box<Bounded>>,
    /// Set while the signal lane is non-empty, so the receive loop can skip the lock when
    /// working through a batch of messages.
    signal_pending: AtomicBool,
    /// Messages taken out of the shared queue by the receive loop and not yet handed to a
    /// handler (`mailbox_len` counts them; so does a bounded mailbox's capacity). Written only
    /// by the receive loop and, once it has ended, by `requeue_front` and `close`; raised only
    /// under the state lock, so a sender holding the lock never sees a message counted in both
    /// the queue and the batch, nor in neither.
    batch_len: AtomicU32,
    /// Where asks to this actor register their deadlines (shared by the whole system).
    pub(crate) deadlines: Arc<Deadlines>,
    pub(crate) handled: AtomicU64,
    restarts: AtomicU32,
    /// The running incarnation traps exits (mirrors `Context::trap_exits`).
    traps: AtomicBool,
    /// Mirrors `State::killed.is_some()`, read without the lock by the receive loop.
    killed: AtomicBool,
    /// A `Reply` dropped now is deferred to `orphans`: a handler runs, or the incarnation ends.
    defer_orphans: AtomicBool,
    /// `orphans` is not empty.
    has_orphans: AtomicBool,
    /// The tokio task of the running incarnation ([`task_key`]; 0 when none), to tell an ask
    /// made by the actor to itself.
    task: AtomicU64,
}

/// A number for a tokio task id (ids are non-zero `u64`s and Fx-hashing one is a bijection,
/// so two tasks never share a key and no task has key 0).
pub(crate) fn task_key(id: tokio::task::Id) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    id.hash(&mut h);
    h.finish()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means some thread panicked while holding it; the state itself is
    // always left consistent by the code below, so keep going rather than spread the panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

static NEXT_MONITOR: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_monitor_ref() -> MonitorRef {
    MonitorRef(NEXT_MONITOR.fetch_add(1, Ordering::Relaxed))
}

impl<M: Send + 'static> Cell<M> {
    pub(crate) fn new(id: ActorId, mailbox: MailboxConfig, deadlines: Arc<Deadlines>) -> Self {
        Cell {
            id,
            state: Mutex::new(State {
                msgs: VecDeque::new(),
                signals: VecDeque::new(),
                rx_waker: None,
                status: Status::Running,
                accepting: true,
                terminal: false,
                restart_expected: false,
                killed: false,
                incarnation: 0,
                abort: None,
                exit: None,
                rel: None,
                first_waiter: None,
            }),
            bounded: match mailbox {
                MailboxConfig::Unbounded => None,
                MailboxConfig::Bounded(n) => Some(Box::new(Bounded {
                    capacity: n.get(),
                    dropped: AtomicU64::new(0),
                    waiting: AtomicU32::new(0),
                    space: Notify::new(),
                })),
            },
            signal_pending: AtomicBool::new(false),
            batch_len: AtomicU32::new(0),
            deadlines,
            handled: AtomicU64::new(0),
            restarts: AtomicU32::new(0),
            traps: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            defer_orphans: AtomicBool::new(false),
            has_orphans: AtomicBool::new(false),
            task: AtomicU64::new(0),
        }
    }

    // ----- user lane -------------------------------------------------------------------

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

    // ----- lifecycle -------------------------------------------------------------------

    /// Prepare a new incarnation: returns its number, or `None` if the cell is dead.
    pub(crate) fn begin_incarnation(&self, parent: Option<ParentHook>) -> Result<u32, Refused> {
        let mut st = lock(&self.state);
        match st.status {
            Status::Dead => return Err(Refused::Dead),
            // Never two incarnations in one cell: the previous one has not finished yet (a
            // kill takes effect at its next await point).
            Status::Running if st.incarnation > 0 => return Err(Refused::StillRunning),
            _ => {}
        }
        if st.incarnation > 0 {
            self.restarts.fetch_add(1, Ordering::Relaxed);
            st.killed = false;
            if let Some(rel) = st.rel.as_deref_mut() {
                rel.killed = None;
            }
            st.restart_expected = false;
            self.killed.store(false, Ordering::Relaxed);
            // Signals meant for the previous incarnation (a stop, a down notice of a monitor
            // it held) must not reach the new one. Before the first incarnation there is no
            // previous one: a stop or kill sent that early is kept.
            st.signals.clear();
            st.exit = None;
            self.signal_pending.store(false, Ordering::Relaxed);
        }
        st.incarnation += 1;
        st.status = Status::Running;
        self.traps.store(false, Ordering::Relaxed);
        self.defer_orphans.store(false, Ordering::Relaxed);
        if parent.is_some() {
            st.rel().parent = parent;
        }
        Ok(st.incarnation)
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

    /// Record the task of the running incarnation so that `kill` can cancel it.
    pub(crate) fn set_abort(&self, incarnation: u32, abort: AbortHandle) {
        let mut st = lock(&self.state);
        if st.incarnation != incarnation || st.status != Status::Running {
            return;
        }
        if st.killed {
            drop(st);
            abort.abort();
        } else {
            st.abort = Some(abort);
        }
    }

    /// Finish an incarnation: close the cell first if no restart can follow (so that its name
    /// is free before anyone hears of the exit), then tell links, monitors, askers whose
    /// request it dropped, and the supervisor. Runs from the incarnation's exit guard, so it
    /// must never panic.
    pub(crate) fn finish(
        self: &Arc<Self>,
        me: &ActorHandle,
        incarnation: u32,
        reason: ExitReason,
        system: &System,
    ) {
        let mut st = lock(&self.state);
        if st.incarnation != incarnation || st.status != Status::Running {
            return;
        }
        st.abort = None;
        self.task.store(0, Ordering::Relaxed);
        // A kill is final: whatever the incarnation was doing, it exits with the kill's reason.
        let killed = st.rel.as_deref_mut().and_then(|r| r.killed.take());
        let reason = killed.unwrap_or(reason);
        let terminal = st.terminal;
        let restart_expected = st.restart_expected;
        let mut fire_now: Vec<ExitWaiter> = Vec::new();
        let (links, monitors, monitoring, parent, orphans) = match st.rel.as_deref_mut() {
            None => Default::default(),
            Some(rel) => (
                std::mem::take(&mut rel.links),
                std::mem::take(&mut rel.monitors),
                std::mem::take(&mut rel.monitoring),
                rel.parent.clone(),
                std::mem::take(&mut rel.orphans),
            ),
        };
        self.has_orphans.store(false, Ordering::Relaxed);
        // Whether a supervisor may start another incarnation in this cell. A final exit is
        // still reported to it (so that it stops counting the child as running).
        let may_restart = !terminal
            && parent
                .as_ref()
                .is_some_and(|p| restart_expected || p.restart.should_restart(&reason));
        if may_restart {
            // Waiters for the end of this incarnation fire now; `close` fires the others once
            // the actor is gone for good.
            if st.first_waiter.as_ref().is_some_and(|w| !w.permanent) {
                fire_now.extend(st.first_waiter.take());
            }
            if let Some(rel) = st.rel.as_deref_mut()
                && rel.exit_waiters.iter().any(|w| !w.permanent)
            {
                let (now, keep) =
                    std::mem::take(&mut rel.exit_waiters).into_iter().partition(|w| !w.permanent);
                fire_now.extend::<Vec<ExitWaiter>>(now);
                rel.exit_waiters = keep;
            }
        }
        st.exit = Some(reason.clone());
        st.status = Status::Restarting;
        drop(st);

        let mut closed = match may_restart {
            true => None,
            false => self.close(incarnation),
        };
        if let Some(c) = &closed {
            system.forget(self.id, c.name.clone());
        }
        for o in orphans {
            if let Some(o) = o.upgrade() {
                o.orphaned(Some(reason.clone()));
            }
        }
        for w in fire_now {
            let _ = w.tx.send(reason.clone());
        }
        for (mref, target) in monitoring {
            target.0.remove_monitor(mref);
        }
        for (link, link_incarnation) in links {
            let exit = ExitSignal { from: me.clone(), reason: reason.clone(), incarnation };
            link.0.link_exit(exit, link_incarnation);
        }
        for (mref, watcher, watcher_incarnation, name) in monitors {
            let down = Down { monitor: mref, actor: self.id, reason: reason.clone(), name };
            watcher.0.signal(Signal::Down(Box::new(down)), watcher_incarnation);
        }
        if let Some(parent) = parent {
            let accepted = (parent.notify)(ChildExit {
                actor: self.id,
                incarnation,
                reason: reason.clone(),
                last: !may_restart,
            });
            if may_restart && !accepted {
                // The supervisor is gone: nobody will restart the actor.
                closed = self.close(incarnation);
                if let Some(c) = &closed {
                    system.forget(self.id, c.name.clone());
                }
            }
        }
        match closed {
            Some(c) => c.notify(),
            None => tracing::debug!(actor = %self.id, %reason, "actor exited; awaiting supervisor"),
        }
    }

    /// A `Reply` to an ask made to this actor was dropped unanswered. While a handler runs
    /// (or the incarnation ends) its asker is told at the end of it, with the exit reason if
    /// the actor crashed; otherwise at once (`Err`, with the reason of an exit already made).
    fn defer_orphan(&self, slot: Weak<dyn Orphan>) -> Result<(), Option<ExitReason>> {
        let mut st = lock(&self.state);
        match st.status {
            Status::Running if self.defer_orphans.load(Ordering::Relaxed) => {
                st.rel().orphans.push(slot);
                self.has_orphans.store(true, Ordering::Relaxed);
                Ok(())
            }
            Status::Running => Err(None),
            Status::Restarting | Status::Dead => Err(st.exit.clone()),
        }
    }

    /// A handler is about to run (`true`) or returned and the actor goes on (`false`): in the
    /// latter case, askers whose `Reply` it dropped learn that no answer will come.
    pub(crate) fn in_handler(&self, running: bool) {
        self.defer_orphans.store(running, Ordering::Relaxed);
        if !running && self.has_orphans.load(Ordering::Relaxed) {
            let orphans = {
                let mut st = lock(&self.state);
                self.has_orphans.store(false, Ordering::Relaxed);
                st.rel.as_deref_mut().map(|r| std::mem::take(&mut r.orphans)).unwrap_or_default()
            };
            for o in orphans.into_iter().filter_map(|o| o.upgrade()) {
                o.orphaned(None);
            }
        }
    }

    /// True once the running incarnation was killed.
    pub(crate) fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// Called first thing by the task of a new incarnation, so that an ask it makes to itself
    /// (even from `started`) is recognised.
    pub(crate) fn set_task(&self) {
        if let Some(id) = tokio::task::try_id() {
            self.task.store(task_key(id), Ordering::Relaxed);
        }
    }

    /// True when called from the task of the running incarnation (the actor itself).
    fn on_own_task(&self) -> bool {
        tokio::task::try_id().is_some_and(|id| self.task.load(Ordering::Relaxed) == task_key(id))
    }

    /// Remove a down notice of `mref` queued in the signal lane; true if there was one.
    pub(crate) fn flush_down(&self, mref: MonitorRef) -> bool {
        let mut st = lock(&self.state);
        let before = st.signals.len();
        st.signals.retain(|s| !matches!(s, Signal::Down(d) if d.monitor == mref));
        before != st.signals.len()
    }

    /// See `CellOps::kill_with`; `st` is this cell's locked state.
    fn kill_locked(&self, mut st: MutexGuard<'_, State<M>>, reason: ExitReason) {
        if st.status != Status::Running || st.killed {
            return;
        }
        // Without a supervisor to restart it, the actor is gone from this moment on: it takes
        // no more messages and `is_alive` is false. A supervised one keeps its mailbox for
        // its next incarnation (never handled by this one).
        let restartable = st
            .rel
            .as_ref()
            .and_then(|r| r.parent.as_ref())
            .is_some_and(|p| st.restart_expected || p.restart.should_restart(&reason));
        let last = st.terminal || !restartable;
        if last {
            st.accepting = false;
        }
        st.killed = true;
        st.rel().killed = Some(reason);
        self.killed.store(true, Ordering::Relaxed);
        self.defer_orphans.store(true, Ordering::Relaxed);
        self.signal_pending.store(true, Ordering::Relaxed);
        let abort = st.abort.take();
        let waker = st.rx_waker.take();
        drop_lock_then_wake(st, waker);
        if let Some(abort) = abort {
            abort.abort();
        }
        if last && let Some(bounded) = &self.bounded {
            bounded.space.notify_waiters();
        }
    }

    /// Mirror `Context::trap_exits`.
    pub(crate) fn set_traps(&self, trap: bool) {
        self.traps.store(trap, Ordering::Relaxed);
    }

    pub(crate) fn add_monitoring(&self, mref: MonitorRef, target: ActorHandle) {
        lock(&self.state).rel().monitoring.push((mref, target));
    }

    pub(crate) fn remove_monitoring(&self, mref: MonitorRef) -> Option<ActorHandle> {
        let mut st = lock(&self.state);
        let rel = st.rel.as_deref_mut()?;
        let pos = rel.monitoring.iter().position(|(m, _)| *m == mref)?;
        Some(rel.monitoring.swap_remove(pos).1)
    }
}

fn drop_lock_then_wake<T>(guard: MutexGuard<'_, T>, waker: Option<Waker>) {
    drop(guard);
    if let Some(w) = waker {
        w.wake();
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

/// The untyped operations every cell offers; `ActorHandle` is an `Arc<dyn CellOps>`.
pub(crate) trait CellOps: Send + Sync + 'static {
    fn id(&self) -> ActorId;
    /// Deliver a signal to incarnation `incarnation` only (dropped if another one runs).
    fn signal(&self, s: Signal, incarnation: u32) -> bool;
    fn stop(&self, reason: ExitReason) -> bool;
    /// End the running incarnation now with `reason`: it handles nothing more and runs no
    /// hook. An actor that will not be restarted stops taking messages at once.
    fn kill_with(&self, reason: ExitReason);
    fn kill(&self) {
        self.kill_with(ExitReason::Killed);
    }
    /// An exit signal sent with `exit`: delivered to `handle_exit` if the actor traps exits;
    /// otherwise ignored if `Normal` (unless the actor sent it to itself: `by_actor`), else a
    /// kill with that reason. `Killed` cannot be trapped.
    fn exit_signal(&self, from: ActorHandle, reason: ExitReason, by_actor: bool);
    fn traps_exits(&self) -> bool;
    /// The exit of a linked actor, for incarnation `incarnation` of this one: delivered to
    /// `handle_exit` if it traps exits; otherwise `Normal` is ignored and any other reason
    /// ends it at once (no further message, no hook) with `Linked`, as in OTP.
    fn link_exit(&self, exit: ExitSignal, incarnation: u32);
    /// The running incarnation will be restarted by its supervisor whatever it exits with
    /// (it is being stopped for a group restart).
    fn expect_restart(&self);
    /// True when called from the task of the running incarnation (the actor itself).
    fn is_current_task(&self) -> bool;
    /// See `Cell::defer_orphan`.
    fn orphan(&self, slot: Weak<dyn Orphan>) -> Result<(), Option<ExitReason>>;
    fn drain(&self);
    fn set_terminal(&self);
    fn is_alive(&self) -> bool;
    fn name(&self) -> Option<Arc<str>>;
    fn metrics(&self) -> ActorMetrics;
    /// Link to `other` (in its incarnation `other_incarnation`); returns this actor's
    /// incarnation, or `None` if none is running.
    fn add_link(&self, other: ActorHandle, other_incarnation: u32) -> Option<u32>;
    /// Remove the link with `other`; with `Some(incarnation)`, only if it was made with that
    /// incarnation of it (a late exit signal must not remove a newer link).
    fn remove_link(&self, other: ActorId, incarnation: Option<u32>);
    fn add_monitor(
        &self,
        watcher: ActorHandle,
        watcher_incarnation: u32,
        name: Option<Arc<str>>,
    ) -> Option<MonitorRef>;
    /// Remove a monitor held on this actor; true if it was there (it had not fired).
    fn remove_monitor(&self, mref: MonitorRef) -> bool;
    fn exit_waiter(&self, permanent: bool) -> Result<oneshot::Receiver<ExitReason>, ExitReason>;
    fn close(&self, incarnation: u32) -> Option<Closed>;
    fn incarnation(&self) -> u32;
    fn set_name(&self, name: Arc<str>) -> Result<(), RegistryError>;
    fn clear_name(&self);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<M: Send + 'static> CellOps for Cell<M> {
    fn id(&self) -> ActorId {
        self.id
    }

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

    fn stop(&self, reason: ExitReason) -> bool {
        let mut st = lock(&self.state);
        if st.status != Status::Running {
            return false;
        }
        // A second stop request before the first is handled keeps the first reason.
        st.exit.get_or_insert(reason);
        self.signal_pending.store(true, Ordering::Relaxed);
        let waker = st.rx_waker.take();
        drop_lock_then_wake(st, waker);
        true
    }

    fn kill_with(&self, reason: ExitReason) {
        self.kill_locked(lock(&self.state), reason);
    }

    fn link_exit(&self, exit: ExitSignal, incarnation: u32) {
        if self.traps.load(Ordering::Relaxed) {
            self.signal(Signal::LinkExit(exit), incarnation);
            return;
        }
        let mut st = lock(&self.state);
        if st.status != Status::Running || st.incarnation != incarnation {
            return;
        }
        if let Some(rel) = st.rel.as_deref_mut() {
            let from = exit.from.id();
            rel.links.retain(|(l, i)| l.id() != from || *i != exit.incarnation);
        }
        if exit.reason != ExitReason::Normal {
            let reason = ExitReason::Linked { from: exit.from.id(), reason: Box::new(exit.reason) };
            self.kill_locked(st, reason);
        }
    }

    fn exit_signal(&self, from: ActorHandle, reason: ExitReason, by_actor: bool) {
        if reason == ExitReason::Killed {
            return self.kill();
        }
        if self.traps.load(Ordering::Relaxed) {
            let mut st = lock(&self.state);
            if st.status != Status::Running {
                return;
            }
            st.signals.push_back(Signal::Exit(Box::new(ExitSignal {
                from,
                reason,
                incarnation: 0,
            })));
            self.signal_pending.store(true, Ordering::Relaxed);
            let waker = st.rx_waker.take();
            drop_lock_then_wake(st, waker);
        } else if reason != ExitReason::Normal || (by_actor && from.id() == self.id) {
            self.kill_with(reason);
        }
    }

    fn traps_exits(&self) -> bool {
        self.traps.load(Ordering::Relaxed)
    }

    fn expect_restart(&self) {
        lock(&self.state).restart_expected = true;
    }

    fn orphan(&self, slot: Weak<dyn Orphan>) -> Result<(), Option<ExitReason>> {
        self.defer_orphan(slot)
    }

    fn is_current_task(&self) -> bool {
        self.on_own_task()
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

    fn set_terminal(&self) {
        lock(&self.state).terminal = true;
    }

    fn is_alive(&self) -> bool {
        lock(&self.state).alive()
    }

    fn name(&self) -> Option<Arc<str>> {
        lock(&self.state).rel.as_ref().and_then(|r| r.name.clone())
    }

    fn metrics(&self) -> ActorMetrics {
        let st = lock(&self.state);
        ActorMetrics {
            handled: self.handled.load(Ordering::Relaxed),
            mailbox_len: st.msgs.len() + self.batch_len.load(Ordering::Relaxed) as usize,
            dropped: self.bounded.as_ref().map_or(0, |b| b.dropped.load(Ordering::Relaxed)),
            restarts: self.restarts.load(Ordering::Relaxed),
            alive: st.alive(),
        }
    }

    fn add_link(&self, other: ActorHandle, other_incarnation: u32) -> Option<u32> {
        let mut st = lock(&self.state);
        if st.status != Status::Running || st.killed {
            return None;
        }
        // Before its first start the actor is about to become incarnation 1.
        let incarnation = st.incarnation.max(1);
        let rel = st.rel();
        match rel.links.iter_mut().find(|(l, _)| l.id() == other.id()) {
            Some(entry) => entry.1 = other_incarnation,
            None => rel.links.push((other, other_incarnation)),
        }
        Some(incarnation)
    }

    fn remove_link(&self, other: ActorId, incarnation: Option<u32>) {
        if let Some(rel) = lock(&self.state).rel.as_deref_mut() {
            rel.links.retain(|(l, i)| l.id() != other || incarnation.is_some_and(|x| x != *i));
        }
    }

    fn add_monitor(
        &self,
        watcher: ActorHandle,
        watcher_incarnation: u32,
        name: Option<Arc<str>>,
    ) -> Option<MonitorRef> {
        let mut st = lock(&self.state);
        if st.status != Status::Running || st.killed {
            return None;
        }
        let mref = next_monitor_ref();
        st.rel().monitors.push((mref, watcher, watcher_incarnation, name));
        Some(mref)
    }

    fn remove_monitor(&self, mref: MonitorRef) -> bool {
        let mut st = lock(&self.state);
        let Some(rel) = st.rel.as_deref_mut() else { return false };
        let before = rel.monitors.len();
        rel.monitors.retain(|(m, _, _, _)| *m != mref);
        before != rel.monitors.len()
    }

    fn exit_waiter(&self, permanent: bool) -> Result<oneshot::Receiver<ExitReason>, ExitReason> {
        let mut st = lock(&self.state);
        match st.status {
            Status::Dead => Err(st.exit.clone().unwrap_or(ExitReason::Normal)),
            Status::Restarting if !permanent => Err(st.exit.clone().unwrap_or(ExitReason::Normal)),
            _ => {
                // Waiters whose receiver is gone (a `wait_for_exit` that timed out) are
                // dropped here, so repeated waits on a long-lived actor do not pile up.
                if st.first_waiter.as_ref().is_some_and(|w| w.tx.is_closed()) {
                    st.first_waiter = None;
                }
                if let Some(rel) = st.rel.as_deref_mut() {
                    rel.exit_waiters.retain(|w| !w.tx.is_closed());
                }
                let (tx, rx) = oneshot::channel();
                let waiter = ExitWaiter { permanent, tx };
                match st.first_waiter {
                    None => st.first_waiter = Some(waiter),
                    Some(_) => st.rel().exit_waiters.push(waiter),
                }
                Ok(rx)
            }
        }
    }

    /// Close the cell for good (unless a newer incarnation already started): drop queued
    /// messages, wake waiting senders and permanent exit waiters. The caller removes the
    /// returned name from the registry.
    fn close(&self, incarnation: u32) -> Option<Closed> {
        let mut st = lock(&self.state);
        if st.status != Status::Restarting || st.incarnation != incarnation {
            return None;
        }
        st.status = Status::Dead;
        st.accepting = false;
        let msgs = std::mem::take(&mut st.msgs);
        st.signals.clear();
        st.rx_waker = None;
        // Dropping the relations also drops the parent hook, which holds the supervisor.
        let rel = st.rel.take().map(|r| *r).unwrap_or_default();
        let first_waiter = st.first_waiter.take();
        let waiters = rel.exit_waiters;
        let name = rel.name;
        let reason = st.exit.clone().unwrap_or(ExitReason::Normal);
        drop(st);
        // Dropping queued messages drops any reply handles in them, so pending asks fail
        // with `NoReply` instead of hanging.
        drop(msgs);
        self.batch_len.store(0, Ordering::Relaxed);
        if let Some(bounded) = &self.bounded {
            bounded.space.notify_waiters();
        }
        tracing::debug!(actor = %self.id, %reason, "actor stopped");
        Some(Closed { name, first_waiter, waiters, reason })
    }

    fn incarnation(&self) -> u32 {
        lock(&self.state).incarnation
    }

    fn set_name(&self, name: Arc<str>) -> Result<(), RegistryError> {
        let mut st = lock(&self.state);
        if st.status == Status::Dead {
            return Err(RegistryError::NotAlive);
        }
        let rel = st.rel();
        match &rel.name {
            Some(existing) => Err(RegistryError::AlreadyNamed(existing.to_string())),
            None => {
                rel.name = Some(name);
                Ok(())
            }
        }
    }

    fn clear_name(&self) {
        if let Some(rel) = lock(&self.state).rel.as_deref_mut() {
            rel.name = None;
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
