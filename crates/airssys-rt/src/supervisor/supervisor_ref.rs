//! [`SupervisorRef`], the typed reference to a running supervisor, what its queries report
//! ([`ChildInfo`], [`ChildCounts`], [`ChildState`]), and [`System::spawn_supervisor`].

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::{
    ChildSpec, Command, Restart, Supervisor, SupervisorError, SupervisorMsg, SupervisorSpec,
};
use crate::actor::Actor;
use crate::actor_ref::{ActorHandle, ActorRef};
use crate::exit::{ActorId, ExitReason};
use crate::sync::lock;
use crate::system::{SpawnOptions, System};

/// A typed reference to a running supervisor.
#[derive(Debug, Clone)]
pub struct SupervisorRef {
    actor: ActorRef<Supervisor>,
}

/// How long [`SupervisorRef`] calls wait for the supervisor.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl From<ActorRef<Supervisor>> for SupervisorRef {
    fn from(actor: ActorRef<Supervisor>) -> Self {
        SupervisorRef { actor }
    }
}

impl SupervisorRef {
    /// The supervisor's own actor reference.
    pub fn actor(&self) -> &ActorRef<Supervisor> {
        &self.actor
    }

    /// Its untyped handle.
    pub fn handle(&self) -> ActorHandle {
        self.actor.handle()
    }

    /// Add and start a child at run time (it goes last in start order).
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ActorHandle, SupervisorError> {
        self.actor.ask(|r| SupervisorMsg(Command::StartChild(spec, r)), CALL_TIMEOUT).await?
    }

    /// Stop a child (per its shutdown policy) and keep its spec, as OTP's `terminate_child`
    /// does: it is listed as [`ChildState::Stopped`] until [`restart_child`](Self::restart_child)
    /// starts it again or [`delete_child`](Self::delete_child) removes it. A temporary child
    /// is removed at once (its spec is not kept, as in OTP). Terminating a stopped child is
    /// not an error. To remove the spec too, call `delete_child` after it.
    pub async fn terminate_child(&self, id: &str) -> Result<(), SupervisorError> {
        let id: Arc<str> = id.into();
        self.actor.ask(|r| SupervisorMsg(Command::TerminateChild(id, r)), CALL_TIMEOUT).await?
    }

    /// Start a stopped child again from its spec (OTP's `restart_child`), at its place in the
    /// start order, and wait for its `started` hook. Fails if it is running, being
    /// restarted, unknown, or fails to start (it then stays stopped).
    pub async fn restart_child(&self, id: &str) -> Result<ActorHandle, SupervisorError> {
        let id: Arc<str> = id.into();
        self.actor.ask(|r| SupervisorMsg(Command::RestartChild(id, r)), CALL_TIMEOUT).await?
    }

    /// Remove the spec of a stopped child (OTP's `delete_child`). Fails if it is running,
    /// being restarted, or unknown.
    pub async fn delete_child(&self, id: &str) -> Result<(), SupervisorError> {
        let id: Arc<str> = id.into();
        self.actor.ask(|r| SupervisorMsg(Command::DeleteChild(id, r)), CALL_TIMEOUT).await?
    }

    /// The children in start order.
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        Ok(self.actor.ask(|r| SupervisorMsg(Command::WhichChildren(r)), CALL_TIMEOUT).await?)
    }

    /// How many children there are, and in which state (OTP's `count_children`).
    pub async fn count_children(&self) -> Result<ChildCounts, SupervisorError> {
        Ok(self.actor.ask(|r| SupervisorMsg(Command::CountChildren(r)), CALL_TIMEOUT).await?)
    }

    pub(crate) async fn start_dynamic(
        &self,
        arg: Box<dyn Any + Send>,
    ) -> Result<ActorHandle, SupervisorError> {
        self.actor.ask(|r| SupervisorMsg(Command::StartDynamic(arg, r)), CALL_TIMEOUT).await?
    }

    pub(crate) async fn terminate_actor(&self, actor: ActorId) -> Result<(), SupervisorError> {
        self.actor.ask(|r| SupervisorMsg(Command::TerminateActor(actor, r)), CALL_TIMEOUT).await?
    }

    /// The typed reference of child `id`, if it is an `A`.
    pub async fn child<A: Actor>(&self, id: &str) -> Option<ActorRef<A>> {
        let children = self.which_children().await.ok()?;
        children.into_iter().find(|c| &*c.id == id)?.handle?.downcast::<A>()
    }

    /// Stop the supervisor gracefully (its children stop first, in reverse start order).
    pub fn stop(&self) -> bool {
        self.actor.stop()
    }

    /// Wait until the supervisor is gone for good.
    pub async fn wait_for_exit(&self) -> ExitReason {
        self.actor.wait_for_exit().await
    }
}

/// Where a child is, as [`SupervisorRef::which_children`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// An incarnation runs.
    Running,
    /// It exited and its supervisor will start it again (waiting for a backoff delay, or
    /// for a retry after its restart failed).
    Restarting,
    /// Stopped and not to be restarted: terminated, left after a normal exit, or given up
    /// on. Its spec is kept: [`SupervisorRef::restart_child`] starts it again.
    Stopped,
}

/// What [`SupervisorRef::count_children`] reports (OTP's `count_children`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChildCounts {
    /// Child specs held.
    pub specs: usize,
    /// Children running.
    pub active: usize,
    /// Children waiting for a restart.
    pub restarting: usize,
    /// Children that are supervisors.
    pub supervisors: usize,
    /// Children that are not.
    pub workers: usize,
}

/// What [`SupervisorRef::which_children`] reports for one child.
#[derive(Debug, Clone)]
pub struct ChildInfo {
    /// The child id.
    pub id: Arc<str>,
    /// Its handle (stable across restarts).
    pub handle: Option<ActorHandle>,
    /// True while an incarnation runs (`state == ChildState::Running`).
    pub running: bool,
    /// Running, restarting or stopped.
    pub state: ChildState,
    /// Its restart type.
    pub restart: Restart,
    /// True when it exceeded its own restart intensity ([`ChildSpec::intensity`]) and the
    /// supervisor gave up on it: it stays stopped until it is terminated and started again.
    pub gave_up: bool,
}

impl System {
    /// Spawn a top-level supervisor and wait until its children have started in order. If
    /// one fails to start, the ones already started are stopped and the error says which.
    pub async fn spawn_supervisor(
        &self,
        spec: SupervisorSpec,
    ) -> Result<SupervisorRef, SupervisorError> {
        let (tx, rx) = oneshot::channel();
        let failure = Arc::new(Mutex::new(None));
        let mut supervisor = Supervisor::new(spec);
        supervisor.start_failure = Some(Arc::clone(&failure));
        let (actor, _) = self.spawn_inner(supervisor, &SpawnOptions::default(), None, Some(tx))?;
        match rx.await {
            Ok(Ok(())) => Ok(SupervisorRef::from(actor)),
            Ok(Err(reason)) => {
                // The child that failed, with its own reason, when one did.
                let child = lock(&failure).take();
                Err(child
                    .unwrap_or(SupervisorError::StartFailed { id: "<supervisor>".into(), reason }))
            }
            Err(_) => Err(SupervisorError::StartFailed {
                id: "<supervisor>".into(),
                reason: ExitReason::Killed,
            }),
        }
    }
}
