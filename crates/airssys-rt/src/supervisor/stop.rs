//! Stopping children: one per its [`Shutdown`] policy (for good, or for a group restart), all of
//! them in reverse start order (a dynamic supervisor's all at once), and all of them when the
//! supervisor itself goes away.

use std::time::Duration;

use super::{Pending, Phase, Restart, Shutdown, Supervisor};
use crate::context::Context;
use crate::exit::ExitReason;

impl Supervisor {
    /// Stop a running child and wait for it, per its shutdown policy. With `permanent` the
    /// child is closed for good; otherwise it keeps its mailbox for a restart.
    pub(super) async fn stop_child(
        &mut self,
        idx: usize,
        permanent: bool,
        ctx: &mut Context<Self>,
    ) {
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

    /// Stop child `idx` for good. Its spec stays (OTP's `terminate_child`), except for a
    /// temporary child and the children of a dynamic supervisor, which are removed.
    pub(super) async fn terminate_at(&mut self, idx: usize, ctx: &mut Context<Self>) {
        self.stop_child(idx, true, ctx).await;
        if self.dynamic.is_some() || self.children[idx].spec.restart == Restart::Temporary {
            self.children.remove(idx);
        }
    }

    /// Stop every child for good: in reverse start order, or all at once for a dynamic
    /// supervisor (its children are independent of each other).
    pub(super) async fn stop_all(&mut self, ctx: &mut Context<Self>) {
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
        for child in self.children.iter_mut() {
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
        for child in self.children.iter() {
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
