//! How to start a child ([`ChildSpec`], with its restart type, [`Shutdown`] policy and own
//! intensity) and a supervisor ([`SupervisorSpec`], with its strategy, intensity, [`Backoff`]
//! and [`AutoShutdown`]).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::{Dynamic, Intensity, Restart, Strategy, Supervisor};
use crate::actor::Actor;
use crate::actor_ref::ActorHandle;
use crate::cell::{ParentHook, Refused};
use crate::error::SpawnError;
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

pub(super) trait ChildFactory: Send + Sync {
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
    pub(super) id: Arc<str>,
    pub(super) restart: Restart,
    pub(super) shutdown: Shutdown,
    pub(super) intensity: Option<Intensity>,
    pub(super) significant: bool,
    pub(super) supervisor: bool,
    pub(super) factory: Arc<dyn ChildFactory>,
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
    /// child alone (it is stopped for good and listed as
    /// [`ChildInfo::gave_up`](super::ChildInfo::gave_up)) and goes on supervising the others.
    /// This is what OTP gets by putting the child under a one-for-one supervisor of its own
    /// with this intensity, started as a temporary child: one child's crash loop does not take
    /// its unrelated siblings down.
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
    pub(super) strategy: Strategy,
    pub(super) intensity: Intensity,
    pub(super) backoff: Option<Backoff>,
    pub(super) auto_shutdown: AutoShutdown,
    pub(super) children: Vec<ChildSpec>,
    /// Set for a dynamic supervisor ([`DynamicSpec`](super::DynamicSpec)).
    pub(crate) dynamic: Option<Dynamic>,
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
