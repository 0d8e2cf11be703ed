//! §6 errors and crashes, §7 stop versus kill.

use std::time::Duration;

use airssys_rt::{
    Actor, ActorHandle, BoxError, Context, Down, ErrorAction, ExitReason, ExitSignal, System,
};

use crate::util::*;

/// §6: a panic in a handler crashes only that actor, with the panic text as the reason; the
/// process and other actors go on.
#[tokio::test]
async fn s6_panic_crashes_only_that_actor() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    let b = system.spawn(Worker::new("b", &log)).unwrap();
    a.tell(WMsg::Panic("disk on fire")).await.unwrap();
    assert_eq!(a.wait_for_exit().await, ExitReason::Panic("disk on fire".into()));
    assert_eq!(b.ask(|r| WMsg::Echo(5, r), T).await, Ok(5));
    // Stop hooks still run after a crash (only kill skips them).
    assert!(log.entries().contains(&"a:stopping(panicked: disk on fire)".to_string()));
}

/// §6: by default a handler error crashes the actor with the error text.
#[tokio::test]
async fn s6_error_crashes_by_default() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    a.tell(WMsg::Fail("bad input")).await.unwrap();
    assert_eq!(a.wait_for_exit().await, ExitReason::Error("bad input".into()));
}

/// §6: `on_error` can choose to resume; the actor then handles the next message.
#[tokio::test]
async fn s6_on_error_can_resume() {
    struct Tolerant(u32);
    enum M {
        Fail,
        Count(airssys_rt::Reply<u32>),
    }
    impl Actor for Tolerant {
        type Msg = M;
        async fn handle(&mut self, msg: M, _: &mut Context<Self>) -> Result<(), BoxError> {
            match msg {
                M::Fail => Err("nope".into()),
                M::Count(r) => {
                    let _ = r.send(self.0);
                    Ok(())
                }
            }
        }
        fn on_error(&mut self, _: &BoxError, _: &mut Context<Self>) -> ErrorAction {
            self.0 += 1;
            ErrorAction::Resume
        }
    }
    let system = System::new();
    let a = system.spawn(Tolerant(0)).unwrap();
    for _ in 0..3 {
        a.tell(M::Fail).await.unwrap();
    }
    assert_eq!(a.ask(M::Count, T).await, Ok(3));
    assert!(a.is_alive());
}

/// §6: a panic in any hook, not only in `handle`, ends that actor alone and never unwinds
/// past its task: in `started` it fails the start, in `handle_exit` or `handle_down` it is a
/// crash, and in `stopping` or `stopped` it is caught and the actor ends with its reason.
#[tokio::test]
async fn s6_a_panic_in_any_hook_ends_only_that_actor() {
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Hook {
        Started,
        HandleExit,
        HandleDown,
        Stopping,
        Stopped,
    }
    struct Fragile {
        hook: Hook,
        watch: Option<ActorHandle>,
    }
    impl Actor for Fragile {
        /// Answered once `started` has run.
        type Msg = airssys_rt::Reply<()>;
        async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
            assert!(self.hook != Hook::Started, "panicked in started");
            ctx.trap_exits(self.hook == Hook::HandleExit);
            if let Some(watched) = &self.watch {
                ctx.monitor(watched);
            }
            Ok(())
        }
        async fn handle(
            &mut self,
            reply: airssys_rt::Reply<()>,
            _: &mut Context<Self>,
        ) -> Result<(), BoxError> {
            let _ = reply.send(());
            Ok(())
        }
        async fn handle_exit(
            &mut self,
            _: ExitSignal,
            _: &mut Context<Self>,
        ) -> Result<(), BoxError> {
            panic!("panicked in handle_exit")
        }
        async fn handle_down(&mut self, _: Down, _: &mut Context<Self>) -> Result<(), BoxError> {
            panic!("panicked in handle_down")
        }
        async fn stopping(&mut self, _: &ExitReason, _: &mut Context<Self>) {
            assert!(self.hook != Hook::Stopping, "panicked in stopping");
        }
        async fn stopped(self, _: &ExitReason) {
            assert!(self.hook != Hook::Stopped, "panicked in stopped");
        }
    }
    let system = System::new();
    let log = Log::new();
    let bystander = system.spawn(Worker::new("bystander", &log)).unwrap();
    let fragile = |hook, watch| system.spawn(Fragile { hook, watch }).unwrap();

    let a = fragile(Hook::Started, None);
    assert_eq!(a.wait_for_exit().await, ExitReason::StartFailed("panicked in started".into()));

    let a = fragile(Hook::HandleExit, None);
    a.ask(|r| r, T).await.unwrap(); // it traps exits by now
    a.exit(ExitReason::Custom("go".into()));
    assert_eq!(a.wait_for_exit().await, ExitReason::Panic("panicked in handle_exit".into()));

    let watched = system.spawn(Worker::new("watched", &log)).unwrap();
    let a = fragile(Hook::HandleDown, Some(watched.handle()));
    watched.stop();
    assert_eq!(a.wait_for_exit().await, ExitReason::Panic("panicked in handle_down".into()));

    for hook in [Hook::Stopping, Hook::Stopped] {
        let a = fragile(hook, None);
        a.ask(|r| r, T).await.unwrap();
        a.stop();
        assert_eq!(a.wait_for_exit().await, ExitReason::Normal, "{hook:?}");
    }

    assert_eq!(bystander.ask(|r| WMsg::Echo(7, r), T).await, Ok(7));
}

/// §6: a failing `started` hook fails the start: the actor exits with `StartFailed` and its
/// stop hooks do not run.
#[tokio::test]
async fn s6_failed_start() {
    let system = System::new();
    let log = Log::new();
    let mut w = Worker::new("a", &log);
    w.fail_start = true;
    let a = system.spawn(w).unwrap();
    assert_eq!(a.wait_for_exit().await, ExitReason::StartFailed("refusing to start".into()));
    assert_eq!(log.entries(), ["a:started"]);
}

/// §7: stop is graceful: the current message finishes and the hooks run.
#[tokio::test(start_paused = true)]
async fn s7_stop_finishes_current_message() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    a.tell(WMsg::Sleep(Duration::from_secs(2))).await.unwrap();
    settle().await;
    a.stop();
    assert_eq!(a.wait_for_exit().await, ExitReason::Normal);
    assert_eq!(log.entries(), ["a:started", "a:slept", "a:stopping(normal)", "a:stopped"]);
}

/// §7: kill is immediate: the current message is abandoned and no hook runs.
#[tokio::test(start_paused = true)]
async fn s7_kill_is_immediate() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    a.tell(WMsg::Sleep(Duration::from_secs(3600))).await.unwrap();
    settle().await;
    let start = tokio::time::Instant::now();
    a.kill();
    assert_eq!(a.wait_for_exit().await, ExitReason::Killed);
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(log.entries(), ["a:started"]);
}

/// §7: a kill issued right after spawn (before the actor's task ever ran) still kills it.
#[tokio::test]
async fn s7_kill_before_first_poll() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    a.kill();
    assert_eq!(a.wait_for_exit().await, ExitReason::Killed);
    assert_eq!(system.actor_count(), 0);
}

/// §7: a kill is final at once. While the actor is busy in a handler that does not await, a
/// kill returns: from then on the actor is not alive, sends fail, no message queued before or
/// after is handled, no hook runs, and it exits with `Killed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s7_kill_is_final_at_once() {
    use crate::probe::{PMsg, Probe};
    let system = System::new();
    let log = Log::new();
    let probe = Probe::new("a", &log);
    let ticks = std::sync::Arc::clone(&probe.ticks);
    let a = system.spawn(probe).unwrap();
    let (busy_tx, busy_rx) = tokio::sync::oneshot::channel();
    a.tell(crate::probe::run(move |_| {
        let _ = busy_tx.send(());
        Ok(())
    }))
    .await
    .unwrap();
    a.tell(PMsg::Spin(Duration::from_millis(200))).await.unwrap();
    for _ in 0..100 {
        a.tell(PMsg::Tick).await.unwrap();
    }
    busy_rx.await.unwrap();
    a.kill();
    assert!(!a.is_alive(), "is_alive right after kill");
    assert!(a.try_tell(PMsg::Tick).is_err(), "a send after the kill is refused");
    assert_eq!(a.wait_for_exit().await, ExitReason::Killed);
    assert_eq!(ticks.load(std::sync::atomic::Ordering::SeqCst), 0, "queued messages handled");
    assert!(!log.entries().iter().any(|e| e.contains("stopping")), "{:?}", log.entries());
}

/// §7: an actor that kills itself from its handler is gone when `kill` returns (even seen
/// from inside), handles nothing more, and exits with `Killed` even if the handler then
/// returns an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s7_kill_reason_is_killed_whatever_the_handler_returns() {
    use crate::probe::{PMsg, Probe, run};
    let system = System::new();
    let log = Log::new();
    let probe = Probe::new("a", &log);
    let ticks = std::sync::Arc::clone(&probe.ticks);
    let a = system.spawn(probe).unwrap();
    let inner_log = log.clone();
    a.tell(run(move |ctx| {
        ctx.myself().kill();
        inner_log.push(format!("alive after own kill: {}", ctx.myself().is_alive()));
        Err("an error after the kill".into())
    }))
    .await
    .unwrap();
    let _ = a.tell(PMsg::Tick).await;
    assert_eq!(a.wait_for_exit().await, ExitReason::Killed);
    assert!(log.entries().contains(&"alive after own kill: false".to_owned()));
    assert_eq!(ticks.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(!log.entries().iter().any(|e| e.contains("stopping")), "{:?}", log.entries());
}

/// §7: an actor may end itself with a reason of its choosing; its stop hooks run with it
/// and a shutdown-class reason counts as normal.
#[tokio::test]
async fn s7_stop_with_a_chosen_reason() {
    use crate::probe::{Probe, run};
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Probe::new("a", &log)).unwrap();
    a.tell(run(|ctx| {
        ctx.stop_with(ExitReason::ShutdownWith("maintenance".into()));
        Ok(())
    }))
    .await
    .unwrap();
    let reason = a.wait_for_exit().await;
    assert_eq!(reason, ExitReason::ShutdownWith("maintenance".into()));
    assert!(reason.is_normal());
    assert!(log.entries().contains(&"a:stopping(shutdown: maintenance)".to_owned()));
    let b = system.spawn(Probe::new("b", &log)).unwrap();
    b.tell(run(|ctx| {
        ctx.stop_with(ExitReason::Custom("bad config".into()));
        Ok(())
    }))
    .await
    .unwrap();
    let reason = b.wait_for_exit().await;
    assert_eq!(reason, ExitReason::Custom("bad config".into()));
    assert!(!reason.is_normal());
}
