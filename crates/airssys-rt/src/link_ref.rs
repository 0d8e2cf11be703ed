//! [`LinkRef`]: links and monitors made on behalf of one running actor by code that does not
//! hold its [`Context`](crate::Context): a callback it handed out, or a host function called
//! while it handles a message.

use std::sync::Arc;

use crate::actor::Actor;
use crate::actor_ref::{ActorHandle, ActorRef};
use crate::cell::{MailboxOps, RelationOps, Signal};
use crate::exit::{ActorId, Down, ExitReason, ExitSignal, MonitorRef};

/// One incarnation of a running actor, as the owner of its links and monitors. Made by
/// [`Context::link_ref`](crate::Context::link_ref); what it does is what the `Context`
/// methods of the same names do. Use it only while that incarnation runs (from code the
/// incarnation calls, as a host function called from its handler): links and monitors made
/// through it after the incarnation ended are not undone.
pub struct LinkRef<A: Actor> {
    pub(crate) me: ActorRef<A>,
    pub(crate) incarnation: u32,
}

impl<A: Actor> Clone for LinkRef<A> {
    fn clone(&self) -> Self {
        LinkRef { me: self.me.clone(), incarnation: self.incarnation }
    }
}

impl<A: Actor> std::fmt::Debug for LinkRef<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkRef")
            .field("actor", &self.me.id())
            .field("incarnation", &self.incarnation)
            .finish()
    }
}

impl<A: Actor> LinkRef<A> {
    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.me.id()
    }

    /// The actor's reference.
    pub fn actor(&self) -> &ActorRef<A> {
        &self.me
    }

    /// Link with `other`; see [`Context::link`](crate::Context::link).
    pub fn link(&self, other: &ActorHandle) {
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
                self.me.cell.link_exit(exit, self.incarnation);
            }
        }
    }

    /// Remove a link in both directions; see [`Context::unlink`](crate::Context::unlink).
    pub fn unlink(&self, other: &ActorHandle) {
        other.0.remove_link(self.me.id(), None);
        self.me.cell.remove_link(other.id(), None);
    }

    /// Monitor `other`; see [`Context::monitor`](crate::Context::monitor).
    pub fn monitor(&self, other: &ActorHandle) -> MonitorRef {
        self.monitor_as(other, None)
    }

    pub(crate) fn monitor_as(&self, other: &ActorHandle, name: Option<Arc<str>>) -> MonitorRef {
        match other.0.add_monitor(self.me.handle(), self.incarnation, name.clone()) {
            Some(mref) => {
                self.me.cell.add_monitoring(mref, other.clone());
                mref
            }
            None => self.down_now(other.id(), name),
        }
    }

    pub(crate) fn down_now(&self, actor: ActorId, name: Option<Arc<str>>) -> MonitorRef {
        let mref = crate::cell::next_monitor_ref();
        let down = Down { monitor: mref, actor, reason: ExitReason::NoProc, name };
        self.me.cell.signal(Signal::Down(Box::new(down)), self.incarnation);
        mref
    }

    /// Remove a monitor; see [`Context::demonitor`](crate::Context::demonitor).
    pub fn demonitor(&self, monitor: MonitorRef) -> bool {
        match self.me.cell.remove_monitoring(monitor) {
            Some(target) => target.0.remove_monitor(monitor),
            None => false,
        }
    }

    /// Remove a monitor and drop its queued notice; see
    /// [`Context::demonitor_flush`](crate::Context::demonitor_flush).
    pub fn demonitor_flush(&self, monitor: MonitorRef) -> bool {
        let removed = self.demonitor(monitor);
        self.me.cell.flush_down(monitor);
        removed
    }
}
