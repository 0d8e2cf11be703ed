//! The relations of a cell: links, monitors (held on it and by it), and the exit signals that
//! travel along them, trapped or not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Cell, LifecycleOps, MailboxOps, Signal, Status, drop_lock_then_wake};
use crate::actor_ref::ActorHandle;
use crate::exit::{ActorId, ExitReason, ExitSignal, MonitorRef};
use crate::sync::lock;

static NEXT_MONITOR: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_monitor_ref() -> MonitorRef {
    MonitorRef(NEXT_MONITOR.fetch_add(1, Ordering::Relaxed))
}

impl<M: Send + 'static> Cell<M> {
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

    /// Remove a down notice of `mref` queued in the signal lane; true if there was one.
    pub(crate) fn flush_down(&self, mref: MonitorRef) -> bool {
        let mut st = lock(&self.state);
        let before = st.signals.len();
        st.signals.retain(|s| !matches!(s, Signal::Down(d) if d.monitor == mref));
        before != st.signals.len()
    }
}

/// The untyped operations on an actor's links and monitors, and the exit signals they carry.
pub(crate) trait RelationOps {
    /// An exit signal sent with `exit`: delivered to `handle_exit` if the actor traps exits;
    /// otherwise ignored if `Normal` (unless the actor sent it to itself: `by_actor`), else a
    /// kill with that reason. `Killed` cannot be trapped.
    fn exit_signal(&self, from: ActorHandle, reason: ExitReason, by_actor: bool);
    fn traps_exits(&self) -> bool;
    /// The exit of a linked actor, for incarnation `incarnation` of this one: delivered to
    /// `handle_exit` if it traps exits; otherwise `Normal` is ignored and any other reason
    /// ends it at once (no further message, no hook) with `Linked`, as in OTP.
    fn link_exit(&self, exit: ExitSignal, incarnation: u32);
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
}

impl<M: Send + 'static> RelationOps for Cell<M> {
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
            if rel.links.get(&from).is_some_and(|(_, i)| *i == exit.incarnation) {
                rel.links.remove(&from);
            }
        }
        if exit.reason != ExitReason::Normal {
            let reason = ExitReason::Linked { from: exit.from.id(), reason: Box::new(exit.reason) };
            self.kill_locked(st, reason);
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
        match rel.links.get_mut(&other.id()) {
            Some(entry) => entry.1 = other_incarnation,
            None => {
                rel.links.insert(other.id(), (other, other_incarnation));
            }
        }
        Some(incarnation)
    }

    fn remove_link(&self, other: ActorId, incarnation: Option<u32>) {
        let mut st = lock(&self.state);
        if let Some(rel) = st.rel.as_deref_mut()
            && rel.links.get(&other).is_some_and(|(_, i)| incarnation.is_none_or(|x| x == *i))
        {
            rel.links.remove(&other);
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
}
