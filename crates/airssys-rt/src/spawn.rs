//! Running one incarnation of an actor: the receive loop, crash capture and the exit guard.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::actor::{Actor, ErrorAction};
use crate::actor_ref::{ActorHandle, ActorRef};
use crate::cell::{Cell, CellOps, ParentHook, Received, Signal};
use crate::context::Context;
use crate::exit::ExitReason;
use crate::system::System;

/// Sent when the `started` hook has finished, for supervisors that start children in order.
pub(crate) type StartAck = oneshot::Sender<Result<(), ExitReason>>;

/// Start a new incarnation of `actor` in `cell`. Returns its number, or `None` if the cell is
/// dead (then `actor` is dropped).
pub(crate) fn start_incarnation<A: Actor>(
    system: &System,
    cell: &Arc<Cell<A::Msg>>,
    actor: A,
    parent: Option<ParentHook>,
    ack: Option<StartAck>,
) -> Option<u32> {
    let incarnation = cell.begin_incarnation(parent)?;
    let me = ActorRef::<A>::from_cell(Arc::clone(cell));
    let guard = ExitGuard {
        handle: me.handle(),
        cell: Arc::clone(cell),
        system: system.clone(),
        incarnation,
        reason: None,
        inbox: VecDeque::new(),
    };
    let span = tracing::debug_span!("actor", id = cell.id.as_u64(), incarnation);
    let task = tokio::spawn(run(me, actor, system.clone(), guard, ack).instrument(span));
    cell.set_abort(incarnation, task.abort_handle());
    Some(incarnation)
}

/// Finishes the incarnation when dropped: on a normal return with the recorded reason, and
/// when the task is cancelled by `kill` with [`ExitReason::Killed`].
struct ExitGuard<M: Send + 'static> {
    handle: ActorHandle,
    cell: Arc<Cell<M>>,
    system: System,
    incarnation: u32,
    reason: Option<ExitReason>,
    /// Messages the receive loop took from the mailbox but has not handled yet. Kept here,
    /// outside the loop, so that they survive a kill and go back to the mailbox.
    inbox: VecDeque<M>,
}

impl<M: Send + 'static> Drop for ExitGuard<M> {
    fn drop(&mut self) {
        self.cell.requeue_front(&mut self.inbox);
        let reason = self.reason.take().unwrap_or(ExitReason::Killed);
        if let Some(closed) = self.cell.finish(&self.handle, self.incarnation, reason) {
            self.system.forget(self.cell.id, closed.name.clone());
            closed.notify();
        }
    }
}

pub(crate) fn panic_text(payload: Box<dyn Any + Send>) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("non-string panic payload")
    }
}

async fn run<A: Actor>(
    me: ActorRef<A>,
    mut actor: A,
    system: System,
    mut guard: ExitGuard<A::Msg>,
    ack: Option<StartAck>,
) {
    let cell = Arc::clone(&me.cell);
    let mut ctx = Context::new(me, system, guard.incarnation);

    let started = match AssertUnwindSafe(actor.started(&mut ctx))
        .catch_unwind()
        .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ExitReason::StartFailed(e.to_string().into())),
        Err(p) => Err(ExitReason::StartFailed(panic_text(p))),
    };
    if let Some(ack) = ack {
        let _ = ack.send(started.clone());
    }
    if let Err(reason) = started {
        tracing::debug!(%reason, "actor failed to start");
        guard.reason = Some(reason);
        return;
    }

    let reason = receive_loop(&cell, &mut actor, &mut ctx, &mut guard.inbox).await;

    // Graceful end: hooks run (a panic in them is caught and ignored), then the guard reports.
    let _ = AssertUnwindSafe(actor.stopping(&reason, &mut ctx))
        .catch_unwind()
        .await;
    drop(ctx);
    let _ = AssertUnwindSafe(actor.stopped(&reason))
        .catch_unwind()
        .await;
    guard.reason = Some(reason);
}

async fn receive_loop<A: Actor>(
    cell: &Cell<A::Msg>,
    actor: &mut A,
    ctx: &mut Context<A>,
    inbox: &mut VecDeque<A::Msg>,
) -> ExitReason {
    let mut handled: u64 = cell.handled.load(std::sync::atomic::Ordering::Relaxed);
    loop {
        if let Some(reason) = ctx.stop.take() {
            return reason;
        }
        let outcome = match cell.recv(inbox).await {
            Received::Msg(msg) => {
                // Keep a busy actor from hogging its worker thread: tokio's cooperative
                // budget makes it yield now and then.
                tokio::task::consume_budget().await;
                let r = AssertUnwindSafe(actor.handle(msg, ctx))
                    .catch_unwind()
                    .await;
                handled += 1;
                cell.handled
                    .store(handled, std::sync::atomic::Ordering::Relaxed);
                r
            }
            Received::Signal(Signal::Stop(reason)) => return reason,
            Received::Signal(Signal::LinkExit(sig)) => {
                cell.remove_link(sig.from.id());
                if ctx.trap_exits {
                    AssertUnwindSafe(actor.handle_exit(sig, ctx))
                        .catch_unwind()
                        .await
                } else if sig.reason != ExitReason::Normal {
                    return ExitReason::Linked {
                        from: sig.from.id(),
                        reason: Box::new(sig.reason),
                    };
                } else {
                    continue;
                }
            }
            Received::Signal(Signal::Down(down)) => {
                cell.remove_monitoring(down.monitor);
                AssertUnwindSafe(actor.handle_down(down, ctx))
                    .catch_unwind()
                    .await
            }
            Received::Drained => return ExitReason::Normal,
        };
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => match actor.on_error(&error, ctx) {
                ErrorAction::Resume => {
                    tracing::debug!(%error, "handler error; resuming");
                }
                ErrorAction::Crash => return ExitReason::Error(error.to_string().into()),
            },
            Err(payload) => return ExitReason::Panic(panic_text(payload)),
        }
    }
}
