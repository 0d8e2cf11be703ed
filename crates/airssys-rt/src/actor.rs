//! The [`Actor`] trait: typed messages, async handlers and lifecycle hooks.

use std::future::Future;

use crate::context::Context;
use crate::error::BoxError;
use crate::exit::{Down, ExitReason, ExitSignal};

/// What an error returned by a handler does to the actor, as decided by
/// [`Actor::on_error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Log the error and go on with the next message.
    Resume,
    /// Crash: the actor exits with [`ExitReason::Error`] and its supervisor (if any) applies
    /// its strategy. This is the default, as in Erlang ("let it crash").
    Crash,
}

/// An actor: state plus an async handler for its message type.
///
/// The runtime calls the handlers one at a time; an actor is never entered concurrently.
/// Every hook has a default except [`handle`](Actor::handle).
///
/// ```
/// use airssys_rt::{Actor, BoxError, Context, Reply, System};
/// use std::time::Duration;
///
/// struct Counter(u64);
/// enum Msg { Add(u64), Get(Reply<u64>) }
///
/// impl Actor for Counter {
///     type Msg = Msg;
///     async fn handle(&mut self, msg: Msg, _ctx: &mut Context<Self>) -> Result<(), BoxError> {
///         match msg {
///             Msg::Add(n) => self.0 += n,
///             Msg::Get(reply) => { let _ = reply.send(self.0); }
///         }
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let system = System::new();
/// let counter = system.spawn(Counter(0)).unwrap();
/// counter.tell(Msg::Add(2)).await.unwrap();
/// let total = counter.ask(Msg::Get, Duration::from_secs(1)).await.unwrap();
/// assert_eq!(total, 2);
/// # }
/// ```
pub trait Actor: Sized + Send + 'static {
    /// The messages this actor handles.
    type Msg: Send + 'static;

    /// Runs before the first message. An error (or panic) fails the start: the actor exits
    /// with [`ExitReason::StartFailed`] without running the stop hooks.
    fn started(
        &mut self,
        _ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }

    /// Handles one message.
    fn handle(
        &mut self,
        msg: Self::Msg,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Decides what an error returned by a handler does. Default: crash.
    fn on_error(&mut self, _error: &BoxError, _ctx: &mut Context<Self>) -> ErrorAction {
        ErrorAction::Crash
    }

    /// Called with the exit signal of a linked actor, only while the actor traps exits
    /// ([`Context::trap_exits`]). Without trapping, an abnormal exit of a linked actor makes
    /// this actor exit too, and a normal one is ignored.
    fn handle_exit(
        &mut self,
        _signal: ExitSignal,
        _ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }

    /// Called when an actor this one monitors exits.
    fn handle_down(
        &mut self,
        _down: Down,
        _ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }

    /// Runs when the actor is about to stop (it can still send messages). Not run on kill.
    fn stopping(
        &mut self,
        _reason: &ExitReason,
        _ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Runs last, consuming the actor. Not run on kill.
    fn stopped(self, _reason: &ExitReason) -> impl Future<Output = ()> + Send {
        async {}
    }
}
