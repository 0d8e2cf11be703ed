//! Starting and restarting children: a child's first start, restarts in place (with backoff,
//! counted against the restart intensity), retries of a failed restart, giving up on one child
//! or on the whole supervisor, and what a child's exit leads to.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{
    AutoShutdown, Child, ChildSpec, ChildState, ChildStatus, Command, Decision, Pending, Phase,
    Restart, RestartWindow, Supervisor, SupervisorError, SupervisorMsg, decide,
};
use crate::actor_ref::ActorHandle;
use crate::cell::{ChildExit, Refused};
use crate::context::Context;
use crate::exit::ExitReason;

/// How a restart attempt went.
enum Restarted {
    Started,
    /// The previous incarnation is still finishing: the restart follows its exit.
    Waiting,
    Failed(ExitReason),
}

impl Supervisor {
    /// Start a child for the first time and wait for its `started` hook.
    pub(super) async fn start_new(
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
        let old = child.handle.replace(handle.clone()).map(|h| h.id());
        child.incarnation = incarnation;
        self.children.started_as(idx, old, handle.id());
        let child = &mut self.children[idx];
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

    /// Start these children again, in order; the first that fails to start stops the run
    /// (it and the ones after it are retried, see `restart_failed`), and so does one whose
    /// previous incarnation is still finishing (the ones after it start once it has).
    pub(super) async fn restart_ids(&mut self, ids: &[Arc<str>], ctx: &mut Context<Self>) {
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

    pub(super) async fn on_child_exit(&mut self, exit: ChildExit, ctx: &mut Context<Self>) {
        let Some(idx) = self.index_of_actor(exit.actor) else {
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
                for c in self.children.iter_mut() {
                    if ids.contains(&c.spec.id) {
                        c.pending = Pending::Scheduled;
                    }
                }
                // The backoff follows the failures of the child that exited.
                let n = self
                    .index_of_actor(exit.actor)
                    .map_or(1, |i| self.children[i].consecutive_failures);
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

    /// OTP's `restart_child`: start a stopped child again from its spec.
    pub(super) async fn restart_stopped(
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
}
