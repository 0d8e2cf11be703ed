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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The timeout half of one ask: set when the deadline passes.
#[derive(Debug, Default)]
pub(crate) struct AskTimer {
    fired: AtomicBool,
    waker: AtomicWaker,
}

impl AskTimer {
    /// Register `waker` and say whether the deadline has passed.
    pub(crate) fn poll_fired(&self, waker: &std::task::Waker) -> bool {
        self.waker.register(waker);
        self.fired.load(Ordering::Acquire)
    }

    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.waker.wake();
    }
}

struct Entry {
    deadline: Instant,
    timer: Weak<AskTimer>,
}

struct Queue {
    entries: VecDeque<Entry>,
    compact_at: usize,
}

#[derive(Default)]
struct Inner {
    queues: BTreeMap<Duration, Queue>,
    /// The deadline the reaper sleeps until (`None`: it waits for the first entry).
    reaper_wakes_at: Option<Instant>,
    reaper_running: bool,
}

/// One per system; see the module docs.
#[derive(Default)]
pub(crate) struct Deadlines {
    inner: Mutex<Inner>,
    wake_reaper: Notify,
}

impl std::fmt::Debug for Deadlines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deadlines")
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

const MIN_COMPACT: usize = 64;
/// Deadlines further away than this are treated as this far (no overflow, same effect).
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Deadlines {
    /// Start tracking an ask that times out after `timeout`. Must be called inside a tokio
    /// runtime (the reaper task is started on first use).
    pub(crate) fn register(self: &Arc<Self>, timeout: Duration) -> Arc<AskTimer> {
        let timer = Arc::new(AskTimer::default());
        let timeout = timeout.min(FAR);
        let deadline = Instant::now() + timeout;
        let mut inner = lock(&self.inner);
        let queue = inner.queues.entry(timeout).or_insert_with(|| Queue {
            entries: VecDeque::new(),
            compact_at: MIN_COMPACT,
        });
        while queue
            .entries
            .front()
            .is_some_and(|e| e.timer.strong_count() == 0)
        {
            queue.entries.pop_front();
        }
        if queue.entries.len() >= queue.compact_at {
            queue.entries.retain(|e| e.timer.strong_count() > 0);
            queue.compact_at = (queue.entries.len() * 2).max(MIN_COMPACT);
        }
        queue.entries.push_back(Entry {
            deadline,
            timer: Arc::downgrade(&timer),
        });
        let start = !inner.reaper_running;
        if start {
            inner.reaper_running = true;
        }
        let wake = inner.reaper_wakes_at.is_none_or(|at| deadline < at);
        if wake {
            inner.reaper_wakes_at = Some(deadline);
        }
        drop(inner);
        if start {
            tokio::spawn(reap(Arc::clone(self)));
        } else if wake {
            self.wake_reaper.notify_one();
        }
        timer
    }

    /// Fire every expired entry; return the earliest remaining deadline. With none left, the
    /// reaper is marked stopped (under the same lock `register` checks).
    fn expire(&self, now: Instant) -> Option<Instant> {
        let mut fired = Vec::new();
        let mut inner = lock(&self.inner);
        let mut earliest: Option<Instant> = None;
        inner.queues.retain(|_, queue| {
            while let Some(front) = queue.entries.front() {
                if front.timer.strong_count() == 0 {
                    queue.entries.pop_front();
                } else if front.deadline <= now {
                    if let Some(e) = queue.entries.pop_front() {
                        fired.push(e.timer);
                    }
                } else {
                    earliest = Some(earliest.map_or(front.deadline, |x| x.min(front.deadline)));
                    break;
                }
            }
            !queue.entries.is_empty()
        });
        inner.reaper_wakes_at = earliest;
        if earliest.is_none() {
            inner.reaper_running = false;
        }
        drop(inner);
        for t in fired {
            if let Some(t) = t.upgrade() {
                t.fire();
            }
        }
        earliest
    }
}

async fn reap(this: Arc<Deadlines>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(d: &Deadlines) -> usize {
        lock(&d.inner)
            .queues
            .values()
            .map(|q| q.entries.len())
            .sum()
    }

    /// Finished asks do not pile up: their entries are pruned while new ones arrive.
    #[tokio::test(start_paused = true)]
    async fn finished_asks_are_pruned() {
        let d = Arc::new(Deadlines::default());
        let long_lived = d.register(Duration::from_secs(60));
        for _ in 0..100_000 {
            drop(d.register(Duration::from_secs(60)));
        }
        assert!(
            queued(&d) <= 2 * MIN_COMPACT + 1,
            "{} entries queued",
            queued(&d)
        );
        drop(long_lived);
    }

    /// Deadlines of different lengths fire in deadline order, each at its own time.
    #[tokio::test(start_paused = true)]
    async fn each_deadline_fires_at_its_time() {
        let d = Arc::new(Deadlines::default());
        let start = Instant::now();
        let timers: Vec<_> = [300u64, 100, 200]
            .iter()
            .map(|ms| (*ms, d.register(Duration::from_millis(*ms))))
            .collect();
        let mut fired_at = Vec::new();
        for (ms, t) in timers {
            std::future::poll_fn(|cx| {
                if t.poll_fired(cx.waker()) {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
            fired_at.push((ms, start.elapsed()));
        }
        // Awaited in registration order; the first (300 ms) is the last to fire.
        assert_eq!(fired_at[0], (300, Duration::from_millis(300)));
        assert!(
            fired_at
                .iter()
                .all(|(ms, at)| *at >= Duration::from_millis(*ms))
        );
        // With nothing left, the reaper stops; a new ask starts it again.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!lock(&d.inner).reaper_running);
        let t = d.register(Duration::from_millis(5));
        tokio::time::sleep(Duration::from_millis(6)).await;
        assert!(t.fired.load(Ordering::Acquire));
    }
}
