//! Running one incarnation of an actor: the receive loop, crash capture and the exit guard.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;

use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tokio::sync::oneshot;

use crate::actor::{Actor, ErrorAction};
use crate::actor_ref::ActorRef;
use crate::cell::{Cell, ParentHook, Received, Refused, RelationOps, Signal};
use crate::context::Context;
use crate::error::BoxError;
use crate::exit::ExitReason;
use crate::system::System;

/// Sent when the `started` hook has finished, for supervisors that start children in order.
pub(crate) type StartAck = oneshot::Sender<Result<(), ExitReason>>;

/// Start a new incarnation of `actor` in `cell`. Refused (and `actor` dropped) if the cell is
/// dead or its previous incarnation is still running.
pub(crate) fn start_incarnation<A: Actor>(
    system: &System,
    cell: &Arc<Cell<A::Msg>>,
    actor: A,
    parent: Option<ParentHook>,
    ack: Option<StartAck>,
) -> Result<u32, Refused> {
    let incarnation = cell.begin_incarnation(parent)?;
    let me = ActorRef::<A>::from_cell(Arc::clone(cell));
    let run_state = Incarnation {
        actor: Some(actor),
        ctx: Context::new(me, system.clone(), incarnation),
        inbox: VecDeque::new(),
        done: false,
    };
    let task = tokio::spawn(InSpan { fut: run(run_state, ack), id: cell.id.as_u64() });
    cell.set_abort(incarnation, task.abort_handle());
    tracing::debug!(actor = cell.id.as_u64(), incarnation, "actor started");
    Ok(incarnation)
}

/// One incarnation: the actor state and everything that must outlive its receive loop.
/// Dropping it finishes the incarnation: with the recorded reason when `run` returned, and
/// with [`ExitReason::Killed`] when the task was cancelled by `kill`.
struct Incarnation<A: Actor> {
    /// `None` once the `stopped` hook has consumed it.
    actor: Option<A>,
    ctx: Context<A>,
    /// Messages the receive loop took from the mailbox but has not handled yet. Kept here,
    /// outside the loop, so that they survive a kill and go back to the mailbox.
    inbox: VecDeque<A::Msg>,
    /// `run` finished; the exit reason is in `ctx.stop`.
    done: bool,
}

impl<A: Actor> Drop for Incarnation<A> {
    fn drop(&mut self) {
        // The old state goes first, so that what it holds (a port, a child actor, a WASM
        // store) is released before anyone hears of the exit and starts a new incarnation.
        if let Some(actor) = self.actor.take() {
            let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(actor)));
        }
        let reason = match self.done {
            true => self.ctx.stop.take().unwrap_or(ExitReason::Normal),
            false => ExitReason::Killed,
        };
        let me = self.ctx.myself();
        me.cell.requeue_front(&mut self.inbox);
        let incarnation = self.ctx.incarnation();
        me.cell.finish(&me.handle(), incarnation, reason, self.ctx.system());
    }
}

/// Call `f`, catching a panic.
fn catch_call<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
}

/// Call a hook or handler and await the future it returns, catching a panic both in the call
/// (a hand-written `fn .. -> impl Future` may panic before returning its future) and in every
/// poll. Evaluates to a `std::thread::Result`. (A macro rather than a function returning a
/// future: that would add a state to every idle actor's task.)
macro_rules! guarded {
    ($call:expr) => {
        match catch_call(|| $call) {
            Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
            Err(payload) => Err(payload),
        }
    };
}

pin_project_lite::pin_project! {
    /// The whole incarnation runs inside the actor's `tracing` span, entered on every poll
    /// rather than stored, so that an idle actor carries no span (only its id).
    struct InSpan<F> {
        #[pin]
        fut: F,
        id: u64,
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let span = tracing::debug_span!("actor", id = *this.id);
        let _entered = span.enter();
        this.fut.poll(cx)
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

/// The text of a handler error. A `Display` impl that panics is user code too.
fn describe(error: &BoxError) -> Arc<str> {
    std::panic::catch_unwind(AssertUnwindSafe(|| error.to_string()))
        .map_or_else(|_| Arc::from("error whose description panicked"), Arc::from)
}

async fn run<A: Actor>(mut inc: Incarnation<A>, ack: Option<StartAck>) {
    inc.ctx.myself().cell.set_task();
    if start(&mut inc, ack).await {
        // In a block of its own, so that `cell` is not held across the stop hooks: every
        // byte of this future counts per actor, and tokio rounds a task up to a multiple of
        // 128 bytes.
        let killed = {
            let cell = Arc::clone(&inc.ctx.myself().cell);
            // Fields borrowed one by one (no `ctx` binding kept across the await).
            if let Some(actor) = inc.actor.as_mut() {
                let reason = receive_loop(&cell, actor, &mut inc.ctx, &mut inc.inbox).await;
                inc.ctx.stop = Some(reason);
            }
            // From here on, a `Reply` dropped (by the stop hooks, or with the actor state)
            // tells its asker the exit reason.
            cell.in_handler(true);
            // A killed incarnation runs no hook (the kill may have come while it handled its
            // last message).
            cell.is_killed()
        };
        if !killed {
            stop(&mut inc).await;
        }
    } else {
        inc.ctx.myself().cell.in_handler(true);
    }
    inc.done = true;
}

/// Run the `started` hook and report it to a waiting supervisor. On failure the reason is
/// left in `ctx.stop`.
async fn start<A: Actor>(inc: &mut Incarnation<A>, ack: Option<StartAck>) -> bool {
    let Incarnation { actor, ctx, .. } = inc;
    let Some(actor) = actor.as_mut() else {
        return false;
    };
    let started = match guarded!(actor.started(ctx)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ExitReason::StartFailed(describe(&e))),
        Err(p) => Err(ExitReason::StartFailed(panic_text(p))),
    };
    if let Some(ack) = ack {
        let _ = ack.send(started.clone());
    }
    match started {
        Ok(()) => true,
        Err(reason) => {
            tracing::debug!(%reason, "actor failed to start");
            ctx.stop = Some(reason);
            false
        }
    }
}

/// The graceful end: the stop hooks run (a panic in them is caught and ignored) with the reason
/// in `ctx.stop`, which the incarnation then reports.
async fn stop<A: Actor>(inc: &mut Incarnation<A>) {
    let reason = inc.ctx.stop.clone().unwrap_or(ExitReason::Normal);
    let Incarnation { actor, ctx, .. } = inc;
    if let Some(actor) = actor.as_mut() {
        let _ = guarded!(actor.stopping(&reason, ctx));
    }
    if let Some(actor) = inc.actor.take() {
        let _ = guarded!(actor.stopped(&reason));
    }
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
        // Keep a busy actor from hogging its worker thread: tokio's cooperative budget makes
        // it yield now and then. Yielding here, with no message taken, means a kill at this
        // point loses nothing.
        tokio::task::consume_budget().await;
        let outcome = match cell.recv(inbox).await {
            Received::Msg(msg) => {
                cell.in_handler(true);
                let r = guarded!(actor.handle(msg, ctx));
                handled += 1;
                cell.handled.store(handled, std::sync::atomic::Ordering::Relaxed);
                r
            }
            Received::Signal(Signal::Stop(reason)) => return reason,
            Received::Signal(Signal::LinkExit(sig)) => {
                cell.remove_link(sig.from.id(), Some(sig.incarnation));
                if ctx.trap_exits {
                    cell.in_handler(true);
                    guarded!(actor.handle_exit(sig, ctx))
                } else if sig.reason != ExitReason::Normal {
                    return ExitReason::Linked {
                        from: sig.from.id(),
                        reason: Box::new(sig.reason),
                    };
                } else {
                    continue;
                }
            }
            Received::Signal(Signal::Exit(sig)) => {
                // Trapping was checked when it was sent; the actor may have stopped since.
                if ctx.trap_exits {
                    cell.in_handler(true);
                    guarded!(actor.handle_exit(*sig, ctx))
                } else if sig.reason != ExitReason::Normal {
                    return sig.reason;
                } else {
                    continue;
                }
            }
            Received::Signal(Signal::Down(down)) => {
                cell.remove_monitoring(down.monitor);
                cell.in_handler(true);
                guarded!(actor.handle_down(*down, ctx))
            }
            Received::Drained => return ExitReason::Normal,
            Received::Killed => return ExitReason::Killed,
        };
        if cell.is_killed() {
            // Killed while handling: it ends here, whatever the handler returned.
            return ExitReason::Killed;
        }
        match outcome {
            Ok(Ok(())) => cell.in_handler(false),
            Ok(Err(error)) => {
                let action =
                    std::panic::catch_unwind(AssertUnwindSafe(|| actor.on_error(&error, ctx)));
                match action {
                    Ok(ErrorAction::Resume) => {
                        tracing::debug!(error = %describe(&error), "handler error; resuming");
                        cell.in_handler(false);
                    }
                    Ok(ErrorAction::Crash) => return ExitReason::Error(describe(&error)),
                    Err(payload) => return ExitReason::Panic(panic_text(payload)),
                }
            }
            Err(payload) => return ExitReason::Panic(panic_text(payload)),
        }
    }
}
