//! A component's vital signs: what a live observer and a metrics scrape read about one
//! address, kept where its actor runs and cheap to write on the message path (one relaxed
//! atomic add per count; a lock only for rare events, or one only its own actor takes on
//! the path, so never contended there).
//!
//! They belong to the address, not to an incarnation: counts go on across restarts and
//! upgrades, as the actor's `handled` does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use crate::envelope::PendingRequests;

/// The time now, for timing a handler or a call: read from the CPU's time-stamp counter
/// where it is reliable (`quanta`), a third of the cost of `Instant::now` on this kind of
/// machine; the first read calibrates the clock (the host does it when it starts).
pub(crate) fn now() -> quanta::Instant {
    quanta::Instant::now()
}

/// The time since `start` (a [`now`]).
pub(crate) fn since(start: quanta::Instant) -> Duration {
    now().duration_since(start)
}

/// The upper bounds, in seconds, of the buckets of every duration histogram (handler time,
/// call round trip); a last bucket takes the rest (`+Inf`).
pub const DURATION_BUCKETS: [f64; 12] =
    [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

/// The bucket bounds in nanoseconds, for the cheap comparison on the path.
const BUCKET_NANOS: [u64; 12] = [
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
];

/// A histogram of durations, as Prometheus counts them: per bucket, its own count (not
/// cumulative; [`HistogramSnapshot::cumulative`] adds them up), plus a total and a sum.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; 13],
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub(crate) fn record(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKET_NANOS.iter().position(|&b| nanos <= b).unwrap_or(BUCKET_NANOS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let mut buckets = [0; 13];
        for (into, from) in buckets.iter_mut().zip(&self.buckets) {
            *into = from.load(Ordering::Relaxed);
        }
        HistogramSnapshot {
            buckets,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// A histogram read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HistogramSnapshot {
    /// Observations per bucket of [`DURATION_BUCKETS`], and last those above every bound.
    pub buckets: [u64; 13],
    /// The sum of all observations, in seconds.
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    /// How many observations there are in all.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Observations at or under each bound of [`DURATION_BUCKETS`], then the total (the
    /// `+Inf` bucket): Prometheus's `_bucket` series.
    pub fn cumulative(&self) -> [u64; 13] {
        let mut running = 0;
        self.buckets.map(|n| {
            running += n;
            running
        })
    }
}

/// Why an export trapped, as counted per component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrapCause {
    /// Over its CPU time per message (the epoch deadline).
    CpuBudget,
    /// Out of its fuel per message.
    Fuel,
    /// Over its memory limit, or out of bounds of its memory.
    Memory,
    /// Its call stack overflowed.
    Stack,
    /// Any other trap (`unreachable`, a guest panic, an error from a host function).
    Other,
}

impl TrapCause {
    /// Every cause, in a fixed order.
    pub const ALL: [TrapCause; 5] = [
        TrapCause::CpuBudget,
        TrapCause::Fuel,
        TrapCause::Memory,
        TrapCause::Stack,
        TrapCause::Other,
    ];

    /// Its name in metrics and on the observer page.
    pub fn as_str(self) -> &'static str {
        match self {
            TrapCause::CpuBudget => "cpu_budget",
            TrapCause::Fuel => "fuel",
            TrapCause::Memory => "memory",
            TrapCause::Stack => "stack",
            TrapCause::Other => "other",
        }
    }

    /// The cause of a trap, from the error an export returned.
    pub(crate) fn of(error: &wasmtime::Error) -> TrapCause {
        use wasmtime::Trap;
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => TrapCause::CpuBudget,
            Some(Trap::OutOfFuel) => TrapCause::Fuel,
            Some(Trap::MemoryOutOfBounds | Trap::HeapMisaligned | Trap::AllocationTooLarge) => {
                TrapCause::Memory
            }
            Some(Trap::StackOverflow) => TrapCause::Stack,
            // The limiter's refusal (`limiter.rs`).
            _ if error.root_cause().to_string().starts_with("memory limit:") => TrapCause::Memory,
            _ => TrapCause::Other,
        }
    }
}

/// The last crash of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Which export trapped (`handle-message`, `init`, ...).
    pub export: &'static str,
    /// The trap, as text.
    pub reason: String,
}

/// How many distinct targets an address's sends are counted for.
pub const MAX_TARGETS: usize = 256;

/// What sends to targets past the first [`MAX_TARGETS`] count under (not an address).
pub const OTHER_TARGETS: &str = "(other)";

/// Messages sent, by target: each target's counter is shared with the sender's instance,
/// which keeps its own map of them (`Sent`), so that counting a send takes no lock.
type SentCounts = HashMap<Arc<str>, Arc<AtomicU64>>;

/// The vital signs of one address (see the module's text).
#[derive(Debug, Default)]
pub(crate) struct Vitals {
    /// Time in `handle-message`, per message.
    handler: Histogram,
    /// Round trips of the `call`s it made (made the first time it calls).
    calls: OnceLock<Box<Histogram>>,
    /// Callbacks of its requests, handled.
    callbacks: AtomicU64,
    traps: [AtomicU64; TrapCause::ALL.len()],
    last_crash: Mutex<Option<Box<Crash>>>,
    /// Messages it sent, requests and calls it made, by target (made the first time).
    sent: Mutex<Option<Box<SentCounts>>>,
    /// The requests its live instance waits on.
    pending: Mutex<Weak<PendingRequests>>,
}

impl Vitals {
    pub(crate) fn handled_in(&self, took: Duration) {
        self.handler.record(took);
    }

    pub(crate) fn called_back(&self) {
        self.callbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages and callbacks its handlers were given, across restarts and upgrades.
    pub(crate) fn handled(&self) -> u64 {
        self.handler.count() + self.callbacks.load(Ordering::Relaxed)
    }

    pub(crate) fn called_in(&self, took: Duration) {
        self.calls.get_or_init(Box::default).record(took);
    }

    pub(crate) fn crashed(&self, export: &'static str, cause: TrapCause, reason: &str) {
        // `ALL` lists the causes in declaration order: a cause's discriminant is its slot.
        self.traps[cause as usize].fetch_add(1, Ordering::Relaxed);
        *crate::sync::lock(&self.last_crash) = Some(Box::new(Crash {
            time_ms: crate::audit::now_ms(),
            export,
            reason: reason.to_owned(),
        }));
    }

    /// The counter of messages to `target` (made the first time). Past [`MAX_TARGETS`]
    /// distinct targets (a guest names its targets), the rest count under [`OTHER_TARGETS`].
    fn sent_counter(&self, target: &str) -> Arc<AtomicU64> {
        let mut sent = crate::sync::lock(&self.sent);
        let sent = sent.get_or_insert_with(Box::default);
        let target = if sent.len() >= MAX_TARGETS && !sent.contains_key(target) {
            OTHER_TARGETS
        } else {
            target
        };
        match sent.get(target) {
            Some(n) => Arc::clone(n),
            None => {
                let n = Arc::new(AtomicU64::new(0));
                sent.insert(Arc::from(target), Arc::clone(&n));
                n
            }
        }
    }

    /// The requests of the live instance are these.
    pub(crate) fn watch_pending(&self, pending: &Arc<PendingRequests>) {
        *crate::sync::lock(&self.pending) = Arc::downgrade(pending);
    }

    pub(crate) fn snapshot(&self) -> ComponentVitals {
        let pending = crate::sync::lock(&self.pending).upgrade();
        ComponentVitals {
            handler: self.handler.snapshot(),
            calls: self.calls.get().map(|h| h.snapshot()).unwrap_or_default(),
            traps: TrapCause::ALL
                .iter()
                .zip(&self.traps)
                .map(|(cause, n)| (*cause, n.load(Ordering::Relaxed)))
                .collect(),
            last_crash: crate::sync::lock(&self.last_crash).as_deref().cloned(),
            sent: crate::sync::lock(&self.sent).as_deref().map_or_else(Vec::new, |sent| {
                let mut sent: Vec<_> =
                    sent.iter().map(|(t, n)| (Arc::clone(t), n.load(Ordering::Relaxed))).collect();
                sent.sort();
                sent
            }),
            pending_requests: pending.map_or(0, |p| crate::sync::lock(&p).len()),
        }
    }
}

/// What one instance sent, by target: its own map of the address's counters (no lock on the
/// path; the address's map is locked only the first time an instance sends to a target).
pub(crate) struct Sent {
    vitals: Arc<Vitals>,
    counters: rustc_hash::FxHashMap<Arc<str>, Arc<AtomicU64>>,
}

impl Sent {
    pub(crate) fn new(vitals: Arc<Vitals>) -> Self {
        Sent { vitals, counters: Default::default() }
    }

    /// One message, request or call to `target` left this instance.
    pub(crate) fn count(&mut self, target: &str) {
        if let Some(n) = self.counters.get(target) {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let n = self.vitals.sent_counter(target);
        n.fetch_add(1, Ordering::Relaxed);
        // Bounded as the address's map is (past it, each new name takes the lock).
        if self.counters.len() < MAX_TARGETS {
            self.counters.insert(Arc::from(target), n);
        }
    }
}

/// The vital signs of one address, read at one moment ([`Host::vitals`](crate::Host::vitals)).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ComponentVitals {
    /// Time its handler took per message (`handle-message`).
    pub handler: HistogramSnapshot,
    /// Round trips of the `call`s it made.
    pub calls: HistogramSnapshot,
    /// Its traps, by cause (every cause listed, most of them 0).
    pub traps: Vec<(TrapCause, u64)>,
    /// Its last crash, if it crashed.
    pub last_crash: Option<Crash>,
    /// Messages, requests and calls it sent, by target, in target order.
    pub sent: Vec<(Arc<str>, u64)>,
    /// Requests its live instance made that are not answered yet.
    pub pending_requests: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_duration_in_its_bucket_and_sums_them() {
        let h = Histogram::default();
        h.record(Duration::from_micros(3));
        h.record(Duration::from_micros(10));
        h.record(Duration::from_millis(2));
        h.record(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count(), 4);
        assert_eq!(s.buckets[0], 2, "3 µs and 10 µs are both at or under 10 µs");
        assert_eq!(s.buckets[5], 1, "2 ms is under 5 ms");
        assert_eq!(s.buckets[12], 1, "a minute is over every bound");
        assert_eq!(s.cumulative()[12], 4);
        assert_eq!(s.cumulative()[4], 2);
        assert!((s.sum_seconds - 60.002_013).abs() < 1e-9);
    }

    #[test]
    fn sends_are_counted_per_target_and_listed_in_order() {
        let v = Arc::new(Vitals::default());
        let mut sent = Sent::new(Arc::clone(&v));
        sent.count("b");
        sent.count("a");
        sent.count("b");
        // A later instance of the same address goes on counting.
        Sent::new(Arc::clone(&v)).count("a");
        let s = v.snapshot();
        let bounded = Arc::new(Vitals::default());
        let mut many = Sent::new(Arc::clone(&bounded));
        for i in 0..1000 {
            many.count(&format!("t{i}"));
        }
        let listed = bounded.snapshot().sent;
        assert_eq!(listed.len(), MAX_TARGETS + 1, "the rest under one label");
        let other = listed.iter().find(|(t, _)| &**t == OTHER_TARGETS).unwrap();
        assert_eq!(other.1, 1000 - MAX_TARGETS as u64);
        assert!(many.counters.len() <= MAX_TARGETS);
        assert_eq!(s.sent, vec![(Arc::from("a"), 2), (Arc::from("b"), 2)]);
        assert_eq!(s.pending_requests, 0);
    }
}
