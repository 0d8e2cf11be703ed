//! References to actors: typed [`ActorRef`], untyped [`ActorHandle`], [`Recipient`] for one
//! message type, and [`Reply`] for answering an ask.

use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;

use crate::actor::Actor;
use crate::cell::{Cell, CellOps, LifecycleOps, MailboxOps};
use crate::deadline::Expire;
use crate::error::{AskError, SendError, TrySendError};
use crate::exit::{ActorId, ExitReason};
use crate::mailbox::{Delivery, DropPolicy};
use crate::metrics::ActorMetrics;
use crate::reply::{AnswerSlot, Reply};
use crate::timer::Timer;

/// A cheap, cloneable, typed reference to an actor. It stays valid across restarts by the
/// actor's supervisor: the address and the queued messages are kept, only the actor state is
/// new.
pub struct ActorRef<A: Actor> {
    pub(crate) cell: Arc<Cell<A::Msg>>,
    _actor: PhantomData<fn() -> A>,
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        ActorRef { cell: Arc::clone(&self.cell), _actor: PhantomData }
    }
}

impl<A: Actor> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorRef").field("id", &self.cell.id).finish()
    }
}

impl<A: Actor> PartialEq for ActorRef<A> {
    fn eq(&self, other: &Self) -> bool {
        self.cell.id == other.cell.id
    }
}
impl<A: Actor> Eq for ActorRef<A> {}

impl<A: Actor> ActorRef<A> {
    pub(crate) fn from_cell(cell: Arc<Cell<A::Msg>>) -> Self {
        ActorRef { cell, _actor: PhantomData }
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// Send a message, waiting for room if the bounded mailbox is full. Fails only when the
    /// actor no longer accepts messages, handing the message back.
    pub async fn tell(&self, msg: A::Msg) -> Result<(), SendError<A::Msg>> {
        self.cell.push_wait(msg).await
    }

    /// Send a message without ever waiting: a full mailbox fails with
    /// [`TrySendError::Full`], handing the message back.
    pub fn try_tell(&self, msg: A::Msg) -> Result<(), TrySendError<A::Msg>> {
        self.cell.try_push(msg, None).map(|_| ())
    }

    /// Send a message without waiting; if the bounded mailbox is full, drop a message
    /// according to `policy` (counted in the actor's metrics) and hand it back.
    pub fn tell_dropping(
        &self,
        msg: A::Msg,
        policy: DropPolicy,
    ) -> Result<Delivery<A::Msg>, SendError<A::Msg>> {
        self.cell.try_push(msg, Some(policy)).map_err(|e| SendError(e.into_inner()))
    }

    /// Request-response: build a message around a [`Reply`] handle, send it and wait for the
    /// answer. The timeout covers waiting for mailbox room and for the reply; the actor's
    /// death or crash before replying is [`AskError::NoReply`] (with its exit reason), never a
    /// hang. An actor asking itself from its own handler gets [`AskError::CallingSelf`] at
    /// once.
    pub async fn ask<R: Send + 'static>(
        &self,
        make: impl FnOnce(Reply<R>) -> A::Msg,
        timeout: Duration,
    ) -> Result<R, AskError> {
        if self.cell.is_current_task() {
            return Err(AskError::CallingSelf);
        }
        let slot = AnswerSlot::new();
        let expire: Weak<dyn Expire> = Arc::downgrade(&slot) as Weak<AnswerSlot<R>>;
        self.cell.deadlines.register(timeout, expire);
        let _abandon = Abandon(&slot);
        let reply = Reply::new(Arc::clone(&slot), self.target());
        match self.cell.try_push(make(reply), None) {
            Ok(_) => {}
            Err(TrySendError::Closed(_)) => return Err(AskError::Closed),
            Err(TrySendError::Full(msg)) => {
                let push = self.cell.push_wait(msg);
                tokio::pin!(push);
                poll_fn(|cx| match push.as_mut().poll(cx) {
                    Poll::Ready(r) => Poll::Ready(r.map_err(|_| AskError::Closed)),
                    Poll::Pending => slot.poll_deadline(cx).map(|r| r.map(|_| ())),
                })
                .await?;
            }
        }
        poll_fn(|cx| slot.poll_answer(cx)).await
    }

    /// Request-response without waiting for mailbox room: the message is queued now (or
    /// handed back at once if the mailbox is full or the actor is gone), and the returned
    /// [`PendingAsk`] resolves to the answer. The timeout runs from this call. Dropping the
    /// `PendingAsk` abandons the answer (the handler still runs).
    ///
    /// An actor may `try_ask` itself: the request is queued like any other and handled after
    /// the current handler. But awaiting the answer from inside its own handler could only
    /// wait for itself, so that await fails at once with [`AskError::CallingSelf`] (the
    /// request is still handled later; its answer is discarded). Awaited from another task,
    /// the answer comes as usual.
    pub fn try_ask<R: Send + 'static>(
        &self,
        make: impl FnOnce(Reply<R>) -> A::Msg,
        timeout: Duration,
    ) -> Result<PendingAsk<R>, TrySendError<A::Msg>> {
        let slot = AnswerSlot::new();
        let expire: Weak<dyn Expire> = Arc::downgrade(&slot) as Weak<AnswerSlot<R>>;
        let pending =
            PendingAsk { slot: Arc::clone(&slot), forwarded: false, target: self.target() };
        match self.cell.try_push(make(Reply::new(slot, self.target())), None) {
            Ok(_) => {
                self.cell.deadlines.register(timeout, expire);
                Ok(pending)
            }
            Err(e) => Err(e),
        }
    }

    /// Queue `msg` now whatever a bounded mailbox's capacity: false (and `msg` dropped) if the
    /// actor is gone. For messages that must not be lost and whose number the receiver bounds
    /// itself, such as the answers to requests it made (see [`PendingAsk::forward`]); any
    /// other message should respect the capacity ([`try_tell`](Self::try_tell),
    /// [`tell`](Self::tell)).
    pub fn tell_unbounded(&self, msg: A::Msg) -> bool {
        self.cell.push_unbounded(msg)
    }

    /// Deliver `msg` after `delay`. Cancel with [`Timer::cancel`].
    pub fn send_after(&self, delay: Duration, msg: A::Msg) -> Timer {
        Timer::after(self.clone(), delay, msg)
    }

    /// Deliver a message made by `make` every `period`, until cancelled or the actor dies.
    pub fn send_interval(
        &self,
        period: Duration,
        make: impl FnMut() -> A::Msg + Send + 'static,
    ) -> Timer {
        Timer::interval(self.clone(), period, make)
    }

    fn target(&self) -> Arc<dyn CellOps> {
        Arc::clone(&self.cell) as Arc<dyn CellOps>
    }

    /// A [`Recipient`] for messages of type `T`, converted into this actor's messages by
    /// `map`.
    pub fn recipient<T: 'static>(&self, map: fn(T) -> A::Msg) -> Recipient<T> {
        Recipient(Arc::new(Mapped { cell: Arc::clone(&self.cell), map }))
    }

    /// The untyped handle of this actor.
    pub fn handle(&self) -> ActorHandle {
        ActorHandle(Arc::clone(&self.cell) as Arc<dyn CellOps>)
    }

    /// Stop gracefully: the actor finishes its current message, runs its stop hooks and
    /// exits with [`ExitReason::Normal`]. Queued messages are dropped unless a supervisor
    /// restarts the actor. Returns false if the actor is not running.
    pub fn stop(&self) -> bool {
        self.cell.stop(ExitReason::Normal)
    }

    /// Kill at once (OTP's `exit(Pid, kill)`). From the moment this returns the incarnation
    /// handles no further message, runs no hook and exits with [`ExitReason::Killed`],
    /// whatever it was doing; its task is cancelled at its next await point (the message it
    /// is handling is abandoned there). An actor that no supervisor will restart is gone at
    /// once: [`is_alive`](Self::is_alive) is false and sends fail. A supervised one keeps its
    /// address and mailbox for its next incarnation.
    pub fn kill(&self) {
        self.cell.kill()
    }

    /// Send an exit signal with `reason` from outside any actor (OTP's `exit(Pid, Reason)`;
    /// from inside an actor use [`Context::exit`](crate::Context::exit), which names the
    /// sender). See [`ActorHandle::exit`].
    pub fn exit(&self, reason: ExitReason) {
        self.handle().exit(reason)
    }

    /// Close the mailbox to new messages, handle the queued ones, then stop for good (even
    /// under a supervisor).
    pub fn drain(&self) {
        self.cell.drain()
    }

    /// True until the actor is gone for good.
    pub fn is_alive(&self) -> bool {
        self.cell.is_alive()
    }

    /// The actor's counters.
    pub fn metrics(&self) -> ActorMetrics {
        self.cell.metrics()
    }

    /// Wait until the actor is gone for good (restarts by a supervisor do not count) and
    /// return the reason of its last exit.
    pub async fn wait_for_exit(&self) -> ExitReason {
        self.handle().wait_for_exit().await
    }
}

/// An untyped reference to any actor (the "pid"): enough to link, monitor, stop, kill and
/// watch it. Convert back with [`ActorHandle::downcast`].
#[derive(Clone)]
pub struct ActorHandle(pub(crate) Arc<dyn CellOps>);

impl fmt::Debug for ActorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorHandle").field("id", &self.0.id()).finish()
    }
}

impl PartialEq for ActorHandle {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}
impl Eq for ActorHandle {}

impl ActorHandle {
    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.0.id()
    }

    /// The registered name, if any.
    pub fn name(&self) -> Option<Arc<str>> {
        self.0.name()
    }

    /// True until the actor is gone for good.
    pub fn is_alive(&self) -> bool {
        self.0.is_alive()
    }

    /// See [`ActorRef::stop`].
    pub fn stop(&self) -> bool {
        self.0.stop(ExitReason::Normal)
    }

    /// See [`ActorRef::kill`].
    pub fn kill(&self) {
        self.0.kill()
    }

    /// Send an exit signal with `reason` (OTP's `exit(Pid, Reason)`), from outside any actor:
    /// the signal's `from` is the actor itself. An actor that traps exits gets it in
    /// [`Actor::handle_exit`](crate::Actor::handle_exit) and lives on; one that does not
    /// ignores `Normal` and otherwise ends at once with `reason`, as by a kill (no further
    /// message, no hook). [`ExitReason::Killed`] cannot be trapped: it is [`kill`](Self::kill).
    pub fn exit(&self, reason: ExitReason) {
        self.0.exit_signal(self.clone(), reason, false)
    }

    /// True while the actor's current incarnation traps exits.
    pub fn traps_exits(&self) -> bool {
        self.0.traps_exits()
    }

    /// See [`ActorRef::drain`].
    pub fn drain(&self) {
        self.0.drain()
    }

    /// The actor's counters.
    pub fn metrics(&self) -> ActorMetrics {
        self.0.metrics()
    }

    /// See [`ActorRef::wait_for_exit`].
    pub async fn wait_for_exit(&self) -> ExitReason {
        match self.0.exit_waiter(true) {
            Ok(rx) => rx.await.unwrap_or(ExitReason::Killed),
            Err(reason) => reason,
        }
    }

    /// Wait for the end of the current incarnation (a restart counts).
    pub(crate) async fn wait_for_incarnation_exit(&self) -> ExitReason {
        match self.0.exit_waiter(false) {
            Ok(rx) => rx.await.unwrap_or(ExitReason::Killed),
            Err(reason) => reason,
        }
    }

    /// The typed reference, if this actor's message type is `A::Msg` (the check is by
    /// message type: two actor types with the same `Msg` are not told apart).
    pub fn downcast<A: Actor>(&self) -> Option<ActorRef<A>> {
        let any = Arc::clone(&self.0).into_any();
        any.downcast::<Cell<A::Msg>>().ok().map(ActorRef::from_cell)
    }
}

impl<A: Actor> From<ActorRef<A>> for ActorHandle {
    fn from(r: ActorRef<A>) -> Self {
        r.handle()
    }
}

/// Anything that accepts messages of type `T`: used for pub/sub subscribers.
pub struct Recipient<T>(Arc<dyn RecipientOps<T>>);

impl<T> Clone for Recipient<T> {
    fn clone(&self) -> Self {
        Recipient(Arc::clone(&self.0))
    }
}

impl<T> fmt::Debug for Recipient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recipient").field("id", &self.0.id()).finish()
    }
}

impl<T> Recipient<T> {
    /// The receiving actor's id.
    pub fn id(&self) -> ActorId {
        self.0.id()
    }

    /// Send without waiting; see [`ActorRef::try_tell`].
    pub fn try_tell(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.0.try_tell(msg)
    }

    /// True until the receiving actor is gone for good.
    pub fn is_alive(&self) -> bool {
        self.0.is_alive()
    }
}

trait RecipientOps<T>: Send + Sync {
    fn id(&self) -> ActorId;
    fn try_tell(&self, msg: T) -> Result<(), TrySendError<T>>;
    fn is_alive(&self) -> bool;
}

struct Mapped<M, T> {
    cell: Arc<Cell<M>>,
    map: fn(T) -> M,
}

impl<M: Send + 'static, T: 'static> RecipientOps<T> for Mapped<M, T> {
    fn id(&self) -> ActorId {
        self.cell.id
    }

    fn try_tell(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.cell.try_push_map(msg, self.map, None).map(|_| ())
    }

    fn is_alive(&self) -> bool {
        self.cell.is_alive()
    }
}

/// Marks the ask's slot abandoned when the ask ends (answered, failed or dropped), so that a
/// late answer is refused and the reaper forgets the deadline.
/// The answer to a [`ActorRef::try_ask`], still to come.
#[must_use = "the answer is lost if the pending ask is dropped"]
pub struct PendingAsk<R> {
    slot: Arc<AnswerSlot<R>>,
    /// The outcome was forwarded: dropping this abandons nothing.
    forwarded: bool,
    /// The actor asked: awaiting its answer from its own task fails with `CallingSelf`.
    target: Arc<dyn CellOps>,
}

impl<R> fmt::Debug for PendingAsk<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PendingAsk(..)")
    }
}

impl<R> Future for PendingAsk<R> {
    type Output = Result<R, AskError>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        match self.slot.poll_answer(cx) {
            Poll::Pending if self.target.is_current_task() => {
                Poll::Ready(Err(AskError::CallingSelf))
            }
            other => other,
        }
    }
}

impl<R: Send + 'static> PendingAsk<R> {
    /// Instead of awaiting the outcome, have `forward` called with it, once: with the answer
    /// (on the replier's thread, as it answers), with [`AskError::Timeout`] (from the
    /// deadline reaper), or with [`AskError::NoReply`] (when the replier's `Reply` is
    /// dropped). At once if the outcome is already known. No task waits meanwhile: an actor
    /// that asks another and wants the answer as a message of its own passes a closure that
    /// queues it (see [`ActorRef::tell_unbounded`]). `forward` must not block.
    pub fn forward(mut self, forward: impl FnOnce(Result<R, AskError>) + Send + 'static) {
        self.forwarded = true;
        self.slot.forward(Box::new(forward));
    }
}

impl<R> Drop for PendingAsk<R> {
    fn drop(&mut self) {
        if !self.forwarded {
            self.slot.abandon();
        }
    }
}

struct Abandon<'a, R>(&'a AnswerSlot<R>);

impl<R> Drop for Abandon<'_, R> {
    fn drop(&mut self) {
        self.0.abandon();
    }
}
