//! Supervisors in the OTP style: strategies, restart types, restart intensity, backoff,
//! ordered start and reverse-ordered stop with shutdown timeouts, nested trees, and children
//! added and removed at run time.
//!
//! A supervisor is itself an actor. It restarts a child *in place*: the child keeps its
//! [`ActorRef`](crate::ActorRef), its registered name and its queued messages; only the actor
//! state is made anew by the child's factory. When a supervisor itself stops or is restarted,
//! its children are stopped for good and the new supervisor starts fresh ones.

// This file holds the `Supervisor` actor: its state, its messages and its `Actor` impl. The
// rest is split by concern: `spec` (how to start a child and a supervisor), `restart` (starting
// and restarting children, and what a child's exit leads to), `stop` (stopping children),
// `supervisor_ref` (`SupervisorRef` and what its queries report), `decision` (the pure OTP
// decision) and `dynamic` (the dynamic supervisor).

mod children;
mod decision;
mod dynamic;
mod restart;
mod spec;
mod stop;
mod supervisor_ref;

pub use decision::{ChildStatus, Decision, Intensity, Restart, RestartWindow, Strategy, decide};
pub(crate) use dynamic::Dynamic;
pub use dynamic::{DynamicSpec, DynamicSupervisorRef};
pub use spec::{AutoShutdown, Backoff, ChildSpec, Shutdown, SupervisorSpec};
pub use supervisor_ref::{ChildCounts, ChildInfo, ChildState, SupervisorRef};

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::actor::Actor;
use crate::actor_ref::ActorHandle;
use crate::cell::{ChildExit, ParentHook};
use crate::context::Context;
use crate::error::{AskError, BoxError, SpawnError};
use crate::exit::{ActorId, ExitReason};
use crate::reply::Reply;
use crate::sync::lock;
use crate::system::System;

/// Supervision failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// A child with this id already exists.
    #[error("a child with id {0:?} already exists")]
    DuplicateId(String),
    /// No child with this id.
    #[error("no child with id {0:?}")]
    UnknownChild(String),
    /// The child (or the supervisor's initial children) failed to start.
    #[error("child {id:?} failed to start: {reason}")]
    StartFailed {
        /// The child id.
        id: String,
        /// Why it failed.
        reason: ExitReason,
    },
    /// The child is running: stop it first ([`SupervisorRef::terminate_child`]).
    #[error("child {0:?} is running")]
    Running(String),
    /// The child is waiting for a restart by its supervisor.
    #[error("child {0:?} is being restarted")]
    Restarting(String),
    /// A permanent child cannot be significant (as in OTP).
    #[error("child {0:?} is permanent and cannot be significant")]
    SignificantPermanent(String),
    /// A dynamic supervisor already has its `max_children`.
    #[error("the supervisor already has its maximum of {0} children")]
    MaxChildren(usize),
    /// The operation needs a dynamic supervisor ([`DynamicSpec`]), or its argument was not
    /// of the type its template takes.
    #[error("not a dynamic supervisor of this child type")]
    NotDynamic,
    /// No child has this actor.
    #[error("no child is actor {0}")]
    UnknownActor(ActorId),
    /// Spawning was refused.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The supervisor did not answer.
    #[error("supervisor unavailable: {0}")]
    Unavailable(#[from] AskError),
}

/// Messages of the supervisor actor. Opaque: use [`SupervisorRef`].
pub struct SupervisorMsg(Command);

impl fmt::Debug for SupervisorMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SupervisorMsg(..)")
    }
}

enum Command {
    ChildExited(ChildExit),
    /// Delayed restarts, from this supervisor's incarnation (a timer set by a previous
    /// incarnation of the supervisor is ignored).
    RestartDue(u32, Vec<Arc<str>>),
    StartChild(ChildSpec, Reply<Result<ActorHandle, SupervisorError>>),
    StartDynamic(Box<dyn Any + Send>, Reply<Result<ActorHandle, SupervisorError>>),
    TerminateChild(Arc<str>, Reply<Result<(), SupervisorError>>),
    TerminateActor(ActorId, Reply<Result<(), SupervisorError>>),
    RestartChild(Arc<str>, Reply<Result<ActorHandle, SupervisorError>>),
    DeleteChild(Arc<str>, Reply<Result<(), SupervisorError>>),
    WhichChildren(Reply<Vec<ChildInfo>>),
    CountChildren(Reply<ChildCounts>),
}

/// The supervisor actor. Spawn it with [`System::spawn_supervisor`] or nest it with
/// [`ChildSpec::supervisor`].
pub struct Supervisor {
    strategy: Strategy,
    intensity: Intensity,
    backoff: Option<Backoff>,
    initial: Vec<ChildSpec>,
    children: children::Children,
    window: RestartWindow,
    epoch: Instant,
    system: Option<System>,
    /// Where a failed initial start is reported to `spawn_supervisor` with its child's id.
    start_failure: Option<Arc<Mutex<Option<SupervisorError>>>>,
    auto_shutdown: AutoShutdown,
    /// The child template of a dynamic supervisor.
    dynamic: Option<Dynamic>,
    /// The id of the next dynamic child.
    next_dynamic: u64,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("strategy", &self.strategy)
            .field("children", &self.children.len())
            .finish()
    }
}

struct Child {
    spec: ChildSpec,
    handle: Option<ActorHandle>,
    incarnation: u32,
    state: Phase,
    consecutive_failures: u32,
    started_at: Instant,
    /// Whether a restart is due, and what it waits for.
    pending: Pending,
    /// Its own restart window, when its spec has an intensity of its own.
    window: RestartWindow,
    /// It exceeded its own intensity and was given up on.
    gave_up: bool,
    /// The children of a group restart that start after this one, held back while its
    /// restart waits for its previous incarnation to finish (`Pending::AwaitingExit`).
    then: Vec<Arc<str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Exited; a restart is scheduled (backoff) or it was left stopped.
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    No,
    /// Scheduled by a decision; `RestartDue` (backoff) or the decision itself starts it.
    Scheduled,
    /// Tried, but the previous incarnation was still finishing: start it on its exit.
    AwaitingExit,
}

impl Supervisor {
    /// A supervisor for `spec` (not yet running).
    pub fn new(spec: SupervisorSpec) -> Self {
        Supervisor {
            strategy: spec.strategy,
            intensity: spec.intensity,
            backoff: spec.backoff,
            initial: spec.children,
            children: children::Children::default(),
            window: RestartWindow::default(),
            epoch: Instant::now(),
            system: None,
            start_failure: None,
            auto_shutdown: spec.auto_shutdown,
            dynamic: spec.dynamic,
            next_dynamic: 1,
        }
    }

    fn parent_hook(ctx: &Context<Self>, restart: Restart) -> ParentHook {
        let me = ctx.myself().clone();
        // Past the mailbox's capacity if need be: losing this message would leave the child
        // waiting for a restart that never comes.
        let notify =
            Arc::new(move |exit| me.cell.push_unbounded(SupervisorMsg(Command::ChildExited(exit))));
        ParentHook { notify, restart }
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.children.index_of(id)
    }

    fn index_of_actor(&self, actor: ActorId) -> Option<usize> {
        self.children.index_of_actor(actor)
    }

    fn state_of(&self, c: &Child) -> ChildState {
        match (c.state, c.pending) {
            (Phase::Running, _) => ChildState::Running,
            (Phase::Down, Pending::No) => ChildState::Stopped,
            (Phase::Down, _) => ChildState::Restarting,
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;

    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.trap_exits(true);
        self.system = Some(ctx.system().clone());
        self.epoch = Instant::now();
        for spec in std::mem::take(&mut self.initial) {
            let started = if self.index_of(&spec.id).is_some() {
                Err(SupervisorError::DuplicateId(spec.id.to_string()))
            } else {
                self.start_new(spec, ctx).await
            };
            if let Err(e) = started {
                self.stop_all(ctx).await;
                if let Some(failure) = &self.start_failure {
                    *lock(failure) = Some(e.clone());
                }
                return Err(Box::new(e));
            }
        }
        Ok(())
    }

    async fn handle(
        &mut self,
        msg: SupervisorMsg,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        match msg.0 {
            Command::ChildExited(exit) => self.on_child_exit(exit, ctx).await,
            Command::RestartDue(incarnation, ids) => {
                if incarnation == ctx.incarnation() {
                    self.restart_ids(&ids, ctx).await;
                }
            }
            Command::StartChild(spec, reply) => {
                let result = if self.index_of(&spec.id).is_some() {
                    Err(SupervisorError::DuplicateId(spec.id.to_string()))
                } else {
                    self.start_new(spec, ctx).await
                };
                let _ = reply.send(result);
            }
            Command::StartDynamic(arg, reply) => {
                let id: Arc<str> = self.next_dynamic.to_string().into();
                self.next_dynamic += 1;
                let spec = self.dynamic.as_ref().and_then(|d| (d.template)(id, arg));
                let result = match spec {
                    Some(spec) => self.start_new(spec, ctx).await,
                    None => Err(SupervisorError::NotDynamic),
                };
                let _ = reply.send(result);
            }
            Command::TerminateChild(id, reply) => {
                let result = match self.index_of(&id) {
                    Some(i) => {
                        self.terminate_at(i, ctx).await;
                        Ok(())
                    }
                    None => Err(SupervisorError::UnknownChild(id.to_string())),
                };
                let _ = reply.send(result);
            }
            Command::TerminateActor(actor, reply) => {
                let result = match self.index_of_actor(actor) {
                    Some(i) => {
                        self.terminate_at(i, ctx).await;
                        Ok(())
                    }
                    None => Err(SupervisorError::UnknownActor(actor)),
                };
                let _ = reply.send(result);
            }
            Command::RestartChild(id, reply) => {
                let result = self.restart_stopped(&id, ctx).await;
                let _ = reply.send(result);
            }
            Command::DeleteChild(id, reply) => {
                let result = match self.index_of(&id) {
                    None => Err(SupervisorError::UnknownChild(id.to_string())),
                    Some(i) => match self.state_of(&self.children[i]) {
                        ChildState::Running => Err(SupervisorError::Running(id.to_string())),
                        ChildState::Restarting => Err(SupervisorError::Restarting(id.to_string())),
                        ChildState::Stopped => {
                            self.children.remove(i);
                            Ok(())
                        }
                    },
                };
                let _ = reply.send(result);
            }
            Command::WhichChildren(reply) => {
                let info = self
                    .children
                    .iter()
                    .map(|c| ChildInfo {
                        id: Arc::clone(&c.spec.id),
                        handle: c.handle.clone(),
                        running: c.state == Phase::Running,
                        state: self.state_of(c),
                        restart: c.spec.restart,
                        gave_up: c.gave_up,
                    })
                    .collect();
                let _ = reply.send(info);
            }
            Command::CountChildren(reply) => {
                let mut counts = ChildCounts { specs: self.children.len(), ..Default::default() };
                for c in self.children.iter() {
                    match self.state_of(c) {
                        ChildState::Running => counts.active += 1,
                        ChildState::Restarting => counts.restarting += 1,
                        ChildState::Stopped => {}
                    }
                    match c.spec.supervisor {
                        true => counts.supervisors += 1,
                        false => counts.workers += 1,
                    }
                }
                let _ = reply.send(counts);
            }
        }
        Ok(())
    }

    async fn stopping(&mut self, _reason: &ExitReason, ctx: &mut Context<Self>) {
        self.stop_all(ctx).await;
    }
}
