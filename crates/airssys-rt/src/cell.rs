//! The per-actor shared state: mailbox lanes, status, links, monitors and exit bookkeeping.
//!
//! One `Cell` lives as long as the actor's *address*. A supervised actor keeps its cell (and so
//! its address and queued messages) across restarts; each run of the actor code in it is an
//! *incarnation*. Everything mutable sits behind one uncontended mutex so that an idle actor
//! costs one small allocation.
//!
//! This file holds the `Cell` type, its construction, the state its parts share, and
//! `CellOps`, the untyped face of a cell (what `ActorHandle` holds). The operations are split
//! by concern, each an `impl` block over `Cell` with the part of `CellOps` it serves:
//!
//! - `mailbox`: the user lane (bounded or unbounded, drop policies, the receive loop's batch)
//!   and the signal lane; `MailboxOps`.
//! - `lifecycle`: incarnations, stop, kill, exit waiters, the end of an incarnation and the
//!   closing of the cell; `LifecycleOps`.
//! - `relations`: links, monitors, exit signals and trapping them; `RelationOps`.

mod lifecycle;
mod mailbox;
mod relations;

pub(crate) use lifecycle::{ChildExit, LifecycleOps, ParentHook, Refused};
pub(crate) use mailbox::{MailboxOps, Received, Signal};
pub(crate) use relations::{RelationOps, next_monitor_ref};

use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Waker;

use tokio::task::AbortHandle;

use crate::actor_ref::ActorHandle;
use crate::deadline::Deadlines;
use crate::error::RegistryError;
use crate::exit::{ActorId, ExitReason, MonitorRef};
use crate::mailbox::MailboxConfig;
use crate::metrics::ActorMetrics;
use crate::reply::Orphan;
use crate::sync::lock;

use lifecycle::ExitWaiter;
use mailbox::Bounded;

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
    /// signal is for that incarnation only. By id, so that a supervisor of 100,000 children
    /// links and unlinks in constant time.
    links: std::collections::HashMap<ActorId, (ActorHandle, u32)>,
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
    /// The tokio task of the running incarnation ([`task_key`](lifecycle::task_key); 0 when
    /// none), to tell an ask made by the actor to itself.
    task: AtomicU64,
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
                MailboxConfig::Bounded(n) => Some(Box::new(Bounded::new(n.get()))),
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
}

fn drop_lock_then_wake<T>(guard: MutexGuard<'_, T>, waker: Option<Waker>) {
    drop(guard);
    if let Some(w) = waker {
        w.wake();
    }
}

/// The untyped operations every cell offers; `ActorHandle` is an `Arc<dyn CellOps>`. Those of
/// one concern are in a trait of their own (`MailboxOps`, `LifecycleOps`, `RelationOps`); this
/// one adds what the actor is (its id, registered name and counters) and the way back to its
/// type.
pub(crate) trait CellOps:
    MailboxOps + LifecycleOps + RelationOps + Send + Sync + 'static
{
    fn id(&self) -> ActorId;
    fn name(&self) -> Option<Arc<str>>;
    fn metrics(&self) -> ActorMetrics;
    fn set_name(&self, name: Arc<str>) -> Result<(), RegistryError>;
    fn clear_name(&self);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<M: Send + 'static> CellOps for Cell<M> {
    fn id(&self) -> ActorId {
        self.id
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
