//! [`Context`]: what a running actor can do to itself and to others.

use std::time::Duration;

use crate::actor::Actor;
use crate::actor_ref::{ActorHandle, ActorRef};
use crate::cell::{CellOps, Signal};
use crate::exit::{Down, ExitReason, ExitSignal, MonitorRef};
use crate::system::System;
use crate::timer::Timer;

/// Handed to every hook of a running actor.
#[derive(Debug)]
pub struct Context<A: Actor> {
    me: ActorRef<A>,
    system: System,
    pub(crate) stop: Option<ExitReason>,
    pub(crate) trap_exits: bool,
    incarnation: u32,
}

impl<A: Actor> Context<A> {
    pub(crate) fn new(me: ActorRef<A>, system: System, incarnation: u32) -> Self {
        Context { me, system, stop: None, trap_exits: false, incarnation }
    }

    /// This actor's own reference.
    pub fn myself(&self) -> &ActorRef<A> {
        &self.me
    }

    /// The system the actor runs in.
    pub fn system(&self) -> &System {
        &self.system
    }

    /// Which run of the actor this is: 1 for the first, 2 after the first restart, and so on.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// Stop after the current handler returns, with [`ExitReason::Normal`].
    pub fn stop(&mut self) {
        self.stop.get_or_insert(ExitReason::Normal);
    }

    /// Trap exits: exit signals from linked actors are delivered to
    /// [`Actor::handle_exit`] instead of stopping this actor.
    pub fn trap_exits(&mut self, trap: bool) {
        self.trap_exits = trap;
    }

    /// Link this actor with `other`: when either exits, the other gets an exit signal. If
    /// `other` is already gone, this actor gets an exit signal with [`ExitReason::NoProc`].
    pub fn link(&mut self, other: &ActorHandle) {
        if other.id() == self.me.id() {
            return;
        }
        match other.0.add_link(self.me.handle(), self.incarnation) {
            Some(other_incarnation) => {
                self.me.cell.add_link(other.clone(), other_incarnation);
            }
            None => {
                let exit =
                    ExitSignal { from: other.clone(), reason: ExitReason::NoProc, incarnation: 0 };
                self.me.cell.signal(Signal::LinkExit(exit), self.incarnation);
            }
        }
    }

    /// Remove a link in both directions.
    pub fn unlink(&mut self, other: &ActorHandle) {
        other.0.remove_link(self.me.id(), None);
        self.me.cell.remove_link(other.id(), None);
    }

    /// Monitor `other`: when it exits, this actor gets a [`Down`] notice in
    /// [`Actor::handle_down`]. If it is already gone, the notice (with
    /// [`ExitReason::NoProc`]) comes at once. Monitors are one-shot.
    pub fn monitor(&mut self, other: &ActorHandle) -> MonitorRef {
        match other.0.add_monitor(self.me.handle(), self.incarnation) {
            Some(mref) => {
                self.me.cell.add_monitoring(mref, other.clone());
                mref
            }
            None => {
                let mref = crate::cell::next_monitor_ref();
                let down = Down { monitor: mref, actor: other.id(), reason: ExitReason::NoProc };
                self.me.cell.signal(Signal::Down(down), self.incarnation);
                mref
            }
        }
    }

    /// Remove a monitor; no down notice will come for it (unless already queued).
    pub fn demonitor(&mut self, monitor: MonitorRef) {
        if let Some(target) = self.me.cell.remove_monitoring(monitor) {
            target.0.remove_monitor(monitor);
        }
    }

    /// Deliver `msg` to this actor after `delay`.
    pub fn send_after(&self, delay: Duration, msg: A::Msg) -> Timer {
        self.me.send_after(delay, msg)
    }

    /// Deliver a message made by `make` to this actor every `period`.
    pub fn send_interval(
        &self,
        period: Duration,
        make: impl FnMut() -> A::Msg + Send + 'static,
    ) -> Timer {
        self.me.send_interval(period, make)
    }
}
