//! [`Context`]: what a running actor can do to itself and to others.

use std::time::Duration;

use crate::actor::Actor;
use crate::actor_ref::{ActorHandle, ActorRef};
use crate::exit::{ExitReason, MonitorRef};
use crate::link_ref::LinkRef;
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

    /// Stop after the current handler returns, with `reason` (OTP's `{stop, Reason, State}`):
    /// the stop hooks run with it, and links, monitors and the supervisor are told it. A
    /// shutdown-class reason ([`ExitReason::Shutdown`], [`ExitReason::ShutdownWith`]) is a
    /// normal exit for a transient child; anything but `Normal` takes down linked actors that
    /// do not trap exits.
    pub fn stop_with(&mut self, reason: ExitReason) {
        self.stop.get_or_insert(reason);
    }

    /// Trap exits: exit signals from linked actors, and those sent with
    /// [`exit`](Self::exit), are delivered to [`Actor::handle_exit`] instead of ending this
    /// actor. A supervisor stops a child that traps exits gracefully (its stop hooks run,
    /// within its shutdown timeout); one that does not is ended at once, as in OTP.
    pub fn trap_exits(&mut self, trap: bool) {
        self.trap_exits = trap;
        self.me.cell.set_traps(trap);
    }

    /// Send an exit signal with `reason` to `other`, from this actor (OTP's
    /// `exit(Pid, Reason)`); see [`ActorHandle::exit`]. Sent to this actor itself with a
    /// reason other than `Normal` while not trapping, it ends at once.
    pub fn exit(&mut self, other: &ActorHandle, reason: ExitReason) {
        other.0.exit_signal(self.me.handle(), reason, true);
    }

    /// This incarnation as the owner of its links and monitors, for code that cannot hold
    /// the `Context` (a callback, a host function called from a handler).
    pub fn link_ref(&self) -> LinkRef<A> {
        LinkRef { me: self.me.clone(), incarnation: self.incarnation }
    }

    /// Link this actor with `other`: when either exits, the other gets an exit signal. If
    /// `other` is already gone, this actor gets an exit signal with [`ExitReason::NoProc`].
    pub fn link(&mut self, other: &ActorHandle) {
        self.link_ref().link(other)
    }

    /// Remove a link in both directions.
    pub fn unlink(&mut self, other: &ActorHandle) {
        self.link_ref().unlink(other)
    }

    /// Monitor `other`: when it exits, this actor gets a [`Down`](crate::Down) notice in
    /// [`Actor::handle_down`]. If it is already gone, the notice (with
    /// [`ExitReason::NoProc`]) comes at once. Monitors are one-shot.
    pub fn monitor(&mut self, other: &ActorHandle) -> MonitorRef {
        self.link_ref().monitor(other)
    }

    /// Monitor the actor registered under `name` now (OTP's `monitor(process, Name)`): as
    /// [`monitor`](Self::monitor), and the [`Down`](crate::Down) carries the name. If no live
    /// actor is registered under it, the notice (with [`ExitReason::NoProc`]) comes at once.
    pub fn monitor_name(&mut self, name: &str) -> MonitorRef {
        let name: std::sync::Arc<str> = name.into();
        let me = self.link_ref();
        match self.system.whereis(&name) {
            Some(target) => me.monitor_as(&target, Some(name)),
            None => me.down_now(crate::exit::ActorId(0), Some(name)),
        }
    }

    /// Remove a monitor. Returns true if it was removed before it fired (OTP's
    /// `demonitor(Ref, [info])`); false if it had already fired (its down notice may be
    /// queued: use [`demonitor_flush`](Self::demonitor_flush) to drop it) or is unknown.
    pub fn demonitor(&mut self, monitor: MonitorRef) -> bool {
        self.link_ref().demonitor(monitor)
    }

    /// Remove a monitor and drop its down notice if one is already queued (OTP's
    /// `demonitor(Ref, [flush, info])`): afterwards no notice for it reaches
    /// [`Actor::handle_down`]. Returns true if the monitor was removed before it fired, false
    /// if it had fired (its notice, if queued, was dropped) or is unknown.
    pub fn demonitor_flush(&mut self, monitor: MonitorRef) -> bool {
        self.link_ref().demonitor_flush(monitor)
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
