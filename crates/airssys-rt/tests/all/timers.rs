//! §12 timers and §15 metrics.

use std::time::Duration;

use airssys_rt::{MailboxConfig, SpawnOptions, System};

use crate::util::*;

/// §12: `send_after` delivers after the delay, not before.
#[tokio::test(start_paused = true)]
async fn s12_send_after_delivers_after_delay() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    let _t = a.send_after(Duration::from_secs(10), WMsg::Num(1));
    tokio::time::sleep(Duration::from_millis(9_999)).await;
    assert!(a.ask(WMsg::Seen, T).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(a.ask(WMsg::Seen, T).await.unwrap(), vec![1]);
}

/// §12: a cancelled timer never delivers.
#[tokio::test(start_paused = true)]
async fn s12_cancelled_timer_never_fires() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    let t = a.send_after(Duration::from_secs(1), WMsg::Num(1));
    t.cancel();
    // A timer due after the cancelled one is the positive signal that its time has passed.
    let _later = a.send_after(Duration::from_secs(2), WMsg::Num(2));
    while a.ask(WMsg::Seen, T).await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(a.ask(WMsg::Seen, T).await.unwrap(), vec![2]);
}

/// §12: an interval delivers once per period until cancelled, and stops by itself when the
/// actor dies.
#[tokio::test(start_paused = true)]
async fn s12_interval_until_cancelled_or_dead() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    let mut n = 0;
    let t = a.send_interval(Duration::from_secs(1), move || {
        n += 1;
        WMsg::Num(n)
    });
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(a.ask(WMsg::Seen, T).await.unwrap(), vec![1, 2, 3]);
    t.cancel();
    // A timer due two periods later is the positive signal that the interval had its chance.
    let _later = a.send_after(Duration::from_secs(2), WMsg::Num(99));
    while a.ask(WMsg::Seen, T).await.unwrap().len() < 4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(a.ask(WMsg::Seen, T).await.unwrap(), vec![1, 2, 3, 99]);

    let t2 = a.send_interval(Duration::from_secs(1), || WMsg::Num(0));
    a.stop();
    a.wait_for_exit().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(t2.is_finished());
}

/// §15: metrics count handled messages, queue length and drops.
#[tokio::test(start_paused = true)]
async fn s15_metrics() {
    let system = System::new();
    let a = system
        .spawn_with(
            Worker::new("a", &Log::new()),
            SpawnOptions::new().mailbox(MailboxConfig::bounded(2)),
        )
        .unwrap();
    a.tell(WMsg::Num(1)).await.unwrap();
    a.ask(|r| WMsg::Echo(0, r), T).await.unwrap();
    let m = a.metrics();
    assert_eq!((m.handled, m.mailbox_len, m.dropped, m.restarts, m.alive), (2, 0, 0, 0, true));
    a.tell(WMsg::Sleep(Duration::from_secs(1))).await.unwrap();
    settle().await;
    a.try_tell(WMsg::Num(2)).unwrap();
    a.try_tell(WMsg::Num(3)).unwrap();
    a.tell_dropping(WMsg::Num(4), airssys_rt::DropPolicy::Newest).unwrap();
    let m = a.metrics();
    assert_eq!((m.mailbox_len, m.dropped), (2, 1));
}
