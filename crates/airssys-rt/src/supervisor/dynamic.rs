//! The dynamic supervisor (OTP's `simple_one_for_one`, Elixir's `DynamicSupervisor`): one
//! child template, many children started at run time with an argument each.
//!
//! It is a [`Supervisor`] with a template instead of a child list: one-for-one, its children
//! restarted in place per the template's restart type, counted against its intensity, and at
//! its shutdown all stopped at once (they are independent of each other), not one by one.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::{
    ChildCounts, ChildInfo, ChildSpec, Restart, Shutdown, Strategy, SupervisorError, SupervisorRef,
    SupervisorSpec,
};
use crate::actor::Actor;
use crate::actor_ref::{ActorHandle, ActorRef};
use crate::exit::ExitReason;
use crate::mailbox::MailboxConfig;
use crate::system::{SpawnOptions, System};

type Template = dyn Fn(Arc<str>, Box<dyn Any + Send>) -> Option<ChildSpec> + Send + Sync;

/// What a supervisor keeps of a [`DynamicSpec`].
#[derive(Clone)]
pub(crate) struct Dynamic {
    /// Builds the spec of a new child from its id and argument (`None`: wrong argument type).
    pub(crate) template: Arc<Template>,
    pub(crate) max_children: Option<usize>,
}

impl fmt::Debug for Dynamic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dynamic").field("max_children", &self.max_children).finish()
    }
}

/// How to start a dynamic supervisor: the child template (a function from an argument of
/// type `T` to an actor `A`, called again with the same argument for every restart) and the
/// limits.
///
/// ```
/// use airssys_rt::{Actor, BoxError, Context, DynamicSpec, System};
///
/// struct Session(u32);
/// impl Actor for Session {
///     type Msg = ();
///     async fn handle(&mut self, _: (), _: &mut Context<Self>) -> Result<(), BoxError> {
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let system = System::new();
/// let sessions = system
///     .spawn_dynamic_supervisor(DynamicSpec::new(Session).max_children(10_000))
///     .await
///     .unwrap();
/// let one = sessions.start_child(7).await.unwrap();
/// assert_eq!(sessions.count_children().await.unwrap().active, 1);
/// sessions.terminate_child(&one).await.unwrap();
/// # }
/// ```
pub struct DynamicSpec<A, T> {
    make: Arc<dyn Fn(T) -> A + Send + Sync>,
    restart: Restart,
    shutdown: Shutdown,
    intensity: (u32, Duration),
    max_children: Option<usize>,
    mailbox: MailboxConfig,
}

impl<A, T> Clone for DynamicSpec<A, T> {
    fn clone(&self) -> Self {
        DynamicSpec {
            make: Arc::clone(&self.make),
            restart: self.restart,
            shutdown: self.shutdown,
            intensity: self.intensity,
            max_children: self.max_children,
            mailbox: self.mailbox,
        }
    }
}

impl<A, T> fmt::Debug for DynamicSpec<A, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicSpec")
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("max_children", &self.max_children)
            .finish()
    }
}

impl<A: Actor, T: Clone + Send + Sync + 'static> DynamicSpec<A, T> {
    /// Children made by `make` from their argument. Defaults: permanent children, a 5 s
    /// shutdown timeout, OTP's intensity (1 restart in 5 s), no limit on their number, an
    /// unbounded mailbox each.
    pub fn new(make: impl Fn(T) -> A + Send + Sync + 'static) -> Self {
        DynamicSpec {
            make: Arc::new(make),
            restart: Restart::Permanent,
            shutdown: Shutdown::default(),
            intensity: (1, Duration::from_secs(5)),
            max_children: None,
            mailbox: MailboxConfig::Unbounded,
        }
    }

    /// The restart type of every child.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// The shutdown policy of every child.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The supervisor's restart intensity (all children count against it).
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = (max_restarts, period);
        self
    }

    /// At most this many children at once; `start_child` beyond it fails with
    /// [`SupervisorError::MaxChildren`].
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = Some(max);
        self
    }

    /// Every child's mailbox.
    pub fn mailbox(mut self, mailbox: MailboxConfig) -> Self {
        self.mailbox = mailbox;
        self
    }

    /// The supervisor spec this describes.
    fn to_spec(&self) -> SupervisorSpec {
        let (make, restart, shutdown, mailbox) =
            (Arc::clone(&self.make), self.restart, self.shutdown, self.mailbox);
        let template = move |id: Arc<str>, arg: Box<dyn Any + Send>| {
            let arg = *arg.downcast::<T>().ok()?;
            let make = Arc::clone(&make);
            let options = SpawnOptions::new().mailbox(mailbox);
            let child = ChildSpec::actor_with(id, move || make(arg.clone()), options);
            Some(child.restart(restart).shutdown(shutdown))
        };
        let mut spec =
            SupervisorSpec::new(Strategy::OneForOne).intensity(self.intensity.0, self.intensity.1);
        spec.dynamic =
            Some(Dynamic { template: Arc::new(template), max_children: self.max_children });
        spec
    }
}

impl ChildSpec {
    /// A nested dynamic supervisor; reach it with [`DynamicSupervisorRef::from_handle`].
    pub fn dynamic_supervisor<A: Actor, T: Clone + Send + Sync + 'static>(
        id: impl Into<Arc<str>>,
        spec: DynamicSpec<A, T>,
    ) -> Self {
        ChildSpec::supervisor(id, spec.to_spec())
    }
}

/// A typed reference to a running dynamic supervisor of children `A` made from `T`.
pub struct DynamicSupervisorRef<A, T> {
    supervisor: SupervisorRef,
    _types: PhantomData<fn(T) -> A>,
}

impl<A, T> Clone for DynamicSupervisorRef<A, T> {
    fn clone(&self) -> Self {
        DynamicSupervisorRef { supervisor: self.supervisor.clone(), _types: PhantomData }
    }
}

impl<A, T> fmt::Debug for DynamicSupervisorRef<A, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicSupervisorRef").field("supervisor", &self.supervisor).finish()
    }
}

impl<A: Actor, T: Clone + Send + Sync + 'static> DynamicSupervisorRef<A, T> {
    /// The reference of a nested dynamic supervisor (see [`ChildSpec::dynamic_supervisor`]),
    /// from its handle. `None` if the handle is not a supervisor; a supervisor whose template
    /// is not `T -> A` refuses `start_child` with [`SupervisorError::NotDynamic`].
    pub fn from_handle(handle: &ActorHandle) -> Option<Self> {
        let actor = handle.downcast::<super::Supervisor>()?;
        Some(DynamicSupervisorRef { supervisor: SupervisorRef::from(actor), _types: PhantomData })
    }

    /// Start a child made from `arg` and wait for its `started` hook.
    pub async fn start_child(&self, arg: T) -> Result<ActorRef<A>, SupervisorError> {
        let handle = self.supervisor.start_dynamic(Box::new(arg)).await?;
        handle.downcast::<A>().ok_or(SupervisorError::NotDynamic)
    }

    /// Stop a child (per its shutdown policy) and remove it.
    pub async fn terminate_child(&self, child: &ActorRef<A>) -> Result<(), SupervisorError> {
        self.supervisor.terminate_actor(child.id()).await
    }

    /// The children, in start order (their ids are their start numbers).
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        self.supervisor.which_children().await
    }

    /// How many children there are, and in which state.
    pub async fn count_children(&self) -> Result<ChildCounts, SupervisorError> {
        self.supervisor.count_children().await
    }

    /// The underlying supervisor.
    pub fn supervisor(&self) -> &SupervisorRef {
        &self.supervisor
    }

    /// Stop the supervisor gracefully: its children stop all at once.
    pub fn stop(&self) -> bool {
        self.supervisor.stop()
    }

    /// Wait until the supervisor is gone for good.
    pub async fn wait_for_exit(&self) -> ExitReason {
        self.supervisor.wait_for_exit().await
    }
}

impl System {
    /// Spawn a top-level dynamic supervisor (it starts with no children).
    pub async fn spawn_dynamic_supervisor<A: Actor, T: Clone + Send + Sync + 'static>(
        &self,
        spec: DynamicSpec<A, T>,
    ) -> Result<DynamicSupervisorRef<A, T>, SupervisorError> {
        let supervisor = self.spawn_supervisor(spec.to_spec()).await?;
        Ok(DynamicSupervisorRef { supervisor, _types: PhantomData })
    }
}
