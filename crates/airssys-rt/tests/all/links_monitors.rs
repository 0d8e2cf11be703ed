//! §8 links and §9 monitors.

use airssys_rt::{Actor, ActorHandle, BoxError, Context, ExitReason, System};

use crate::util::*;

/// An actor that links to or monitors a target at start.
struct Watcher {
    inner: Worker,
    link: Option<ActorHandle>,
    monitor: Option<ActorHandle>,
    mref: Option<airssys_rt::MonitorRef>,
}

impl Actor for Watcher {
    type Msg = WMsg;
    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.trap_exits(self.inner.trap_exits);
        if let Some(t) = &self.link {
            ctx.link(t);
        }
        if let Some(t) = &self.monitor {
            self.mref = Some(ctx.monitor(t));
        }
        self.inner.log.push(format!("{}:started", self.inner.name));
        Ok(())
    }
    async fn handle(&mut self, msg: WMsg, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        match msg {
            WMsg::Note(n) if n == "demonitor" => {
                if let Some(m) = self.mref.take() {
                    ctx.demonitor(m);
                }
            }
            WMsg::Echo(n, r) => {
                let _ = r.send(n);
            }
            WMsg::Panic(t) => panic!("{t}"),
            _ => {}
        }
        Ok(())
    }
    async fn handle_exit(
        &mut self,
        s: airssys_rt::ExitSignal,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        self.inner.log.push(format!("{}:exit-signal({})", self.inner.name, s.reason));
        Ok(())
    }
    async fn handle_down(
        &mut self,
        d: airssys_rt::Down,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        self.inner.log.push(format!("{}:down({})", self.inner.name, d.reason));
        Ok(())
    }
}

/// What the watcher does with its target at start.
#[derive(Clone, Copy, PartialEq)]
enum Watch {
    Link,
    LinkTrapping,
    Monitor,
}

/// Spawn actor "a" and a watcher "b" that links to or monitors it; return both once "b" has
/// started (and so made its link or monitor).
async fn pair(
    system: &System,
    log: &Log,
    how: Watch,
) -> (airssys_rt::ActorRef<Worker>, airssys_rt::ActorRef<Watcher>) {
    let a = system.spawn(Worker::new("a", log)).unwrap();
    let b = watching(system, log, &a.handle(), how).await;
    (a, b)
}

async fn watching(
    system: &System,
    log: &Log,
    target: &ActorHandle,
    how: Watch,
) -> airssys_rt::ActorRef<Watcher> {
    let mut w = watcher("b", log, how == Watch::LinkTrapping);
    match how {
        Watch::Link | Watch::LinkTrapping => w.link = Some(target.clone()),
        Watch::Monitor => w.monitor = Some(target.clone()),
    }
    let b = system.spawn(w).unwrap();
    let _ = b.ask(|r| WMsg::Echo(0, r), T).await;
    b
}

fn watcher(name: &str, log: &Log, trap: bool) -> Watcher {
    let mut inner = Worker::new(name, log);
    inner.trap_exits = trap;
    Watcher { inner, link: None, monitor: None, mref: None }
}

/// §8: a linked actor's abnormal exit kills its partner, with a `Linked` reason naming it.
#[tokio::test]
async fn s8_abnormal_exit_propagates_over_links() {
    let system = System::new();
    let log = Log::new();
    let (a, b) = pair(&system, &log, Watch::Link).await;
    a.tell(WMsg::Panic("boom")).await.unwrap();
    let reason = b.wait_for_exit().await;
    assert_eq!(
        reason,
        ExitReason::Linked { from: a.id(), reason: Box::new(ExitReason::Panic("boom".into())) }
    );
}

/// §8: links are bidirectional: the linking side's crash also kills the target.
#[tokio::test]
async fn s8_links_are_bidirectional() {
    let system = System::new();
    let log = Log::new();
    let (a, b) = pair(&system, &log, Watch::Link).await;
    b.tell(WMsg::Panic("b broke")).await.unwrap();
    assert!(matches!(a.wait_for_exit().await, ExitReason::Linked { .. }));
}

/// §8: a normal exit does not kill a linked partner.
#[tokio::test]
async fn s8_normal_exit_does_not_propagate() {
    let system = System::new();
    let log = Log::new();
    let (a, b) = pair(&system, &log, Watch::Link).await;
    a.stop();
    a.wait_for_exit().await;
    assert_eq!(b.ask(|r| WMsg::Echo(1, r), T).await, Ok(1));
}

/// §8: an actor that traps exits gets the exit as a message and lives on — for normal and
/// abnormal exits alike.
#[tokio::test]
async fn s8_trapping_exits_turns_them_into_messages() {
    let system = System::new();
    let log = Log::new();
    let (a, b) = pair(&system, &log, Watch::LinkTrapping).await;
    a.tell(WMsg::Panic("boom")).await.unwrap();
    a.wait_for_exit().await;
    assert_eq!(b.ask(|r| WMsg::Echo(1, r), T).await, Ok(1));
    assert!(log.entries().contains(&"b:exit-signal(panicked: boom)".to_string()));
}

/// §8: a kill propagates over links like any abnormal exit.
#[tokio::test]
async fn s8_kill_propagates() {
    let system = System::new();
    let log = Log::new();
    let (a, b) = pair(&system, &log, Watch::Link).await;
    a.kill();
    assert_eq!(
        b.wait_for_exit().await,
        ExitReason::Linked { from: a.id(), reason: Box::new(ExitReason::Killed) }
    );
}

/// §8: linking to an actor that is already gone delivers an exit signal with `NoProc`.
#[tokio::test]
async fn s8_link_to_dead_actor_is_noproc() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    a.stop();
    a.wait_for_exit().await;
    let mut w = watcher("b", &log, false);
    w.link = Some(a.handle());
    let b = system.spawn(w).unwrap();
    assert_eq!(
        b.wait_for_exit().await,
        ExitReason::Linked { from: a.id(), reason: Box::new(ExitReason::NoProc) }
    );
}

/// §9: a monitor delivers a down notice with the reason; the watcher lives on.
#[tokio::test]
async fn s9_monitor_delivers_down_with_reason() {
    let system = System::new();
    let log = Log::new();
    let (a, b) = pair(&system, &log, Watch::Monitor).await;
    a.tell(WMsg::Fail("bad")).await.unwrap();
    a.wait_for_exit().await;
    assert_eq!(b.ask(|r| WMsg::Echo(1, r), T).await, Ok(1));
    assert_eq!(log.count("b:down(error: bad)"), 1);
}

/// §9: monitoring an actor that is already gone delivers a `NoProc` down notice at once.
#[tokio::test]
async fn s9_monitor_of_dead_actor_is_noproc() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    a.stop();
    a.wait_for_exit().await;
    let mut w = watcher("b", &log, false);
    w.monitor = Some(a.handle());
    let b = system.spawn(w).unwrap();
    b.ask(|r| WMsg::Echo(0, r), T).await.unwrap();
    assert_eq!(log.count("b:down(no such actor)"), 1);
}

/// §9: a monitor is one-way: the watcher's crash does not affect the watched actor.
#[tokio::test]
async fn s9_monitor_is_one_way() {
    let system = System::new();
    let log = Log::new();
    let (a, b) = pair(&system, &log, Watch::Monitor).await;
    b.tell(WMsg::Panic("watcher died")).await.unwrap();
    b.wait_for_exit().await;
    assert_eq!(a.ask(|r| WMsg::Echo(2, r), T).await, Ok(2));
}

/// §9: after `demonitor`, the watched actor's exit sends no down notice.
#[tokio::test]
async fn s9_demonitor_stops_notices() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    let mut w = watcher("b", &log, false);
    w.monitor = Some(a.handle());
    let b = system.spawn(w).unwrap();
    b.tell(WMsg::Note("demonitor".into())).await.unwrap();
    b.ask(|r| WMsg::Echo(0, r), T).await.unwrap();
    a.tell(WMsg::Panic("gone")).await.unwrap();
    a.wait_for_exit().await;
    b.ask(|r| WMsg::Echo(1, r), T).await.unwrap();
    assert_eq!(log.entries().iter().filter(|e| e.starts_with("b:down")).count(), 0);
}

/// §8: an exit signal sent with `exit` reaches an actor that traps exits as a message, and
/// it lives on; one that does not trap ends at once with that reason (no hook), and ignores
/// `Normal`. `Killed` cannot be trapped.
#[tokio::test]
async fn s8_exit_signals_with_a_chosen_reason() {
    use crate::probe::{PMsg, Probe};
    let system = System::new();
    let log = Log::new();
    let trapping = system.spawn(Probe::new("t", &log).trapping()).unwrap();
    trapping.ask(|r| PMsg::Echo(0, r), T).await.unwrap();
    trapping.exit(ExitReason::Custom("go away".into()));
    assert_eq!(trapping.ask(|r| PMsg::Echo(1, r), T).await, Ok(1));
    assert!(log.entries().contains(&"t:exit-signal(go away)".to_owned()));

    let plain = system.spawn(Probe::new("p", &log)).unwrap();
    plain.ask(|r| PMsg::Echo(0, r), T).await.unwrap();
    plain.exit(ExitReason::Normal);
    assert_eq!(plain.ask(|r| PMsg::Echo(2, r), T).await, Ok(2), "normal is ignored");
    plain.exit(ExitReason::Custom("go away".into()));
    assert!(!plain.is_alive());
    assert_eq!(plain.wait_for_exit().await, ExitReason::Custom("go away".into()));
    assert!(!log.entries().iter().any(|e| e.starts_with("p:stopping")), "{:?}", log.entries());

    trapping.exit(ExitReason::Killed);
    assert_eq!(trapping.wait_for_exit().await, ExitReason::Killed);

    // From inside an actor the signal names its sender.
    let target = system.spawn(Probe::new("u", &log).trapping()).unwrap();
    target.ask(|r| PMsg::Echo(0, r), T).await.unwrap();
    let sender = system.spawn(Probe::new("s", &log)).unwrap();
    let (th, (tx, rx)) = (target.handle(), tokio::sync::oneshot::channel());
    let probe_target = target.clone();
    let _ = probe_target;
    sender
        .tell(crate::probe::run(move |ctx| {
            ctx.exit(&th, ExitReason::ShutdownWith("done".into()));
            let _ = tx.send(ctx.myself().id());
            Ok(())
        }))
        .await
        .unwrap();
    let sender_id = rx.await.unwrap();
    assert_eq!(target.ask(|r| PMsg::Echo(3, r), T).await, Ok(3));
    assert!(log.entries().contains(&"u:exit-signal(shutdown: done)".to_owned()));
    assert_eq!(sender.id(), sender_id);
}

/// §9: `demonitor` says whether it removed the monitor before it fired;
/// `demonitor_flush` also drops a DOWN already queued, so it never reaches `handle_down`.
#[tokio::test]
async fn s9_demonitor_info_and_flush() {
    use crate::probe::{PMsg, Probe, run};
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Probe::new("a", &log)).unwrap();
    let b = system.spawn(Probe::new("b", &log)).unwrap();
    let w = system.spawn(Probe::new("w", &log)).unwrap();
    let (ah, bh) = (a.handle(), b.handle());
    let (tx, rx) = tokio::sync::oneshot::channel();
    w.tell(run(move |ctx| {
        let first = ctx.monitor(&ah);
        let removed = ctx.demonitor(first);
        let again = ctx.demonitor(first);
        let _ = tx.send((removed, again, ctx.monitor(&bh)));
        Ok(())
    }))
    .await
    .unwrap();
    let (removed, again, mref) = rx.await.unwrap();
    assert!(removed, "a live monitor is removed");
    assert!(!again, "a removed monitor is not found twice");

    // The DOWN of b is queued while w is busy; w then flushes it.
    let (go_tx, go_rx) = tokio::sync::oneshot::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    w.tell(PMsg::After(
        go_rx,
        Box::new(move |ctx| {
            let _ = done_tx.send(ctx.demonitor_flush(mref));
            Ok(())
        }),
    ))
    .await
    .unwrap();
    b.kill();
    b.wait_for_exit().await;
    go_tx.send(()).unwrap();
    assert!(!done_rx.await.unwrap(), "the monitor had fired");
    // w goes past its signal lane before answering: no DOWN was handled.
    assert_eq!(w.ask(|r| PMsg::Echo(1, r), T).await, Ok(1));
    assert!(!log.entries().iter().any(|e| e.starts_with("w:down")), "{:?}", log.entries());
    a.stop();
}

/// §9: monitoring by registered name: the DOWN names it; a name nobody holds gives an
/// immediate DOWN with `NoProc`.
#[tokio::test]
async fn s9_monitor_by_name() {
    use crate::probe::{PMsg, Probe, run};
    let system = System::new();
    let log = Log::new();
    let svc = system
        .spawn_with(Probe::new("svc", &log), airssys_rt::SpawnOptions::new().name("svc"))
        .unwrap();
    let w = system.spawn(Probe::new("w", &log)).unwrap();
    w.tell(run(|ctx| {
        ctx.monitor_name("svc");
        ctx.monitor_name("nobody");
        Ok(())
    }))
    .await
    .unwrap();
    w.ask(|r| PMsg::Echo(0, r), T).await.unwrap();
    svc.tell(run(|_| Err("crash".into()))).await.unwrap();
    svc.wait_for_exit().await;
    let expect = ["w:down(nobody, no such actor)", "w:down(svc, error: crash)"];
    let entries = tokio::time::timeout(T, async {
        loop {
            let e = log.entries();
            if expect.iter().all(|x| e.iter().any(|l| l == x)) {
                return e;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{:?}", log.entries()));
    let first = entries.iter().position(|l| l == expect[0]).unwrap();
    let second = entries.iter().position(|l| l == expect[1]).unwrap();
    assert!(first < second);
}

/// §8: a linked actor's abnormal exit ends a partner that does not trap exits at once, as
/// in OTP: it handles nothing more, even while busy, and runs no stop hook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s8_linked_exit_ends_a_non_trapping_partner_at_once() {
    use crate::probe::{PMsg, Probe, run};
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Probe::new("a", &log)).unwrap();
    let ah = a.handle();
    let partner = Probe::new("b", &log).on_start(move |ctx| {
        ctx.link(&ah);
        Ok(())
    });
    let ticks = std::sync::Arc::clone(&partner.ticks);
    let b = system.spawn(partner).unwrap();
    b.ask(|r| PMsg::Echo(0, r), T).await.unwrap();
    let (busy_tx, busy_rx) = tokio::sync::oneshot::channel();
    b.tell(run(move |_| {
        let _ = busy_tx.send(());
        Ok(())
    }))
    .await
    .unwrap();
    b.tell(PMsg::Spin(std::time::Duration::from_millis(100))).await.unwrap();
    for _ in 0..50 {
        b.tell(PMsg::Tick).await.unwrap();
    }
    busy_rx.await.unwrap();
    a.tell(run(|_| Err("boom".into()))).await.unwrap();
    let reason = b.wait_for_exit().await;
    assert_eq!(
        reason,
        ExitReason::Linked { from: a.id(), reason: Box::new(ExitReason::Error("boom".into())) }
    );
    assert_eq!(ticks.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(!log.entries().iter().any(|e| e.starts_with("b:stopping")), "{:?}", log.entries());
}
