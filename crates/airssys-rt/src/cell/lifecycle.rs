//! The lifecycle of a cell: starting an incarnation, stopping and killing it, waiting for its
//! end, finishing it (telling links, monitors, orphaned askers and the supervisor), and closing
//! the cell for good.

use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, Weak};

use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use super::{Cell, Signal, State, Status, drop_lock_then_wake};
use crate::actor_ref::ActorHandle;
use crate::exit::{ActorId, Down, ExitReason, ExitSignal};
use crate::reply::Orphan;
use crate::supervisor::Restart;
use crate::sync::lock;
use crate::system::System;

/// Why a new incarnation could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The cell is closed for good.
    Dead,
    /// The previous incarnation has not finished.
    StillRunning,
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

pub(super) struct ExitWaiter {
    /// Fire only when the actor is dead for good (not on an exit that leads to a restart).
    permanent: bool,
    tx: oneshot::Sender<ExitReason>,
}

/// A number for a tokio task id (ids are non-zero `u64`s and Fx-hashing one is a bijection,
/// so two tasks never share a key and no task has key 0).
pub(super) fn task_key(id: tokio::task::Id) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    id.hash(&mut h);
    h.finish()
}

impl<M: Send + 'static> Cell<M> {
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
        for (link, link_incarnation) in links.into_values() {
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

    /// See `CellOps::kill_with`; `st` is this cell's locked state.
    pub(super) fn kill_locked(&self, mut st: MutexGuard<'_, State<M>>, reason: ExitReason) {
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
}

/// The untyped lifecycle operations: stopping and killing an actor, its incarnations, waiting
/// for its end, and closing its cell.
pub(crate) trait LifecycleOps {
    fn stop(&self, reason: ExitReason) -> bool;
    /// End the running incarnation now with `reason`: it handles nothing more and runs no
    /// hook. An actor that will not be restarted stops taking messages at once.
    fn kill_with(&self, reason: ExitReason);
    fn kill(&self) {
        self.kill_with(ExitReason::Killed);
    }
    /// The running incarnation will be restarted by its supervisor whatever it exits with
    /// (it is being stopped for a group restart).
    fn expect_restart(&self);
    fn set_terminal(&self);
    fn is_alive(&self) -> bool;
    /// True when called from the task of the running incarnation (the actor itself).
    fn is_current_task(&self) -> bool;
    /// See `Cell::defer_orphan`.
    fn orphan(&self, slot: Weak<dyn Orphan>) -> Result<(), Option<ExitReason>>;
    fn incarnation(&self) -> u32;
    fn exit_waiter(&self, permanent: bool) -> Result<oneshot::Receiver<ExitReason>, ExitReason>;
    fn close(&self, incarnation: u32) -> Option<Closed>;
}

impl<M: Send + 'static> LifecycleOps for Cell<M> {
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

    fn expect_restart(&self) {
        lock(&self.state).restart_expected = true;
    }

    fn set_terminal(&self) {
        lock(&self.state).terminal = true;
    }

    fn is_alive(&self) -> bool {
        lock(&self.state).alive()
    }

    fn is_current_task(&self) -> bool {
        self.on_own_task()
    }

    fn orphan(&self, slot: Weak<dyn Orphan>) -> Result<(), Option<ExitReason>> {
        self.defer_orphan(slot)
    }

    fn incarnation(&self) -> u32 {
        lock(&self.state).incarnation
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
}
