//! Supervisors in the OTP style: strategies, restart types, restart intensity, backoff,
//! ordered start and reverse-ordered stop with shutdown timeouts, nested trees, and children
//! added and removed at run time.
//!
//! A supervisor is itself an actor. It restarts a child *in place*: the child keeps its
//! [`ActorRef`], its registered name and its queued messages; only the actor state is made
//! anew by the child's factory. When a supervisor itself stops or is restarted, its children
//! are stopped for good and the new supervisor starts fresh ones.

mod decision;
mod dynamic;

pub use decision::{ChildStatus, Decision, Intensity, Restart, RestartWindow, Strategy, decide};
pub(crate) use dynamic::Dynamic;
pub use dynamic::{DynamicSpec, DynamicSupervisorRef};

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::actor::Actor;
use crate::actor_ref::{ActorHandle, ActorRef};
use crate::cell::{ChildExit, ParentHook, Refused};
use crate::context::Context;
use crate::error::{AskError, BoxError, SpawnError};
use crate::exit::ExitReason;
use crate::reply::Reply;
use crate::spawn::StartAck;
use crate::system::{SpawnOptions, System};

/// How a child is stopped by its supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Kill at once.
    Brutal,
    /// Ask it to stop, and kill it if it has not stopped within this time.
    Timeout(Duration),
    /// Ask it to stop and wait as long as it takes (use for child supervisors).
    Infinity,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::Timeout(Duration::from_secs(5))
    }
}

/// Exponential restart backoff: the n-th consecutive restart of a child waits
/// `min(initial * 2^(n-1), max)`, spread by ±`jitter` (a fraction, 0 to 1). A child that ran
/// for `reset_after` before failing starts counting again from 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first restart.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
    /// Random spread as a fraction of the delay (0 = none).
    pub jitter: f64,
    /// Uptime after which the consecutive-failure count resets.
    pub reset_after: Duration,
}

impl Backoff {
    /// The delay before consecutive restart number `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let exp = n.saturating_sub(1).min(20);
        let base = self.initial.saturating_mul(1u32 << exp).min(self.max);
        if self.jitter.is_nan() || self.jitter <= 0.0 {
            return base;
        }
        let spread = self.jitter.min(1.0) * (fastrand::f64() * 2.0 - 1.0);
        Duration::try_from_secs_f64(base.as_secs_f64() * (1.0 + spread).max(0.0))
            .unwrap_or(self.max)
            .min(self.max)
    }
}

trait ChildFactory: Send + Sync {
    fn start(
        &self,
        system: &System,
        parent: ParentHook,
        ack: StartAck,
    ) -> Result<(ActorHandle, u32), SpawnError>;
    fn restart(&self, system: &System, handle: &ActorHandle, ack: StartAck)
    -> Result<u32, Refused>;
}

struct ActorFactory<A, F> {
    make: F,
    options: SpawnOptions,
    _actor: PhantomData<fn() -> A>,
}

impl<A: Actor, F: Fn() -> A + Send + Sync> ChildFactory for ActorFactory<A, F> {
    fn start(
        &self,
        system: &System,
        parent: ParentHook,
        ack: StartAck,
    ) -> Result<(ActorHandle, u32), SpawnError> {
        let (r, incarnation) =
            system.spawn_inner((self.make)(), &self.options, Some(parent), Some(ack))?;
        Ok((r.handle(), incarnation))
    }

    fn restart(
        &self,
        system: &System,
        handle: &ActorHandle,
        ack: StartAck,
    ) -> Result<u32, Refused> {
        let r = handle.downcast::<A>().ok_or(Refused::Dead)?;
        system.restart_in(&r, (self.make)(), Some(ack))
    }
}

/// How to start (and restart) one child.
#[derive(Clone)]
pub struct ChildSpec {
    id: Arc<str>,
    restart: Restart,
    shutdown: Shutdown,
    intensity: Option<Intensity>,
    significant: bool,
    supervisor: bool,
    factory: Arc<dyn ChildFactory>,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("intensity", &self.intensity)
            .field("significant", &self.significant)
            .finish()
    }
}

impl ChildSpec {
    /// A child actor made by `make` (called again for every restart).
    pub fn actor<A: Actor, F: Fn() -> A + Send + Sync + 'static>(
        id: impl Into<Arc<str>>,
        make: F,
    ) -> Self {
        Self::actor_with(id, make, SpawnOptions::default())
    }

    /// A child actor with spawn options (mailbox, registered name).
    pub fn actor_with<A: Actor, F: Fn() -> A + Send + Sync + 'static>(
        id: impl Into<Arc<str>>,
        make: F,
        options: SpawnOptions,
    ) -> Self {
        ChildSpec {
            id: id.into(),
            restart: Restart::Permanent,
            shutdown: Shutdown::default(),
            intensity: None,
            significant: false,
            supervisor: false,
            factory: Arc::new(ActorFactory { make, options, _actor: PhantomData }),
        }
    }

    /// A nested supervisor. Its shutdown defaults to [`Shutdown::Infinity`] so that it can stop
    /// its own children with their own timeouts.
    pub fn supervisor(id: impl Into<Arc<str>>, spec: SupervisorSpec) -> Self {
        let mut child = Self::actor(id, move || Supervisor::new(spec.clone()));
        child.shutdown = Shutdown::Infinity;
        child.supervisor = true;
        child
    }

    /// A significant child (OTP 24's `significant`): when it exits on its own and is not
    /// restarted, its supervisor may shut down, per its [`AutoShutdown`]. Only a transient or
    /// temporary child can be significant; a permanent one is refused when it is started.
    pub fn significant(mut self, significant: bool) -> Self {
        self.significant = significant;
        self
    }

    /// The restart type (default permanent).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// The shutdown policy (default: 5 s, then kill).
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// A restart intensity of this child's own: its restarts count against this window
    /// instead of the supervisor's, and when it exceeds it the supervisor gives up on this
    /// child alone (it is stopped for good and listed as [`ChildInfo::gave_up`]) and goes on
    /// supervising the others. This is what OTP gets by putting the child under a
    /// one-for-one supervisor of its own with this intensity, started as a temporary child:
    /// one child's crash loop does not take its unrelated siblings down.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = Some(Intensity { max_restarts, period });
        self
    }

    /// The child id, unique within its supervisor.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A supervisor's configuration and its children, in start order.
#[derive(Debug, Clone, Default)]
pub struct SupervisorSpec {
    strategy: Strategy,
    intensity: Intensity,
    backoff: Option<Backoff>,
    auto_shutdown: AutoShutdown,
    children: Vec<ChildSpec>,
    /// Set for a dynamic supervisor ([`DynamicSpec`]).
    pub(crate) dynamic: Option<Dynamic>,
}

/// When a supervisor shuts itself down because significant children ended
/// ([`ChildSpec::significant`]); OTP's `auto_shutdown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoShutdown {
    /// Never (the default): significant children are like any other.
    #[default]
    Never,
    /// When any significant child exits on its own and is not restarted.
    AnySignificant,
    /// When every significant child has exited on its own and none will be restarted.
    AllSignificant,
}

impl SupervisorSpec {
    /// A supervisor with this strategy, OTP's default intensity (1 restart in 5 s), no
    /// backoff and no children.
    pub fn new(strategy: Strategy) -> Self {
        SupervisorSpec { strategy, ..Default::default() }
    }

    /// Allow at most `max_restarts` restarts within `period`.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = Intensity { max_restarts, period };
        self
    }

    /// Delay restarts with exponential backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Add a child (children start in the order added).
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// Shut down automatically when significant children end (default: never).
    pub fn auto_shutdown(mut self, auto_shutdown: AutoShutdown) -> Self {
        self.auto_shutdown = auto_shutdown;
        self
    }
}

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
    UnknownActor(crate::exit::ActorId),
    /// Spawning was refused.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The supervisor did not answer.
    #[error("supervisor unavailable: {0}")]
    Unavailable(#[from] AskError),
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
    TerminateActor(crate::exit::ActorId, Reply<Result<(), SupervisorError>>),
    RestartChild(Arc<str>, Reply<Result<ActorHandle, SupervisorError>>),
    DeleteChild(Arc<str>, Reply<Result<(), SupervisorError>>),
    WhichChildren(Reply<Vec<ChildInfo>>),
    CountChildren(Reply<ChildCounts>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Exited; a restart is scheduled (backoff) or it was left stopped.
    Down,
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
enum Pending {
    No,
    /// Scheduled by a decision; `RestartDue` (backoff) or the decision itself starts it.
    Scheduled,
    /// Tried, but the previous incarnation was still finishing: start it on its exit.
    AwaitingExit,
}

/// The supervisor actor. Spawn it with [`System::spawn_supervisor`] or nest it with
/// [`ChildSpec::supervisor`].
pub struct Supervisor {
    strategy: Strategy,
    intensity: Intensity,
    backoff: Option<Backoff>,
    initial: Vec<ChildSpec>,
    children: Vec<Child>,
    window: RestartWindow,
    epoch: Instant,
    system: Option<System>,
    /// Where a failed initial start is reported to `spawn_supervisor` with its child's id.
    start_failure: Option<Arc<std::sync::Mutex<Option<SupervisorError>>>>,
    auto_shutdown: AutoShutdown,
    /// The child template of a dynamic supervisor.
    dynamic: Option<Dynamic>,
    /// The id of the next dynamic child.
    next_dynamic: u64,
}

/// How a restart attempt went.
enum Restarted {
    Started,
    /// The previous incarnation is still finishing: the restart follows its exit.
    Waiting,
    Failed(ExitReason),
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("strategy", &self.strategy)
            .field("children", &self.children.len())
            .finish()
    }
}

impl Supervisor {
    /// A supervisor for `spec` (not yet running).
    pub fn new(spec: SupervisorSpec) -> Self {
        Supervisor {
            strategy: spec.strategy,
            intensity: spec.intensity,
            backoff: spec.backoff,
            initial: spec.children,
            children: Vec::new(),
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

    /// Start a child for the first time and wait for its `started` hook.
    async fn start_new(
        &mut self,
        spec: ChildSpec,
        ctx: &mut Context<Self>,
    ) -> Result<ActorHandle, SupervisorError> {
        if spec.significant && spec.restart == Restart::Permanent {
            return Err(SupervisorError::SignificantPermanent(spec.id.to_string()));
        }
        if let Some(max) = self.dynamic.as_ref().and_then(|d| d.max_children)
            && self.children.len() >= max
        {
            return Err(SupervisorError::MaxChildren(max));
        }
        let system = ctx.system().clone();
        let (tx, rx) = oneshot::channel();
        let hook = Self::parent_hook(ctx, spec.restart);
        let (handle, incarnation) = spec.factory.start(&system, hook, tx)?;
        ctx.link(&handle);
        // Listed before its start completes, so that if this supervisor dies meanwhile the
        // child goes with it.
        let id = Arc::clone(&spec.id);
        self.children.push(Child {
            spec,
            handle: Some(handle.clone()),
            incarnation,
            state: Phase::Running,
            consecutive_failures: 0,
            started_at: Instant::now(),
            pending: Pending::No,
            window: RestartWindow::default(),
            gave_up: false,
            then: Vec::new(),
        });
        let started = rx.await.unwrap_or(Err(ExitReason::Killed));
        if let Err(reason) = started {
            // Its incarnation may still be finishing: mark it final, wait for the end, and
            // make sure it is closed whichever way the exit went.
            self.children.pop();
            ctx.unlink(&handle);
            handle.0.set_terminal();
            handle.wait_for_incarnation_exit().await;
            system.close(&handle, incarnation);
            return Err(SupervisorError::StartFailed { id: id.to_string(), reason });
        }
        Ok(handle)
    }

    /// Start a new incarnation of an existing child (in place), or a fresh cell if its old
    /// one is gone. If the previous incarnation is still finishing, the restart waits for
    /// its exit (see `on_child_exit`).
    async fn restart_at(&mut self, idx: usize, ctx: &mut Context<Self>) -> Restarted {
        let system = ctx.system().clone();
        let (tx, rx) = oneshot::channel();
        let child = &mut self.children[idx];
        child.pending = Pending::No;
        let restarted = match &child.handle {
            Some(h) => child.spec.factory.restart(&system, h, tx).map(|i| (h.clone(), i)),
            None => Err(Refused::Dead),
        };
        let (handle, incarnation, rx) = match restarted {
            Ok((h, i)) => (h, i, rx),
            Err(Refused::StillRunning) => {
                tracing::warn!(child = %child.spec.id, "previous incarnation still running; restart waits for its exit");
                child.pending = Pending::AwaitingExit;
                return Restarted::Waiting;
            }
            Err(Refused::Dead) => {
                let (tx, rx2) = oneshot::channel();
                match child.spec.factory.start(
                    &system,
                    Self::parent_hook(ctx, child.spec.restart),
                    tx,
                ) {
                    Ok((h, i)) => (h, i, rx2),
                    Err(e) => {
                        tracing::warn!(child = %child.spec.id, error = %e, "could not restart child");
                        return Restarted::Failed(ExitReason::StartFailed(e.to_string().into()));
                    }
                }
            }
        };
        child.handle = Some(handle.clone());
        child.incarnation = incarnation;
        child.state = Phase::Running;
        child.gave_up = false;
        child.started_at = Instant::now();
        ctx.link(&handle);
        match rx.await.unwrap_or(Err(ExitReason::Killed)) {
            Ok(()) => Restarted::Started,
            Err(reason) => {
                // Listed as restarting, not running; its failed incarnation's exit, when it
                // arrives, is ignored.
                if let Some(i) = self.index_of_actor(handle.id()) {
                    self.children[i].state = Phase::Down;
                }
                Restarted::Failed(reason)
            }
        }
    }

    /// A restart of child `idx` failed: as in OTP, it counts against the intensity, and the
    /// supervisor tries again (through its own mailbox, after the backoff if any) to start it
    /// and then `rest`, the children after it in a group restart, which stay down until then.
    async fn restart_failed(
        &mut self,
        idx: usize,
        rest: Vec<Arc<str>>,
        reason: ExitReason,
        ctx: &mut Context<Self>,
    ) {
        tracing::warn!(child = %self.children[idx].spec.id, %reason, "restart failed; trying again");
        let now = Instant::now().duration_since(self.epoch);
        let own = self.children[idx].spec.intensity;
        let child = &mut self.children[idx];
        child.state = Phase::Down;
        child.consecutive_failures += 1;
        let within = match own {
            Some(own) => child.window.record(now, own),
            None => self.window.record(now, self.intensity),
        };
        if !within {
            match own {
                Some(_) => self.give_up(idx, ctx),
                None => self.escalate(ctx).await,
            }
            return;
        }
        for id in &rest {
            if let Some(i) = self.index_of(id) {
                self.children[i].pending = Pending::Scheduled;
            }
        }
        let n = self.children[idx].consecutive_failures;
        let delay = self.backoff.map_or(Duration::ZERO, |b| b.delay(n));
        let retry = SupervisorMsg(Command::RestartDue(ctx.incarnation(), rest));
        if delay.is_zero() {
            ctx.myself().cell.push_unbounded(retry);
        } else {
            ctx.send_after(delay, retry);
        }
    }

    /// Child `idx` went over its own intensity: stop it for good, leave the others.
    fn give_up(&mut self, idx: usize, ctx: &mut Context<Self>) {
        let intensity = self.children[idx].spec.intensity.unwrap_or(self.intensity);
        tracing::warn!(
            child = %self.children[idx].spec.id,
            max_restarts = intensity.max_restarts,
            period = ?intensity.period,
            "child exceeded its restart intensity; supervisor gives up on it"
        );
        let child = &mut self.children[idx];
        child.pending = Pending::No;
        child.gave_up = true;
        let system = ctx.system().clone();
        if let Some(h) = &child.handle {
            h.0.set_terminal();
            system.close(h, h.0.incarnation());
        }
        if child.spec.restart == Restart::Temporary {
            self.children.remove(idx);
        }
    }

    /// The supervisor went over its intensity: stop every child and fail.
    async fn escalate(&mut self, ctx: &mut Context<Self>) {
        tracing::warn!(
            max_restarts = self.intensity.max_restarts,
            period = ?self.intensity.period,
            "restart intensity exceeded; supervisor gives up"
        );
        self.stop_all(ctx).await;
        ctx.stop = Some(ExitReason::MaxRestarts);
    }

    fn index_of_actor(&self, actor: crate::exit::ActorId) -> Option<usize> {
        self.children.iter().position(|c| c.handle.as_ref().is_some_and(|h| h.id() == actor))
    }

    /// Whether child `idx`, a significant one that just ended on its own and will not be
    /// restarted, makes the supervisor shut down.
    fn auto_shutdown_due(&self, idx: usize) -> bool {
        if !self.children[idx].spec.significant {
            return false;
        }
        match self.auto_shutdown {
            AutoShutdown::Never => false,
            AutoShutdown::AnySignificant => true,
            AutoShutdown::AllSignificant => self.children.iter().enumerate().all(|(i, c)| {
                i == idx
                    || !c.spec.significant
                    || (c.state == Phase::Down && c.pending == Pending::No)
            }),
        }
    }

    /// Child `idx` ended on its own and stays stopped: a temporary one, and any child of a
    /// dynamic supervisor (as in OTP's `simple_one_for_one`), is removed, and a significant
    /// one may shut the supervisor down.
    async fn left_stopped(&mut self, idx: usize, ctx: &mut Context<Self>) {
        self.children[idx].pending = Pending::No;
        let shut_down = self.auto_shutdown_due(idx);
        if self.dynamic.is_some() || self.children[idx].spec.restart == Restart::Temporary {
            self.children.remove(idx);
        }
        if shut_down {
            tracing::info!("a significant child ended; supervisor shuts down (auto_shutdown)");
            self.stop_all(ctx).await;
            ctx.stop = Some(ExitReason::Shutdown);
        }
    }

    /// Stop a running child and wait for it, per its shutdown policy. With `permanent` the
    /// child is closed for good; otherwise it keeps its mailbox for a restart.
    async fn stop_child(&mut self, idx: usize, permanent: bool, ctx: &mut Context<Self>) {
        let system = ctx.system().clone();
        let child = &mut self.children[idx];
        let Some(handle) = child.handle.clone() else {
            return;
        };
        if permanent {
            handle.0.set_terminal();
            child.pending = Pending::No;
        }
        if child.state == Phase::Running {
            child.state = Phase::Down;
            ctx.unlink(&handle);
            if !permanent {
                // Stopped for a group restart: it comes back whatever it exits with.
                handle.0.expect_restart();
            }
            let exited = handle.wait_for_incarnation_exit();
            tokio::pin!(exited);
            match child.spec.shutdown {
                Shutdown::Brutal => handle.kill(),
                // As OTP's `exit(Child, shutdown)`: a child that does not trap exits ends at
                // once, without its stop hooks; one that traps them stops gracefully.
                Shutdown::Timeout(_) | Shutdown::Infinity if !handle.traps_exits() => {
                    handle.0.kill_with(ExitReason::Shutdown);
                }
                Shutdown::Timeout(_) | Shutdown::Infinity => {
                    handle.0.stop(ExitReason::Shutdown);
                }
            }
            let done = match child.spec.shutdown {
                Shutdown::Timeout(d) => tokio::time::timeout(d, exited.as_mut()).await.is_ok(),
                // Killed already; the bounded wait below applies.
                Shutdown::Brutal => false,
                Shutdown::Infinity => {
                    exited.as_mut().await;
                    true
                }
            };
            if !done {
                if child.spec.shutdown != Shutdown::Brutal {
                    tracing::warn!(child = %child.spec.id, "child did not stop in time; killing it");
                }
                handle.kill();
                let _ = tokio::time::timeout(Duration::from_secs(1), exited).await;
            }
        }
        if permanent {
            system.close(&handle, handle.0.incarnation());
        }
    }

    fn state_of(&self, c: &Child) -> ChildState {
        match (c.state, c.pending) {
            (Phase::Running, _) => ChildState::Running,
            (Phase::Down, Pending::No) => ChildState::Stopped,
            (Phase::Down, _) => ChildState::Restarting,
        }
    }

    /// Stop child `idx` for good. Its spec stays (OTP's `terminate_child`), except for a
    /// temporary child and the children of a dynamic supervisor, which are removed.
    async fn terminate_at(&mut self, idx: usize, ctx: &mut Context<Self>) {
        self.stop_child(idx, true, ctx).await;
        if self.dynamic.is_some() || self.children[idx].spec.restart == Restart::Temporary {
            self.children.remove(idx);
        }
    }

    /// OTP's `restart_child`: start a stopped child again from its spec.
    async fn restart_stopped(
        &mut self,
        id: &str,
        ctx: &mut Context<Self>,
    ) -> Result<ActorHandle, SupervisorError> {
        let i = self.index_of(id).ok_or_else(|| SupervisorError::UnknownChild(id.to_owned()))?;
        match self.state_of(&self.children[i]) {
            ChildState::Running => return Err(SupervisorError::Running(id.to_owned())),
            ChildState::Restarting => return Err(SupervisorError::Restarting(id.to_owned())),
            ChildState::Stopped => {}
        }
        let child = &mut self.children[i];
        child.gave_up = false;
        child.window = RestartWindow::default();
        child.consecutive_failures = 0;
        match self.restart_at(i, ctx).await {
            Restarted::Started | Restarted::Waiting => {
                Ok(self.children[i].handle.clone().expect("a started child has a handle"))
            }
            Restarted::Failed(reason) => {
                // It stays stopped: close what its failed start left.
                let system = ctx.system().clone();
                let child = &mut self.children[i];
                child.pending = Pending::No;
                if let Some(h) = child.handle.clone() {
                    ctx.unlink(&h);
                    h.0.set_terminal();
                    h.wait_for_incarnation_exit().await;
                    system.close(&h, h.0.incarnation());
                }
                Err(SupervisorError::StartFailed { id: id.to_owned(), reason })
            }
        }
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.children.iter().position(|c| &*c.spec.id == id)
    }

    async fn on_child_exit(&mut self, exit: ChildExit, ctx: &mut Context<Self>) {
        let Some(idx) = self
            .children
            .iter()
            .position(|c| c.handle.as_ref().is_some_and(|h| h.id() == exit.actor))
        else {
            return;
        };
        {
            let child = &mut self.children[idx];
            if child.incarnation != exit.incarnation {
                return; // an older incarnation
            }
            if child.state != Phase::Running {
                // We stopped it ourselves. If its restart was waiting for this exit, go on.
                if child.pending == Pending::AwaitingExit {
                    let then = std::mem::take(&mut child.then);
                    match self.restart_at(idx, ctx).await {
                        Restarted::Started => self.restart_ids(&then, ctx).await,
                        Restarted::Waiting => self.children[idx].then = then,
                        Restarted::Failed(reason) => {
                            let mut rest = vec![Arc::clone(&self.children[idx].spec.id)];
                            rest.extend(then);
                            self.restart_failed(idx, rest, reason, ctx).await;
                        }
                    }
                }
                return;
            }
            child.state = Phase::Down;
            if exit.last {
                // Gone for good (it will not be restarted: temporary, transient after a
                // normal exit, or drained): nothing to decide.
                self.left_stopped(idx, ctx).await;
                return;
            }
            if child.started_at.elapsed() >= self.backoff.map_or(Duration::MAX, |b| b.reset_after) {
                child.consecutive_failures = 0;
            }
            child.consecutive_failures += 1;
        }
        tracing::info!(child = %self.children[idx].spec.id, reason = %exit.reason, "child exited");
        let children: Vec<ChildStatus> = self
            .children
            .iter()
            .map(|c| ChildStatus { restart: c.spec.restart, running: c.state == Phase::Running })
            .collect();
        let now = Instant::now().duration_since(self.epoch);
        let own = self.children[idx].spec.intensity;
        let (intensity, window) = match own {
            Some(own) => (own, &mut self.children[idx].window),
            None => (self.intensity, &mut self.window),
        };
        let decision = decide(self.strategy, intensity, window, now, &children, idx, &exit.reason);
        match decision {
            Decision::Escalate if own.is_some() => self.give_up(idx, ctx),
            Decision::Leave => {
                let system = ctx.system().clone();
                if let Some(h) = &self.children[idx].handle {
                    system.close(h, exit.incarnation);
                }
                self.left_stopped(idx, ctx).await;
            }
            Decision::Escalate => self.escalate(ctx).await,
            Decision::Restart { stop, start } => {
                let mut dropped = Vec::new();
                for i in stop {
                    let temporary = self.children[i].spec.restart == Restart::Temporary;
                    self.stop_child(i, temporary, ctx).await;
                    if temporary {
                        dropped.push(Arc::clone(&self.children[i].spec.id));
                    }
                }
                let ids: Vec<Arc<str>> =
                    start.iter().map(|&i| Arc::clone(&self.children[i].spec.id)).collect();
                self.children.retain(|c| !dropped.contains(&c.spec.id));
                for c in &mut self.children {
                    if ids.contains(&c.spec.id) {
                        c.pending = Pending::Scheduled;
                    }
                }
                // The backoff follows the failures of the child that exited.
                let n = self
                    .children
                    .iter()
                    .find(|c| c.handle.as_ref().is_some_and(|h| h.id() == exit.actor))
                    .map_or(1, |c| c.consecutive_failures);
                let delay = self.backoff.map_or(Duration::ZERO, |b| b.delay(n));
                if delay.is_zero() {
                    self.restart_ids(&ids, ctx).await;
                } else {
                    tracing::debug!(?delay, "restart delayed by backoff");
                    ctx.send_after(
                        delay,
                        SupervisorMsg(Command::RestartDue(ctx.incarnation(), ids)),
                    );
                }
            }
        }
    }

    /// Start these children again, in order; the first that fails to start stops the run
    /// (it and the ones after it are retried, see `restart_failed`), and so does one whose
    /// previous incarnation is still finishing (the ones after it start once it has).
    async fn restart_ids(&mut self, ids: &[Arc<str>], ctx: &mut Context<Self>) {
        for (k, id) in ids.iter().enumerate() {
            let Some(i) = self.index_of(id) else { continue };
            if self.children[i].state != Phase::Down
                || self.children[i].pending != Pending::Scheduled
            {
                continue;
            }
            match self.restart_at(i, ctx).await {
                Restarted::Started => {}
                Restarted::Waiting => {
                    self.children[i].then = ids[k + 1..].to_vec();
                    return;
                }
                Restarted::Failed(reason) => {
                    self.restart_failed(i, ids[k..].to_vec(), reason, ctx).await;
                    return;
                }
            }
        }
    }

    /// Stop every child for good: in reverse start order, or all at once for a dynamic
    /// supervisor (its children are independent of each other).
    async fn stop_all(&mut self, ctx: &mut Context<Self>) {
        if self.dynamic.is_some() {
            return self.stop_all_at_once(ctx).await;
        }
        for i in (0..self.children.len()).rev() {
            self.stop_child(i, true, ctx).await;
        }
    }

    async fn stop_all_at_once(&mut self, ctx: &mut Context<Self>) {
        let system = ctx.system().clone();
        let mut stopping = Vec::new();
        for child in &mut self.children {
            let Some(handle) = child.handle.clone() else { continue };
            handle.0.set_terminal();
            child.pending = Pending::No;
            if child.state == Phase::Running {
                child.state = Phase::Down;
                ctx.unlink(&handle);
                match child.spec.shutdown {
                    Shutdown::Brutal => handle.kill(),
                    _ if !handle.traps_exits() => handle.0.kill_with(ExitReason::Shutdown),
                    _ => {
                        handle.0.stop(ExitReason::Shutdown);
                    }
                }
                stopping.push((handle, child.spec.shutdown));
            } else {
                system.close(&handle, handle.0.incarnation());
            }
        }
        let waits = stopping.iter().map(|(handle, shutdown)| async move {
            let done = match *shutdown {
                Shutdown::Timeout(d) => {
                    tokio::time::timeout(d, handle.wait_for_incarnation_exit()).await.is_ok()
                }
                Shutdown::Infinity => {
                    handle.wait_for_incarnation_exit().await;
                    true
                }
                Shutdown::Brutal => false,
            };
            if !done {
                handle.kill();
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    handle.wait_for_incarnation_exit(),
                )
                .await;
            }
        });
        futures_util::future::join_all(waits).await;
        for (handle, _) in stopping {
            system.close(&handle, handle.0.incarnation());
        }
    }
}

impl Drop for Supervisor {
    /// When a supervisor goes away (even killed), its children go with it, so none is left
    /// waiting for a restart that will never come.
    fn drop(&mut self) {
        let Some(system) = &self.system else { return };
        for child in &self.children {
            if let Some(h) = &child.handle {
                h.0.set_terminal();
                h.kill();
                // The name is freed now, so that a replacement supervisor can register a
                // new child under it before this one has finished exiting.
                system.release_name(h);
                system.close(h, h.0.incarnation());
            }
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
            if let Err(e) = self.start_new(spec, ctx).await {
                self.stop_all(ctx).await;
                if let Some(slot) = &self.start_failure {
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
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
                for c in &self.children {
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
    /// not an error. (Before, `terminate_child` also removed the spec: call `delete_child`
    /// after it for that.)
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

    pub(crate) async fn terminate_actor(
        &self,
        actor: crate::exit::ActorId,
    ) -> Result<(), SupervisorError> {
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

impl System {
    /// Spawn a top-level supervisor and wait until its children have started in order. If
    /// one fails to start, the ones already started are stopped and the error says which.
    pub async fn spawn_supervisor(
        &self,
        spec: SupervisorSpec,
    ) -> Result<SupervisorRef, SupervisorError> {
        let (tx, rx) = oneshot::channel();
        let failure = Arc::new(std::sync::Mutex::new(None));
        let mut supervisor = Supervisor::new(spec);
        supervisor.start_failure = Some(Arc::clone(&failure));
        let (actor, _) = self.spawn_inner(supervisor, &SpawnOptions::default(), None, Some(tx))?;
        match rx.await {
            Ok(Ok(())) => Ok(SupervisorRef::from(actor)),
            Ok(Err(reason)) => {
                // The child that failed, with its own reason, when one did.
                let child = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
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
