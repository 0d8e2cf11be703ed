//! Regression tests for bugs found in review, one per bug.

use std::time::Duration;

use airssys_rt::{
    Actor, Backoff, BoxError, ChildSpec, Context, ErrorAction, ExitReason, Strategy,
    SupervisorSpec, System,
};

use crate::util::*;

/// With backoff, two children of a one-for-one supervisor crashing within one backoff delay
/// are both restarted (a newer restart decision must not cancel the older delayed one).
#[tokio::test(start_paused = true)]
async fn backoff_restarts_every_crashed_child() {
    let system = System::new();
    let log = Log::new();
    let (l1, l2) = (log.clone(), log.clone());
    let sup = system
        .spawn_supervisor(
            SupervisorSpec::new(Strategy::OneForOne)
                .intensity(10, Duration::from_secs(60))
                .backoff(Backoff {
                    initial: Duration::from_millis(100),
                    max: Duration::from_secs(1),
                    jitter: 0.0,
                    reset_after: Duration::from_secs(60),
                })
                .child(ChildSpec::actor("a", move || Worker::new("a", &l1)))
                .child(ChildSpec::actor("b", move || Worker::new("b", &l2))),
        )
        .await
        .unwrap();
    let a = sup.child::<Worker>("a").await.unwrap();
    let b = sup.child::<Worker>("b").await.unwrap();
    a.tell(WMsg::Panic("a")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    b.tell(WMsg::Panic("b")).await.unwrap();
    assert_eq!(a.ask(WMsg::Incarnation, T).await, Ok(2));
    assert_eq!(b.ask(WMsg::Incarnation, T).await, Ok(2));
}

/// An exit signal sent to an incarnation that has since been replaced does not reach the
/// new one: a linked peer that stops after a restart must not kill the restarted actor.
#[tokio::test]
async fn link_exit_does_not_cross_incarnations() {
    struct Peer {
        target: airssys_rt::ActorHandle,
        busy: Option<tokio::sync::oneshot::Sender<()>>,
    }
    impl Actor for Peer {
        type Msg = ();
        async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
            ctx.trap_exits(true);
            ctx.link(&self.target);
            Ok(())
        }
        async fn handle(&mut self, _: (), _: &mut Context<Self>) -> Result<(), BoxError> {
            // Busy while the linked actor crashes, so its exit signal is still queued when
            // this actor is killed.
            if let Some(busy) = self.busy.take() {
                let _ = busy.send(());
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    }
    let system = System::new();
    let log = Log::new();
    let l = log.clone();
    let sup = system
        .spawn_supervisor(
            SupervisorSpec::new(Strategy::OneForOne)
                .intensity(10, Duration::from_secs(60))
                .child(ChildSpec::actor("a", move || Worker::new("a", &l))),
        )
        .await
        .unwrap();
    let a = sup.child::<Worker>("a").await.unwrap();
    let (busy, is_busy) = tokio::sync::oneshot::channel();
    let peer = system.spawn(Peer { target: a.handle(), busy: Some(busy) }).unwrap();
    peer.tell(()).await.unwrap();
    // Linked (in `started`) and busy in its handler.
    is_busy.await.unwrap();
    a.tell(WMsg::Panic("crash")).await.unwrap();
    assert_eq!(a.ask(WMsg::Incarnation, T).await, Ok(2));
    peer.kill(); // an abnormal exit of the peer, linked to incarnation 1 only
    // Its exit signals have gone out before its exit is reported; a signal overtakes the
    // ask below, so a wrongly delivered one would answer from a third incarnation.
    peer.wait_for_exit().await;
    assert_eq!(a.ask(WMsg::Incarnation, T).await, Ok(2), "the restarted actor was killed");
}

/// A panic in `on_error` is a crash with the panic text, not a silent kill.
#[tokio::test]
async fn panic_in_on_error_is_a_crash() {
    struct Fragile;
    impl Actor for Fragile {
        type Msg = ();
        async fn handle(&mut self, _: (), _: &mut Context<Self>) -> Result<(), BoxError> {
            Err("first failure".into())
        }
        fn on_error(&mut self, _: &BoxError, _: &mut Context<Self>) -> ErrorAction {
            panic!("on_error broke")
        }
    }
    let system = System::new();
    let a = system.spawn(Fragile).unwrap();
    a.tell(()).await.unwrap();
    assert_eq!(a.wait_for_exit().await, ExitReason::Panic("on_error broke".into()));
}

/// A panic while *creating* a handler's future (before its first poll) is caught too.
#[tokio::test]
async fn panic_before_first_poll_is_a_crash() {
    struct Eager;
    impl Actor for Eager {
        type Msg = ();
        #[allow(clippy::manual_async_fn, reason = "the panic must happen outside the future")]
        fn handle(
            &mut self,
            _: (),
            _: &mut Context<Self>,
        ) -> impl Future<Output = Result<(), BoxError>> + Send {
            panic!("eager");
            #[allow(unreachable_code, reason = "the type of the function")]
            async {
                Ok(())
            }
        }
    }
    let system = System::new();
    let a = system.spawn(Eager).unwrap();
    a.tell(()).await.unwrap();
    assert_eq!(a.wait_for_exit().await, ExitReason::Panic("eager".into()));
}

/// The ask reaper of a system used from a second runtime after the first one shut down still
/// times asks out (its task died with the first runtime).
#[test]
fn ask_timeouts_survive_a_runtime_shutdown() {
    let first = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (system, a) = first.block_on(async {
        let system = System::new();
        let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
        assert_eq!(
            a.ask(WMsg::Swallow, Duration::from_millis(20)).await,
            Err(airssys_rt::AskError::Timeout)
        );
        // Leave a long deadline behind so that the reaper is still running at shutdown.
        let pending = a.clone();
        tokio::spawn(async move { pending.ask(WMsg::Swallow, Duration::from_secs(3600)).await });
        tokio::task::yield_now().await;
        (system, a)
    });
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    second.block_on(async {
        let b = system.spawn(Worker::new("b", &Log::new())).unwrap();
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            b.ask(WMsg::Swallow, Duration::from_millis(20)),
        )
        .await;
        assert_eq!(r, Ok(Err(airssys_rt::AskError::Timeout)), "the ask never timed out");
        drop(a);
    });
}

/// An interval with a zero period runs (at the shortest period) instead of panicking.
#[tokio::test]
async fn zero_period_interval_does_not_panic() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    let t = a.send_interval(Duration::ZERO, || WMsg::Num(1));
    // The interval has fired several times (a positive signal), and its task is still there.
    while a.ask(WMsg::Seen, T).await.unwrap().len() < 3 {
        tokio::task::yield_now().await;
    }
    assert!(!t.is_finished(), "the interval task died");
    t.cancel();
}

/// A supervised child that is drained is gone for good, and its supervisor knows it: it is
/// not reported as running and not restarted.
#[tokio::test]
async fn drained_child_is_reported_to_its_supervisor() {
    let system = System::new();
    let log = Log::new();
    let l = log.clone();
    let sup = system
        .spawn_supervisor(
            SupervisorSpec::new(Strategy::OneForOne)
                .child(ChildSpec::actor("a", move || Worker::new("a", &l))),
        )
        .await
        .unwrap();
    let a = sup.child::<Worker>("a").await.unwrap();
    a.drain();
    assert_eq!(a.wait_for_exit().await, ExitReason::Normal);
    let info = sup.which_children().await.unwrap();
    assert!(!info[0].running, "a drained child is still reported as running");
    assert_eq!(log.count("a:started"), 1, "a drained child was restarted");
}
