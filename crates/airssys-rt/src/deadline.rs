//! Ask deadlines without a tokio timer per ask.
//!
//! A tokio timer costs a timer-wheel registration and a deregistration per ask, which measured
//! as more than half of an ask round trip. Asks almost always finish long before their
//! deadline, so [`Deadlines`] keeps them in one FIFO queue per timeout length (deadlines of
//! equal length arrive in order), and one reaper task per system sleeps until the earliest
//! deadline. Registering is a push under an uncontended lock; a finished ask is forgotten
//! lazily: its entry holds only a `Weak` and is pruned from the front of its queue, or by a
//! compaction whenever a queue has doubled. The reaper exits when no entry is left and is
//! started again by the next ask, so a system that is dropped leaves no task behind.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::sync::lock;

/// Something that can time out: told once its deadline has passed.
pub(crate) trait Expire: Send + Sync {
    fn expire(&self);
}

struct Entry {
    deadline: Instant,
    target: Weak<dyn Expire>,
}

struct Queue {
    entries: VecDeque<Entry>,
    compact_at: usize,
}

/// The queues of pending asks, by timeout length, and the reaper's bookkeeping.
#[derive(Default)]
struct Queues {
    queues: BTreeMap<Duration, Queue>,
    /// Entries in all queues, and the count at which all queues are swept of finished asks
    /// (timeouts computed per ask can make many small queues that per-queue pruning misses).
    total: usize,
    sweep_at: usize,
    /// The deadline the reaper sleeps until.
    reaper_wakes_at: Option<Instant>,
    /// The running reaper task, by number (`None`: none runs).
    reaper: Option<u64>,
    reapers_started: u64,
}

/// One per system; see the module docs.
pub(crate) struct Deadlines {
    inner: Mutex<Queues>,
    wake_reaper: Notify,
    /// The runtime the system was created in: the reaper runs there even when an ask is
    /// made from outside any runtime (a plain thread holding an `ActorRef`).
    runtime: Option<tokio::runtime::Handle>,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            inner: Mutex::default(),
            wake_reaper: Notify::new(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }
}

impl std::fmt::Debug for Deadlines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deadlines")
    }
}

const MIN_COMPACT: usize = 64;
const MIN_SWEEP: usize = 4096;
/// Deadlines further away than this are treated as this far (no overflow, same effect).
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Deadlines {
    /// Start tracking an ask that times out after `timeout`. Must be called inside a tokio
    /// runtime (the reaper task is started on first use).
    pub(crate) fn register(self: &Arc<Self>, timeout: Duration, target: Weak<dyn Expire>) {
        let timeout = queue_key(timeout.min(FAR));
        let mut inner = lock(&self.inner);
        // Read the clock under the lock, so that entries of one queue stay in deadline order.
        let deadline = Instant::now() + timeout;
        let queue = inner
            .queues
            .entry(timeout)
            .or_insert_with(|| Queue { entries: VecDeque::new(), compact_at: MIN_COMPACT });
        let before = queue.entries.len();
        while queue.entries.front().is_some_and(|e| e.target.strong_count() == 0) {
            queue.entries.pop_front();
        }
        if queue.entries.len() >= queue.compact_at {
            queue.entries.retain(|e| e.target.strong_count() > 0);
            queue.compact_at = (queue.entries.len() * 2).max(MIN_COMPACT);
        }
        queue.entries.push_back(Entry { deadline, target });
        let after = queue.entries.len();
        inner.total = inner.total + after - before;
        if inner.total >= inner.sweep_at.max(MIN_SWEEP) {
            inner.queues.retain(|_, q| {
                q.entries.retain(|e| e.target.strong_count() > 0);
                !q.entries.is_empty()
            });
            inner.total = inner.queues.values().map(|q| q.entries.len()).sum();
            inner.sweep_at = inner.total * 2;
        }
        let start = inner.reaper.is_none();
        if start {
            inner.reapers_started += 1;
            inner.reaper = Some(inner.reapers_started);
        }
        let wake = inner.reaper_wakes_at.is_none_or(|at| deadline < at);
        if wake {
            inner.reaper_wakes_at = Some(deadline);
        }
        let number = inner.reapers_started;
        drop(inner);
        if start {
            let reaper = reap(Reaper { deadlines: Arc::clone(self), number });
            match tokio::runtime::Handle::try_current().ok().or_else(|| self.runtime.clone()) {
                Some(runtime) => drop(runtime.spawn(reaper)),
                None => tracing::error!("an ask was made with no tokio runtime to time it out"),
            }
        } else if wake {
            self.wake_reaper.notify_one();
        }
    }

    /// Fire every expired entry; return the earliest remaining deadline. With none left, the
    /// reaper is marked stopped (under the same lock `register` checks).
    fn expire(&self, now: Instant) -> Option<Instant> {
        let mut fired = Vec::new();
        let mut inner = lock(&self.inner);
        let mut earliest: Option<Instant> = None;
        let mut removed = 0;
        inner.queues.retain(|_, queue| {
            while let Some(front) = queue.entries.front() {
                if front.target.strong_count() == 0 {
                    queue.entries.pop_front();
                    removed += 1;
                } else if front.deadline <= now {
                    if let Some(e) = queue.entries.pop_front() {
                        fired.push(e.target);
                        removed += 1;
                    }
                } else {
                    earliest = Some(earliest.map_or(front.deadline, |x| x.min(front.deadline)));
                    break;
                }
            }
            !queue.entries.is_empty()
        });
        inner.total = inner.total.saturating_sub(removed);
        inner.reaper_wakes_at = earliest;
        if earliest.is_none() {
            inner.reaper = None;
        }
        drop(inner);
        for t in fired {
            if let Some(t) = t.upgrade() {
                t.expire();
            }
        }
        earliest
    }
}

/// The reaper task's handle on the deadlines. Dropped when the task ends, normally or because
/// its runtime shut down: then it marks itself stopped, so that the next ask starts a new one.
struct Reaper {
    deadlines: Arc<Deadlines>,
    number: u64,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let mut inner = lock(&self.deadlines.inner);
        if inner.reaper == Some(self.number) {
            inner.reaper = None;
            inner.reaper_wakes_at = None;
        }
    }
}

async fn reap(reaper: Reaper) {
    let this = &reaper.deadlines;
    loop {
        let notified = this.wake_reaper.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let Some(at) = this.expire(Instant::now()) else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = notified => {}
        }
    }
}

/// The queue a timeout goes to. Timeouts of 100 ms or more are rounded down to whole
/// milliseconds (so they fire at most 1 % early, never late), so that computed timeouts share
/// a few queues instead of making one each.
fn queue_key(timeout: Duration) -> Duration {
    if timeout >= Duration::from_millis(100) {
        Duration::from_millis(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
    } else {
        timeout
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[derive(Default)]
    struct Flag(AtomicBool);
    impl Expire for Flag {
        fn expire(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag(d: &Arc<Deadlines>, after: Duration) -> Arc<Flag> {
        let f = Arc::new(Flag::default());
        d.register(after, Arc::downgrade(&f) as Weak<dyn Expire>);
        f
    }

    fn queued(d: &Deadlines) -> usize {
        lock(&d.inner).queues.values().map(|q| q.entries.len()).sum()
    }

    /// Finished asks do not pile up: their entries are pruned while new ones arrive.
    #[tokio::test(start_paused = true)]
    async fn finished_asks_are_pruned() {
        let d = Arc::new(Deadlines::default());
        let long_lived = flag(&d, Duration::from_secs(60));
        for _ in 0..100_000 {
            drop(flag(&d, Duration::from_secs(60)));
        }
        assert!(queued(&d) <= 2 * MIN_COMPACT + 1, "{} entries queued", queued(&d));
        drop(long_lived);
    }

    /// Deadlines of different lengths each fire at their own time, and the reaper stops when
    /// nothing is left and starts again on the next registration.
    #[tokio::test(start_paused = true)]
    async fn each_deadline_fires_at_its_time() {
        let d = Arc::new(Deadlines::default());
        let start = Instant::now();
        let flags: Vec<_> = [300u64, 100, 200]
            .iter()
            .map(|ms| (*ms, flag(&d, Duration::from_millis(*ms))))
            .collect();
        for at in [50u64, 150, 250, 350] {
            tokio::time::sleep_until(start + Duration::from_millis(at)).await;
            for (ms, f) in &flags {
                assert_eq!(f.0.load(Ordering::SeqCst), *ms < at, "{ms} ms deadline at {at} ms");
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(lock(&d.inner).reaper.is_none());
        let f = flag(&d, Duration::from_millis(5));
        tokio::time::sleep(Duration::from_millis(6)).await;
        assert!(f.0.load(Ordering::SeqCst));
    }
}
