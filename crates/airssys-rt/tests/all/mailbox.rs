//! §3 mailboxes and full-mailbox policies, §4 system signals.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use airssys_rt::{
    Actor, ActorRef, BoxError, ChildSpec, Context, Delivery, DropPolicy, ExitReason, MailboxConfig,
    Reply, SendError, SpawnOptions, Strategy, SupervisorSpec, System, TrySendError,
};
use tokio::sync::oneshot;

use crate::util::*;

fn bounded(system: &System, log: &Log, cap: usize) -> ActorRef<Worker> {
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

/// An actor that records numbers and can be held inside its handler until released, so that
/// a test can look at the mailbox while the actor is in the middle of a batch.
#[derive(Default)]
struct Gate {
    seen: Vec<u64>,
}

#[derive(Debug)]
enum GMsg {
    Num(u64),
    /// Say "entered" on the first channel, then wait in the handler until the second fires
    /// (or its sender is dropped).
    Hold(oneshot::Sender<()>, oneshot::Receiver<()>),
    Seen(Reply<Vec<u64>>),
}

impl Actor for Gate {
    type Msg = GMsg;

    async fn handle(&mut self, msg: GMsg, _ctx: &mut Context<Self>) -> Result<(), BoxError> {
        match msg {
            GMsg::Num(n) => self.seen.push(n),
            GMsg::Hold(entered, release) => {
                let _ = entered.send(());
                let _ = release.await;
            }
            GMsg::Seen(r) => {
                let _ = r.send(self.seen.clone());
            }
        }
        Ok(())
    }
}

/// A `Hold` message, the receiver told when the handler holds it, and the release.
fn hold() -> (GMsg, oneshot::Receiver<()>, oneshot::Sender<()>) {
    let (entered_tx, entered_rx) = oneshot::channel();
    let (release_tx, release_rx) = oneshot::channel();
    (GMsg::Hold(entered_tx, release_rx), entered_rx, release_tx)
}

fn gate(system: &System, cap: usize) -> ActorRef<Gate> {
    let options = SpawnOptions::new().mailbox(MailboxConfig::bounded(cap));
    system.spawn_with(Gate::default(), options).unwrap()
}

#[track_caller]
fn assert_full(r: Result<(), TrySendError<GMsg>>) {
    match r {
        Err(TrySendError::Full(GMsg::Num(99))) => {}
        other => panic!("expected Full(Num(99)), got {other:?}"),
    }
}

/// Poll `fut` once, with this task's waker.
async fn poll_once<F: Future>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

/// §3: the actor takes every queued message at once into a batch, but a bounded mailbox's
/// capacity still counts each of them until it is handed to the handler: refusals are exact
/// while the actor is in the middle of a batch, each message handed out makes room for exactly
/// one more (and lets a waiting sender in at once, not at the end of the batch), and every
/// accepted message is handled, in order.
/// (Runs on a current-thread runtime: the actor runs only while this test awaits.)
#[tokio::test]
async fn s3_capacity_is_exact_while_the_actor_works_through_a_batch() {
    let system = System::new();
    let g = gate(&system, 4);
    let (hold1, entered1, release1) = hold();
    let (hold2, entered2, release2) = hold();
    // All four are queued before the actor takes anything, so it takes them as one batch.
    g.try_tell(hold1).unwrap();
    g.try_tell(GMsg::Num(1)).unwrap();
    g.try_tell(hold2).unwrap();
    g.try_tell(GMsg::Num(2)).unwrap();
    assert_full(g.try_tell(GMsg::Num(99)));

    // In `hold1`: Num(1), hold2 and Num(2) are taken but not handled, and still count.
    entered1.await.unwrap();
    assert_eq!(g.metrics().mailbox_len, 3);
    g.try_tell(GMsg::Num(3)).unwrap();
    assert_full(g.try_tell(GMsg::Num(99)));
    match g.tell_dropping(GMsg::Num(99), DropPolicy::Newest) {
        Ok(Delivery::Dropped(GMsg::Num(99))) => {}
        other => panic!("expected Dropped(Num(99)), got {other:?}"),
    }
    assert_eq!(g.metrics().mailbox_len, 4);

    // A sender that finds the mailbox full waits...
    let mut waiting = pin!(g.tell(GMsg::Num(4)));
    assert!(poll_once(waiting.as_mut()).await.is_pending(), "the mailbox had room");
    // ...and gets in as soon as Num(1) is handed out of the batch, while the actor is held in
    // `hold2` with Num(2) still in its batch. (The timeout only turns a hang into a failure.)
    release1.send(()).unwrap();
    tokio::time::timeout(T, waiting).await.expect("the waiting sender was not woken").unwrap();
    entered2.await.unwrap();

    // In `hold2`: Num(2) (in the batch), Num(3) and Num(4) count: room for one.
    assert_eq!(g.metrics().mailbox_len, 3);
    g.try_tell(GMsg::Num(5)).unwrap();
    assert_full(g.try_tell(GMsg::Num(99)));
    assert_eq!(g.metrics().mailbox_len, 4);

    release2.send(()).unwrap();
    assert_eq!(g.ask(GMsg::Seen, T).await.unwrap(), [1, 2, 3, 4, 5]);
    let m = g.metrics();
    assert_eq!((m.handled, m.mailbox_len, m.dropped), (8, 0, 1));
}

/// §3: drop-oldest cannot evict the messages the actor has already taken into its batch
/// (they still count against the capacity): it evicts the oldest one sent after the batch was
/// taken.
#[tokio::test]
async fn s3_drop_oldest_spares_messages_already_taken() {
    let system = System::new();
    let g = gate(&system, 3);
    let (hold, entered, release) = hold();
    g.try_tell(hold).unwrap();
    g.try_tell(GMsg::Num(1)).unwrap();
    g.try_tell(GMsg::Num(2)).unwrap();
    entered.await.unwrap();
    // Num(1) and Num(2) are in the batch: room for one.
    let mut dropped = Vec::new();
    for n in 3..=5 {
        match g.tell_dropping(GMsg::Num(n), DropPolicy::Oldest).unwrap() {
            Delivery::Queued => {}
            Delivery::Dropped(GMsg::Num(m)) => dropped.push(m),
            Delivery::Dropped(other) => panic!("dropped {other:?}"),
        }
    }
    assert_eq!(dropped, [3, 4]);
    release.send(()).unwrap();
    assert_eq!(g.ask(GMsg::Seen, T).await.unwrap(), [1, 2, 5]);
    assert_eq!(g.metrics().dropped, 2);
}

/// §3, §13: an actor killed in the middle of a batch puts the messages it had taken back at
/// the front of its mailbox; they keep counting against the capacity throughout, and its next
/// incarnation handles them first, in order.
#[tokio::test]
async fn s3_batch_of_a_killed_actor_goes_back_and_still_counts() {
    let system = System::new();
    let options = SpawnOptions::new().mailbox(MailboxConfig::bounded(4));
    let sup = system
        .spawn_supervisor(SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::actor_with(
            "g",
            Gate::default,
            options,
        )))
        .await
        .unwrap();
    let g = sup.child::<Gate>("g").await.unwrap();
    let (hold1, entered1, _release1) = hold();
    let (hold2, entered2, release2) = hold();
    g.try_tell(hold1).unwrap();
    g.try_tell(GMsg::Num(1)).unwrap();
    g.try_tell(hold2).unwrap();
    g.try_tell(GMsg::Num(2)).unwrap();
    entered1.await.unwrap();
    g.try_tell(GMsg::Num(3)).unwrap();
    assert_full(g.try_tell(GMsg::Num(99)));

    // Killed in `hold1` with Num(1), hold2, Num(2) in its batch: they are not lost, and the
    // mailbox stays exactly full.
    g.kill();
    assert_full(g.try_tell(GMsg::Num(99)));
    assert_eq!(g.metrics().mailbox_len, 4);

    // The next incarnation takes them again, first: in `hold2`, Num(2) and Num(3) count.
    entered2.await.unwrap();
    assert_eq!(g.metrics().restarts, 1);
    g.try_tell(GMsg::Num(4)).unwrap();
    g.try_tell(GMsg::Num(5)).unwrap();
    assert_full(g.try_tell(GMsg::Num(99)));
    release2.send(()).unwrap();
    assert_eq!(g.ask(GMsg::Seen, T).await.unwrap(), [1, 2, 3, 4, 5]);
}

/// Counts messages per sender, checking each sender's order and that the mailbox never holds
/// more than its capacity.
struct Checker {
    next: Vec<u64>,
    capacity: usize,
}

impl Actor for Checker {
    type Msg = (usize, u64, Option<oneshot::Sender<()>>);

    async fn handle(&mut self, msg: Self::Msg, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let (sender, n, done) = msg;
        assert_eq!(n, self.next[sender], "sender {sender}: out of order");
        self.next[sender] += 1;
        let len = ctx.myself().metrics().mailbox_len;
        assert!(len <= self.capacity, "{len} messages in a mailbox of {}", self.capacity);
        if let Some(done) = done {
            let _ = done.send(());
        }
        if n % 64 == 0 {
            tokio::task::yield_now().await; // let the senders fill the mailbox now and then
        }
        Ok(())
    }
}

/// `senders` tasks each send `each` messages with `tell` through a bounded mailbox of
/// `capacity` to a [`Checker`], on the current runtime; fails if any sender waits forever.
async fn senders_under_load(senders: usize, each: u64, capacity: usize) {
    let system = System::new();
    let checker = Checker { next: vec![0; senders], capacity };
    let options = SpawnOptions::new().mailbox(MailboxConfig::bounded(capacity));
    let c = system.spawn_with(checker, options).unwrap();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..each {
                let done = (n == each - 1).then(oneshot::channel);
                let (tx, rx) = done.map_or((None, None), |(tx, rx)| (Some(tx), Some(rx)));
                c.tell((s, n, tx)).await.unwrap();
                if let Some(rx) = rx {
                    rx.await.unwrap();
                }
            }
        }));
    }
    let all = async {
        for t in tasks {
            t.await.unwrap();
        }
    };
    // The timeout only turns a sender that is never woken (a hang) into a failure.
    tokio::time::timeout(Duration::from_secs(60), all).await.expect("a sender was never woken");
    let m = c.metrics();
    assert_eq!((m.handled, m.mailbox_len, m.alive), (senders as u64 * each, 0, true));
}

/// §2, §3 under load: senders waiting for room in a small bounded mailbox, on two worker
/// threads, are all woken as the actor works through its batches (none waits forever), each
/// sender's messages arrive in order, and the mailbox never holds more than its capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_waiting_senders_under_load() {
    // One sender and room for one: every wake-up counts, none comes from another sender.
    senders_under_load(1, 100_000, 1).await;
    senders_under_load(4, 20_000, 8).await;
}
