//! §3 mailboxes and full-mailbox policies, §4 system signals.

use std::time::Duration;

use airssys_rt::{
    Delivery, DropPolicy, ExitReason, MailboxConfig, SendError, SpawnOptions, System, TrySendError,
};

use crate::util::*;

fn bounded(system: &System, log: &Log, cap: usize) -> airssys_rt::ActorRef<Worker> {
    system
        .spawn_with(Worker::new("a", log), SpawnOptions::new().mailbox(MailboxConfig::bounded(cap)))
        .unwrap()
}

/// §3: `try_tell` on a full bounded mailbox fails at once and hands the message back; the
/// queue keeps what it had.
#[tokio::test(start_paused = true)]
async fn s3_fail_fast_hands_message_back() {
    let system = System::new();
    let log = Log::new();
    let a = bounded(&system, &log, 2);
    a.tell(WMsg::Sleep(Duration::from_secs(1))).await.unwrap();
    settle().await; // the actor is now inside the sleep; the queue is empty
    a.try_tell(WMsg::Num(1)).unwrap();
    a.try_tell(WMsg::Num(2)).unwrap();
    match a.try_tell(WMsg::Num(3)) {
        Err(TrySendError::Full(WMsg::Num(3))) => {}
        other => panic!("expected Full(Num(3)), got {other:?}"),
    }
    assert_eq!(a.metrics().mailbox_len, 2);
    assert_eq!(a.ask(WMsg::Seen, T).await.unwrap(), vec![1, 2]);
}

/// §3: `tell` on a full bounded mailbox waits until there is room (backpressure), then
/// delivers in order.
#[tokio::test(start_paused = true)]
async fn s3_wait_applies_backpressure() {
    let system = System::new();
    let log = Log::new();
    let a = bounded(&system, &log, 1);
    a.tell(WMsg::Sleep(Duration::from_secs(10))).await.unwrap();
    settle().await;
    a.tell(WMsg::Num(1)).await.unwrap(); // fills the mailbox
    let start = tokio::time::Instant::now();
    a.tell(WMsg::Num(2)).await.unwrap(); // must wait for the sleep to end
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(a.ask(WMsg::Seen, T).await.unwrap(), vec![1, 2]);
}

/// §3: drop-newest drops the message being sent, counts it and hands it back.
#[tokio::test(start_paused = true)]
async fn s3_drop_newest() {
    let system = System::new();
    let log = Log::new();
    let a = bounded(&system, &log, 2);
    a.tell(WMsg::Sleep(Duration::from_secs(1))).await.unwrap();
    settle().await;
    for n in 1..=4 {
        let d = a.tell_dropping(WMsg::Num(n), DropPolicy::Newest).unwrap();
        match (n, d) {
            (1 | 2, Delivery::Queued) => {}
            (3 | 4, Delivery::Dropped(WMsg::Num(m))) => assert_eq!(m, n),
            (n, d) => panic!("send {n}: unexpected {d:?}"),
        }
    }
    assert_eq!(a.metrics().dropped, 2);
    assert_eq!(a.ask(WMsg::Seen, T).await.unwrap(), vec![1, 2]);
}

/// §3: drop-oldest evicts the oldest queued message, counts it and hands it back.
#[tokio::test(start_paused = true)]
async fn s3_drop_oldest() {
    let system = System::new();
    let log = Log::new();
    let a = bounded(&system, &log, 2);
    a.tell(WMsg::Sleep(Duration::from_secs(1))).await.unwrap();
    settle().await;
    for n in 1..=4 {
        let d = a.tell_dropping(WMsg::Num(n), DropPolicy::Oldest).unwrap();
        match (n, d) {
            (1 | 2, Delivery::Queued) => {}
            (3, Delivery::Dropped(WMsg::Num(1))) | (4, Delivery::Dropped(WMsg::Num(2))) => {}
            (n, d) => panic!("send {n}: unexpected {d:?}"),
        }
    }
    assert_eq!(a.metrics().dropped, 2);
    assert_eq!(a.ask(WMsg::Seen, T).await.unwrap(), vec![3, 4]);
}

/// §3: sending to a stopped actor fails and hands the message back; a sender waiting on a
/// full mailbox is released with the message when the actor dies.
#[tokio::test(start_paused = true)]
async fn s3_closed_mailbox_hands_message_back() {
    let system = System::new();
    let log = Log::new();
    let a = bounded(&system, &log, 1);
    a.tell(WMsg::Sleep(Duration::from_secs(5))).await.unwrap();
    settle().await;
    a.tell(WMsg::Num(1)).await.unwrap();
    let waiting = {
        let a = a.clone();
        tokio::spawn(async move { a.tell(WMsg::Num(2)).await })
    };
    settle().await;
    a.kill();
    match waiting.await.unwrap() {
        Err(SendError(WMsg::Num(2))) => {}
        other => panic!("expected the message back, got {other:?}"),
    }
    assert_eq!(a.wait_for_exit().await, ExitReason::Killed);
    assert!(matches!(a.try_tell(WMsg::Num(3)), Err(TrySendError::Closed(WMsg::Num(3)))));
}

/// §3: an unbounded mailbox takes everything.
#[tokio::test]
async fn s3_unbounded_takes_everything() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    for n in 0..10_000 {
        a.try_tell(WMsg::Num(n)).unwrap();
    }
    assert_eq!(a.ask(WMsg::Seen, T).await.unwrap().len(), 10_000);
}

/// §4: a stop signal does not wait behind queued user messages, even in a full bounded
/// mailbox: the actor finishes the current message and stops; queued messages are dropped.
#[tokio::test(start_paused = true)]
async fn s4_stop_overtakes_queued_messages() {
    let system = System::new();
    let log = Log::new();
    let a = bounded(&system, &log, 3);
    a.tell(WMsg::Sleep(Duration::from_secs(1))).await.unwrap();
    settle().await;
    for n in 0..3 {
        a.try_tell(WMsg::Note(format!("queued{n}"))).unwrap();
    }
    assert!(a.try_tell(WMsg::Num(9)).unwrap_err().is_full());
    assert!(a.stop());
    assert_eq!(a.wait_for_exit().await, ExitReason::Normal);
    assert_eq!(log.entries(), ["a:started", "a:slept", "a:stopping(normal)", "a:stopped"]);
}

/// §3: `drain` closes the mailbox to new messages, handles what is queued, then stops.
#[tokio::test(start_paused = true)]
async fn s3_drain_handles_queued_then_stops() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    a.tell(WMsg::Sleep(Duration::from_secs(1))).await.unwrap();
    a.tell(WMsg::Note("one".into())).await.unwrap();
    a.tell(WMsg::Note("two".into())).await.unwrap();
    a.drain();
    assert!(a.try_tell(WMsg::Note("late".into())).is_err());
    assert_eq!(a.wait_for_exit().await, ExitReason::Normal);
    assert_eq!(
        log.entries(),
        ["a:started", "a:slept", "a:one", "a:two", "a:stopping(normal)", "a:stopped"]
    );
}
