//! §5 request-response.

use std::future::Future;
use std::time::Duration;

use airssys_rt::{AskError, ExitReason, System};

use crate::util::*;

/// §5: ask returns the typed reply.
#[tokio::test]
async fn s5_ask_returns_the_reply() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    assert_eq!(a.ask(|r| WMsg::Echo(42, r), T).await, Ok(42));
}

/// §5: an ask that is not answered in time fails with `Timeout` after exactly its timeout.
#[tokio::test(start_paused = true)]
async fn s5_ask_times_out() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    let start = tokio::time::Instant::now();
    let r = a.ask(WMsg::Swallow, Duration::from_millis(250)).await;
    assert_eq!(r, Err(AskError::Timeout));
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    // The actor is unaffected.
    assert_eq!(a.ask(|r| WMsg::Echo(1, r), T).await, Ok(1));
}

/// §5: if the target dies before answering, the ask fails with `NoReply` at once, not at the
/// timeout.
#[tokio::test(start_paused = true)]
async fn s5_ask_fails_fast_when_target_dies() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    a.tell(WMsg::Sleep(Duration::from_millis(100))).await.unwrap();
    a.tell(WMsg::Panic("boom")).await.unwrap();
    let start = tokio::time::Instant::now();
    // Queued behind the panic: dropped with the mailbox when the actor dies.
    let r = a.ask(|r| WMsg::Echo(7, r), Duration::from_secs(3600)).await;
    assert_eq!(r, Err(AskError::NoReply(Some(ExitReason::Panic("boom".into())))));
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(a.wait_for_exit().await, ExitReason::Panic("boom".into()));
}

/// §5: asking an actor that is gone fails with `Closed`.
#[tokio::test]
async fn s5_ask_to_dead_actor_is_closed() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    a.stop();
    a.wait_for_exit().await;
    assert_eq!(a.ask(|r| WMsg::Echo(1, r), T).await, Err(AskError::Closed));
}

/// §5: asks with different timeouts to the same actor each time out after their own
/// timeout, whatever order they were sent in.
#[tokio::test(start_paused = true)]
async fn s5_each_ask_has_its_own_timeout() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for ms in [300u64, 100, 200, 100] {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let r = a.ask(WMsg::Swallow, Duration::from_millis(ms)).await;
            (ms, r, start.elapsed())
        }));
    }
    for t in tasks {
        let (ms, r, elapsed) = t.await.unwrap();
        assert_eq!(r, Err(AskError::Timeout));
        assert_eq!(elapsed, Duration::from_millis(ms));
    }
}

/// §5: a full bounded mailbox counts against the ask's timeout.
#[tokio::test(start_paused = true)]
async fn s5_waiting_for_room_counts_against_the_timeout() {
    let system = System::new();
    let a = system
        .spawn_with(
            Worker::new("a", &Log::new()),
            airssys_rt::SpawnOptions::new().mailbox(airssys_rt::MailboxConfig::bounded(1)),
        )
        .unwrap();
    a.tell(WMsg::Sleep(Duration::from_secs(60))).await.unwrap();
    settle().await;
    a.tell(WMsg::Num(1)).await.unwrap();
    let start = tokio::time::Instant::now();
    let r = a.ask(|r| WMsg::Echo(1, r), Duration::from_millis(500)).await;
    assert_eq!(r, Err(AskError::Timeout));
    assert_eq!(start.elapsed(), Duration::from_millis(500));
}

/// §5: `try_ask` queues now: a full mailbox or a gone actor is refused at once with the
/// message handed back; a queued ask is handled even if its answer is awaited later, and its
/// timeout runs from the call.
#[tokio::test(start_paused = true)]
async fn s5_try_ask_queues_now_or_refuses() {
    let system = System::new();
    let options = airssys_rt::SpawnOptions::new().mailbox(airssys_rt::MailboxConfig::bounded(1));
    let log = Log::new();
    let a = system.spawn_with(Worker::new("a", &log), options).unwrap();
    a.tell(WMsg::Sleep(Duration::from_millis(100))).await.unwrap();
    tokio::task::yield_now().await;
    // The sleeper is being handled; one slot is free.
    let first = a.try_ask(|r| WMsg::Echo(1, r), T).unwrap();
    let full = a.try_ask(|r| WMsg::Echo(2, r), T);
    assert!(matches!(full, Err(airssys_rt::TrySendError::Full(WMsg::Echo(2, _)))));
    assert_eq!(first.await, Ok(1));

    let start = tokio::time::Instant::now();
    let slow = a.try_ask(WMsg::Swallow, Duration::from_millis(250)).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(slow.await, Err(AskError::Timeout));
    assert_eq!(start.elapsed(), Duration::from_millis(250));

    a.stop();
    a.wait_for_exit().await;
    assert!(matches!(a.try_ask(|r| WMsg::Echo(3, r), T), Err(airssys_rt::TrySendError::Closed(_))));
}

/// §5: an ask started from a plain thread (outside any runtime) still times out: the
/// system's runtime times it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_ask_from_a_plain_thread_still_times_out() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    let pending = std::thread::spawn(move || a.try_ask(WMsg::Swallow, Duration::from_millis(50)))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(tokio::time::timeout(T, pending).await, Ok(Err(AskError::Timeout)));
}

/// §5: an actor that asks itself from its own handler gets `CallingSelf` at once, whatever
/// the timeout (OTP's `calling_self`); awaiting a `try_ask` to itself there fails the same
/// way, while the request itself is handled afterwards.
#[tokio::test]
async fn s5_asking_oneself_fails_at_once() {
    use crate::probe::{PMsg, Probe};
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Probe::new("a", &log)).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    a.tell(PMsg::Run(Box::new(move |ctx| {
        let me = ctx.myself().clone();
        // A closure cannot await: run the two asks on this task with a nested future.
        let outcome = futures_block_on(async move {
            let asked = me.ask(|r| PMsg::Echo(1, r), Duration::from_secs(24 * 3600)).await;
            let pending = me.try_ask(|r| PMsg::Echo(2, r), Duration::from_secs(24 * 3600));
            let tried = pending.expect("queued").await;
            (asked, tried)
        });
        let _ = tx.send(outcome);
        Ok(())
    })))
    .await
    .unwrap();
    let start = std::time::Instant::now();
    let (asked, tried) = rx.await.unwrap();
    assert_eq!(asked, Err(AskError::CallingSelf));
    assert_eq!(tried, Err(AskError::CallingSelf));
    assert!(start.elapsed() < Duration::from_secs(5));
    // Asked from another task, it answers as usual.
    assert_eq!(a.ask(|r| PMsg::Echo(3, r), T).await, Ok(3));
    // In `started` too.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let b = Probe::new("b", &log).on_start(move |ctx| {
        let me = ctx.myself().clone();
        let asked = futures_block_on(me.ask(|r| PMsg::Echo(1, r), Duration::from_secs(3600)));
        let _ = tx.send(asked);
        Ok(())
    });
    let _b = system.spawn(b).unwrap();
    assert_eq!(rx.await.unwrap(), Err(AskError::CallingSelf));
}

/// Poll a future to completion on the current task without awaiting (only for futures that
/// finish without waiting for anything else, as the self-asks above do).
fn futures_block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// §5: a call whose callee crashed, was killed or stopped before answering fails with
/// `NoReply` carrying the callee's exit reason (OTP's `{Reason, {gen_server, call, ..}}`);
/// a callee that drops the reply and goes on gives `NoReply(None)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_no_reply_carries_the_exit_reason() {
    use crate::probe::{PMsg, Probe};
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Probe::new("a", &log)).unwrap();
    assert_eq!(a.ask(PMsg::DropReply, T).await, Err(AskError::NoReply(None)));
    assert_eq!(
        a.ask(PMsg::PanicHolding, T).await,
        Err(AskError::NoReply(Some(ExitReason::Panic("crashed holding a reply".into()))))
    );
    let b = system.spawn(Probe::new("b", &log)).unwrap();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (_never_tx, never_rx) = tokio::sync::oneshot::channel::<()>();
    b.tell(PMsg::Run(Box::new(move |_| {
        let _ = started_tx.send(());
        Ok(())
    })))
    .await
    .unwrap();
    b.tell(PMsg::After(never_rx, Box::new(|_| Ok(())))).await.unwrap();
    let pending = b.try_ask(|r| PMsg::Echo(1, r), T).unwrap();
    started_rx.await.unwrap();
    b.kill();
    assert_eq!(pending.await, Err(AskError::NoReply(Some(ExitReason::Killed))));
}

/// §5: a forwarded `try_ask` hands its outcome to a closure, once, with no task waiting: the
/// answer (as the replier answers), the timeout (from the deadline reaper, at its time), or
/// the loss of the reply when the replier dies.
#[tokio::test(start_paused = true)]
async fn s5_a_forwarded_ask_delivers_each_outcome_once() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let to = |tag: &'static str| {
        let tx = tx.clone();
        move |outcome: Result<u64, AskError>| tx.send((tag, outcome)).unwrap()
    };

    a.try_ask(|r| WMsg::Echo(7, r), T).unwrap().forward(to("answer"));
    assert_eq!(rx.recv().await, Some(("answer", Ok(7))));

    let start = tokio::time::Instant::now();
    a.try_ask(WMsg::Swallow, Duration::from_millis(250)).unwrap().forward(to("timeout"));
    assert_eq!(rx.recv().await, Some(("timeout", Err(AskError::Timeout))));
    assert_eq!(start.elapsed(), Duration::from_millis(250));

    // Known before it is forwarded: handed over at once.
    let done = a.try_ask(|r| WMsg::Echo(8, r), T).unwrap();
    assert_eq!(a.ask(|r| WMsg::Echo(9, r), T).await, Ok(9));
    done.forward(to("early"));
    assert_eq!(rx.try_recv().ok(), Some(("early", Ok(8))));

    // The replier crashes holding the reply: the outcome says why.
    use crate::probe::{PMsg, Probe};
    let b = system.spawn(Probe::new("b", &log)).unwrap();
    let (tx2, mut lost) = tokio::sync::mpsc::unbounded_channel();
    b.try_ask(PMsg::PanicHolding, T).unwrap().forward(move |outcome| tx2.send(outcome).unwrap());
    assert_eq!(
        lost.recv().await,
        Some(Err(AskError::NoReply(Some(ExitReason::Panic("crashed holding a reply".into())))))
    );

    // Each outcome came once: once every forwarding closure is gone, nothing else came.
    drop((tx, a, b));
    assert_eq!(rx.recv().await, None);
    assert_eq!(lost.recv().await, None);
}
