//! The CPU budget of one guest call, counted in epoch ticks during which the guest was on a
//! thread, not in wall-clock time.
//!
//! The engine's ticker advances a tick count ([`Ticks`]) and the wasmtime epoch together,
//! every [`EPOCH_TICK`]. A running guest notices each new epoch at
//! its next epoch check, and wasmtime calls the store's epoch callback, which calls
//! [`CpuBudget::on_tick`]. The guest call is wrapped in [`Metered`], which notes the tick at
//! which every poll of the call begins. A tick is counted only if it came after the current
//! poll began: ticks that passed while the call waited (for a worker thread on a busy host,
//! for a host call's answer, for storage) are not the guest's. So a healthy guest on an
//! overloaded host is not trapped for waiting, and a guest that computes is trapped after its
//! budget plus at most one tick of computing.
//!
//! A call that yields at a tick is computing for long: before it goes on it takes one of the
//! engine's [`ComputeSlots`], so that long computations leave a worker thread free.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::UpdateDeadline;

use crate::compute_slots::ComputeSlots;

/// How often the epoch advances. A handler is checked against its CPU deadline, and a
/// spinning guest yields its worker thread, at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine's tick count, advanced by its ticker thread with the epoch.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ticks(Arc<AtomicU64>);

impl Ticks {
    /// The ticks so far.
    pub(crate) fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// One more tick (the ticker, before it advances the epoch).
    pub(crate) fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// What the epoch callback and the polls of a guest call share (one allocation per store,
/// one reference count per call).
#[derive(Debug)]
struct Polls {
    ticks: Ticks,
    slots: ComputeSlots,
    /// The tick at which the current poll of the call began (written by [`Metered`]).
    began: AtomicU64,
    /// The call yielded at a tick, still computing: it takes a slot before it goes on.
    yielded: AtomicBool,
}

/// The budget of the guest call now running in one store.
#[derive(Debug)]
pub(crate) struct CpuBudget {
    polls: Arc<Polls>,
    /// Ticks the call may compute for; `None` between calls.
    budget: Option<u64>,
    /// Ticks counted against it so far.
    used: u64,
    /// The latest tick already counted.
    counted_to: u64,
}

impl CpuBudget {
    pub(crate) fn new(ticks: Ticks, slots: ComputeSlots) -> Self {
        let polls =
            Polls { ticks, slots, began: AtomicU64::new(0), yielded: AtomicBool::new(false) };
        CpuBudget { polls: Arc::new(polls), budget: None, used: 0, counted_to: 0 }
    }

    /// Give the next call `budget` of computing (rounded up to whole ticks).
    pub(crate) fn arm(&mut self, budget: Duration) {
        let tick = EPOCH_TICK.as_nanos().max(1);
        let ticks = budget.as_nanos().div_ceil(tick);
        self.budget = Some(u64::try_from(ticks).unwrap_or(u64::MAX));
        self.used = 0;
        self.counted_to = self.polls.ticks.now();
    }

    /// The call is over.
    pub(crate) fn disarm(&mut self) {
        self.budget = None;
    }

    /// Ticks counted against the current call.
    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    /// A new epoch reached the running guest: count the ticks it was on a thread for, and
    /// trap it once it is past its budget; otherwise let other tasks run (when it did
    /// compute through a tick) or go on (when the ticks passed while it waited).
    pub(crate) fn on_tick(&mut self) -> UpdateDeadline {
        let now = self.polls.ticks.now();
        let since = self.polls.began.load(Ordering::Acquire).max(self.counted_to);
        let ran = now.saturating_sub(since);
        self.counted_to = self.counted_to.max(now);
        self.used = self.used.saturating_add(ran);
        match self.budget {
            Some(budget) if self.used > budget => UpdateDeadline::Interrupt,
            _ if ran == 0 => UpdateDeadline::Continue(1),
            _ => {
                self.polls.yielded.store(true, Ordering::Release);
                UpdateDeadline::Yield(1)
            }
        }
    }

    /// What a call into the guest is wrapped in, so that its polls are known to the budget
    /// (taken before the call borrows the store).
    pub(crate) fn meter(&self) -> Meter {
        Meter(Arc::clone(&self.polls))
    }
}

/// Makes a guest call [`Metered`].
#[derive(Debug)]
pub(crate) struct Meter(Arc<Polls>);

impl Meter {
    pub(crate) fn wrap<F: Future>(self, call: F) -> Metered<F> {
        self.0.yielded.store(false, Ordering::Release);
        Metered { call, polls: self.0, taking: None }
    }
}

/// Waiting for a compute slot.
type Taking = Pin<Box<dyn Future<Output = Option<tokio::sync::OwnedSemaphorePermit>> + Send>>;

pin_project_lite::pin_project! {
    /// A guest call that notes the tick at which each of its polls begins, and that takes a
    /// compute slot for each poll after a yield at a tick.
    pub(crate) struct Metered<F> {
        #[pin]
        call: F,
        polls: Arc<Polls>,
        taking: Option<Taking>,
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let polls = &**this.polls;
        if this.taking.is_none() && polls.yielded.swap(false, Ordering::AcqRel) {
            *this.taking = Some(Box::pin(polls.slots.clone().take()));
        }
        // Held for this poll only: given back before the call waits for anything.
        let _slot = match this.taking.as_mut() {
            Some(taking) => match taking.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(slot) => {
                    *this.taking = None;
                    slot
                }
            },
            None => None,
        };
        polls.began.store(polls.ticks.now(), Ordering::Release);
        this.call.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(ticks: u64) -> (Ticks, CpuBudget) {
        let clock = Ticks::default();
        let mut budget = CpuBudget::new(clock.clone(), ComputeSlots::default());
        budget.arm(EPOCH_TICK * ticks as u32);
        (clock, budget)
    }

    #[test]
    fn computing_past_the_budget_traps_one_tick_late_at_most() {
        let (clock, mut b) = budget(3);
        b.polls.began.store(clock.now(), Ordering::Release);
        for _ in 0..3 {
            clock.advance();
            assert!(matches!(b.on_tick(), UpdateDeadline::Yield(1)));
        }
        clock.advance();
        assert!(matches!(b.on_tick(), UpdateDeadline::Interrupt));
    }

    #[test]
    fn ticks_that_pass_while_the_call_waits_are_not_counted() {
        let (clock, mut b) = budget(2);
        b.polls.began.store(clock.now(), Ordering::Release);
        clock.advance();
        assert!(matches!(b.on_tick(), UpdateDeadline::Yield(1)));
        // The call yields and waits 50 ticks for a thread, then is polled again.
        for _ in 0..50 {
            clock.advance();
        }
        b.polls.began.store(clock.now(), Ordering::Release);
        // The epoch had passed its deadline while it waited: nothing is counted.
        assert!(matches!(b.on_tick(), UpdateDeadline::Continue(1)));
        assert_eq!(b.used(), 1);
        clock.advance();
        assert!(matches!(b.on_tick(), UpdateDeadline::Yield(1)));
        assert_eq!(b.used(), 2);
        clock.advance();
        assert!(matches!(b.on_tick(), UpdateDeadline::Interrupt));
    }

    #[test]
    fn a_zero_budget_traps_at_the_first_tick_computed() {
        let (clock, mut b) = budget(0);
        b.polls.began.store(clock.now(), Ordering::Release);
        clock.advance();
        assert!(matches!(b.on_tick(), UpdateDeadline::Interrupt));
    }
}
