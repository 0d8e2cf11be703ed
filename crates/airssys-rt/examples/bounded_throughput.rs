//! A quick throughput check of a bounded mailbox: one sender pushes 1,000,000 messages with
//! `tell` (waiting whenever the mailbox is full) through a `bounded(1024)` mailbox to one
//! actor, and the rate is printed, on a current-thread runtime (sender and actor take turns)
//! and on a two-worker runtime (sender and actor contend for the mailbox lock).
//!
//! Run it in release: `cargo run --release -p airssys-rt --example bounded_throughput`.
//! (The criterion benchmarks live in `airssys-bench`; this one builds without WebAssembly.)

#![allow(clippy::print_stdout, reason = "an example prints what it measures")]

use std::time::{Duration, Instant};

use airssys_rt::{Actor, BoxError, Context, MailboxConfig, SpawnOptions, System};
use tokio::sync::oneshot;

const MESSAGES: u64 = 1_000_000;
const CAPACITY: usize = 1024;
const ROUNDS: usize = 5;

/// Counts messages and says when it has seen the last one.
struct Sink {
    seen: u64,
    done: Option<oneshot::Sender<u64>>,
}

impl Actor for Sink {
    type Msg = u64;

    async fn handle(&mut self, msg: u64, _ctx: &mut Context<Self>) -> Result<(), BoxError> {
        // Checked in order, so that a lost or reordered message shows up as a panic.
        assert_eq!(msg, self.seen, "messages out of order");
        self.seen += 1;
        if self.seen == MESSAGES
            && let Some(done) = self.done.take()
        {
            let _ = done.send(self.seen);
        }
        Ok(())
    }
}

async fn one_round() -> Duration {
    let system = System::new();
    let (tx, rx) = oneshot::channel();
    let sink = system
        .spawn_with(
            Sink { seen: 0, done: Some(tx) },
            SpawnOptions::new().mailbox(MailboxConfig::bounded(CAPACITY)),
        )
        .expect("spawn");
    let start = Instant::now();
    for n in 0..MESSAGES {
        if sink.tell(n).await.is_err() {
            panic!("the sink died");
        }
    }
    let seen = rx.await.expect("the sink finished");
    let elapsed = start.elapsed();
    assert_eq!(seen, MESSAGES);
    system.shutdown(Duration::from_secs(5)).await;
    elapsed
}

/// Run `ROUNDS` rounds with `run` and print the median rate.
fn report(label: &str, mut run: impl FnMut() -> Duration) {
    let mut rates: Vec<f64> =
        (0..ROUNDS).map(|_| MESSAGES as f64 / run().as_secs_f64() / 1e6).collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    let shown: Vec<String> = rates.iter().map(|r| format!("{r:.2}")).collect();
    println!("{label}: median {median:.2} M msg/s (rounds, sorted: {})", shown.join(" "));
}

fn main() {
    println!("{MESSAGES} messages, one sender (tell, waiting when full), bounded({CAPACITY})");
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    report("current-thread runtime   ", || current.block_on(one_round()));
    let multi =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // The sender runs in a spawned task so that it sits on a worker thread, as the actor does.
    report("multi-thread runtime (2) ", || {
        multi.block_on(async { tokio::spawn(one_round()).await.unwrap() })
    });
}
