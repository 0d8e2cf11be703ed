//! Running one incarnation of an actor: the receive loop, crash capture and the exit guard.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::oneshot;

use crate::actor::{Actor, ErrorAction};
use crate::actor_ref::ActorRef;
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
    let run_state = Incarnation {
        ctx: Context::new(me, system.clone(), incarnation),
        inbox: VecDeque::new(),
        done: false,
    };
    let task = tokio::spawn(run(actor, run_state, ack));
    cell.set_abort(incarnation, task.abort_handle());
    tracing::debug!(actor = cell.id.as_u64(), incarnation, "actor started");
    Some(incarnation)
}

/// The state of one incarnation that outlives its receive loop. Dropping it finishes the
/// incarnation: with the recorded reason when `run` returned, and with
/// [`ExitReason::Killed`] when the task was cancelled by `kill`.
struct Incarnation<A: Actor> {
    ctx: Context<A>,
    /// Messages the receive loop took from the mailbox but has not handled yet. Kept here,
    /// outside the loop, so that they survive a kill and go back to the mailbox.
    inbox: VecDeque<A::Msg>,
    /// `run` finished; the exit reason is in `ctx.stop`.
    done: bool,
}

impl<A: Actor> Drop for Incarnation<A> {
    fn drop(&mut self) {
        let reason = match self.done {
            true => self.ctx.stop.take().unwrap_or(ExitReason::Normal),
            false => ExitReason::Killed,
        };
        let me = self.ctx.myself();
        me.cell.requeue_front(&mut self.inbox);
        let incarnation = self.ctx.incarnation();
        if let Some(closed) = me.cell.finish(&me.handle(), incarnation, reason) {
            self.ctx.system().forget(me.cell.id, closed.name.clone());
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

async fn run<A: Actor>(mut actor: A, mut inc: Incarnation<A>, ack: Option<StartAck>) {
    if start(&mut actor, &mut inc, ack).await {
        let cell = Arc::clone(&inc.ctx.myself().cell);
        let reason = receive_loop(&cell, &mut actor, &mut inc.ctx, &mut inc.inbox).await;
        inc.ctx.stop = Some(reason);
        stop(actor, &mut inc.ctx).await;
    }
    inc.done = true;
}

/// Run the `started` hook and report it to a waiting supervisor. On failure the reason is
/// left in `ctx.stop`.
async fn start<A: Actor>(actor: &mut A, inc: &mut Incarnation<A>, ack: Option<StartAck>) -> bool {
    let started = match AssertUnwindSafe(actor.started(&mut inc.ctx))
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
    match started {
        Ok(()) => true,
        Err(reason) => {
            tracing::debug!(actor = inc.ctx.myself().id().as_u64(), %reason, "actor failed to start");
            inc.ctx.stop = Some(reason);
            false
        }
    }
}

/// The graceful end: the stop hooks run (a panic in them is caught and ignored) with the reason
/// in `ctx.stop`, which the incarnation then reports.
async fn stop<A: Actor>(mut actor: A, ctx: &mut Context<A>) {
    let reason = ctx.stop.clone().unwrap_or(ExitReason::Normal);
    let _ = AssertUnwindSafe(actor.stopping(&reason, ctx))
        .catch_unwind()
        .await;
    let _ = AssertUnwindSafe(actor.stopped(&reason))
        .catch_unwind()
        .await;
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
