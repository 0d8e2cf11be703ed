//! Identities and exit reasons: what links, monitors and supervisors are told when an actor
//! stops.

use std::fmt;
use std::sync::Arc;

use crate::actor_ref::ActorHandle;

/// A process-unique actor identity. Ids are never reused within a process and grow with
/// spawn order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(pub(crate) u64);

impl ActorId {
    /// The numeric value of the id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

/// Why an actor incarnation ended.
///
/// `Normal` and `Shutdown` are *normal* exits: a transient child is not restarted after them,
/// and (for `Normal` only, as in Erlang) a linked actor ignores them. Every other reason is
/// abnormal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitReason {
    /// The actor stopped itself or was asked to stop with [`ActorRef::stop`](crate::ActorRef::stop),
    /// or its mailbox was drained and closed.
    Normal,
    /// The actor was stopped by its supervisor or by system shutdown.
    Shutdown,
    /// The actor was killed: stopped immediately, without finishing its current message and
    /// without running its stop hooks.
    Killed,
    /// A handler or hook panicked; the text is the panic message.
    Panic(Arc<str>),
    /// A handler returned an error and [`Actor::on_error`](crate::Actor::on_error) chose to crash.
    Error(Arc<str>),
    /// The `started` hook failed, so the actor never ran.
    StartFailed(Arc<str>),
    /// A linked actor exited abnormally and this actor does not trap exits.
    Linked {
        /// The linked actor that exited.
        from: ActorId,
        /// Its exit reason.
        reason: Box<ExitReason>,
    },
    /// A supervisor exceeded its restart intensity, stopped its children and failed.
    MaxRestarts,
    /// The actor was not alive when a link or monitor was set up.
    NoProc,
    /// A shutdown with a detail (OTP's `{shutdown, Term}`): a normal exit, as `Shutdown`.
    ShutdownWith(Arc<str>),
    /// An abnormal exit with a reason chosen by the actor or by whoever sent it an exit
    /// signal ([`Context::stop_with`](crate::Context::stop_with),
    /// [`ActorHandle::exit`](crate::ActorHandle::exit)).
    Custom(Arc<str>),
}

impl ExitReason {
    /// True for `Normal`, `Shutdown` and `ShutdownWith` (and for a link exit carrying one of
    /// them): the exits after which a transient child is not restarted.
    pub fn is_normal(&self) -> bool {
        match self {
            ExitReason::Normal | ExitReason::Shutdown | ExitReason::ShutdownWith(_) => true,
            ExitReason::Linked { reason, .. } => reason.is_normal(),
            _ => false,
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::Panic(m) => write!(f, "panicked: {m}"),
            ExitReason::Error(m) => write!(f, "error: {m}"),
            ExitReason::StartFailed(m) => write!(f, "start failed: {m}"),
            ExitReason::Linked { from, reason } => {
                write!(f, "linked actor {from} exited ({reason})")
            }
            ExitReason::MaxRestarts => f.write_str("restart intensity exceeded"),
            ExitReason::NoProc => f.write_str("no such actor"),
            ExitReason::ShutdownWith(m) => write!(f, "shutdown: {m}"),
            ExitReason::Custom(m) => f.write_str(m),
        }
    }
}

/// An exit signal from a linked actor, delivered to [`Actor::handle_exit`](crate::Actor::handle_exit)
/// when the receiver traps exits.
#[derive(Debug, Clone)]
pub struct ExitSignal {
    /// The linked actor that exited.
    pub from: ActorHandle,
    /// Why it exited.
    pub reason: ExitReason,
    /// Which incarnation of it exited (0 when it was already gone, or when the signal was
    /// sent with `exit` rather than by a link).
    pub(crate) incarnation: u32,
}

/// Identifies one monitor; returned by [`Context::monitor`](crate::Context::monitor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MonitorRef(pub(crate) u64);

impl MonitorRef {
    /// The numeric value of the reference (unique within the process).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// A down notice, delivered to [`Actor::handle_down`](crate::Actor::handle_down) when a
/// monitored actor exits.
#[derive(Debug, Clone)]
pub struct Down {
    /// The monitor that fired.
    pub monitor: MonitorRef,
    /// The actor that exited.
    pub actor: ActorId,
    /// Why it exited.
    pub reason: ExitReason,
    /// The name it was monitored by ([`Context::monitor_name`](crate::Context::monitor_name));
    /// `actor` is `<0>` when no actor was registered under it.
    pub name: Option<Arc<str>>,
}
