//! §1 actors and §2 ordering.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use airssys_rt::{Actor, BoxError, Context, Reply, System};

use crate::util::*;

/// §1: an actor handles one message at a time: its handler is never entered concurrently,
/// even when many tasks send to it at once on a multi-threaded runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_handler_is_never_entered_concurrently() {
    struct Guarded {
        inside: Arc<AtomicUsize>,
        max: Arc<AtomicUsize>,
    }
    enum M {
        Work,
        Done(Reply<()>),
    }
    impl Actor for Guarded {
        type Msg = M;
        async fn handle(&mut self, msg: M, _: &mut Context<Self>) -> Result<(), BoxError> {
            let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            self.inside.fetch_sub(1, Ordering::SeqCst);
            if let M::Done(r) = msg {
                let _ = r.send(());
            }
            Ok(())
        }
    }
    let system = System::new();
    let max = Arc::new(AtomicUsize::new(0));
    let a =
        system.spawn(Guarded { inside: Arc::new(AtomicUsize::new(0)), max: max.clone() }).unwrap();
    let mut senders = Vec::new();
    for _ in 0..8 {
        let a = a.clone();
        senders.push(tokio::spawn(async move {
            for _ in 0..200 {
                a.tell(M::Work).await.unwrap();
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    a.ask(M::Done, T).await.unwrap();
    assert_eq!(max.load(Ordering::SeqCst), 1);
    assert!(a.metrics().handled >= 1600);
}

/// §2: messages from one sender arrive in the order sent, for every sender, while several
/// senders interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_per_sender_fifo_with_concurrent_senders() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    let senders = 4u64;
    let per = 2_000u64;
    let mut tasks = Vec::new();
    for s in 0..senders {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                a.tell(WMsg::Num(s * 1_000_000 + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seen = a.ask(WMsg::Seen, T).await.unwrap();
    assert_eq!(seen.len() as u64, senders * per);
    for s in 0..senders {
        let mine: Vec<u64> =
            seen.iter().copied().filter(|n| n / 1_000_000 == s).map(|n| n % 1_000_000).collect();
        assert_eq!(mine, (0..per).collect::<Vec<_>>(), "sender {s} out of order");
    }
}

/// §1: lifecycle hooks run in order: started before the first message, stopping and stopped
/// after the last.
#[tokio::test]
async fn s1_lifecycle_hooks_run_in_order() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn(Worker::new("a", &log)).unwrap();
    a.tell(WMsg::Note("hello".into())).await.unwrap();
    a.tell(WMsg::StopSelf).await.unwrap();
    assert_eq!(a.wait_for_exit().await, airssys_rt::ExitReason::Normal);
    assert_eq!(log.entries(), ["a:started", "a:hello", "a:stopping(normal)", "a:stopped"],);
    assert!(!a.is_alive());
    assert_eq!(system.actor_count(), 0);
}
