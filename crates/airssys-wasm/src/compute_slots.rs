//! Slots for guests that compute through an epoch tick, one fewer than the runtime's worker
//! threads, so that long computations never hold every worker and short messages (a
//! bystander's call, routing, timers) always find one.
//!
//! A guest call that is still computing when a tick comes yields (`cpu_budget.rs`); before it
//! is polled again it must take a slot, and it gives the slot back at the end of that poll.
//! No slot is held while a call waits for anything else (a host call's answer, storage, a
//! thread), so a guest holding a slot can never wait for one held by another: there is no
//! deadlock. A call that finishes within its first tick never needs a slot.

use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots of one engine (shared by every store of it).
#[derive(Debug, Clone, Default)]
pub(crate) struct ComputeSlots(Arc<OnceLock<Arc<Semaphore>>>);

impl ComputeSlots {
    /// The semaphore, sized on first use from the runtime it is used on: one slot fewer
    /// than its worker threads, and at least one.
    fn semaphore(&self) -> Arc<Semaphore> {
        let semaphore = self.0.get_or_init(|| {
            let workers = tokio::runtime::Handle::try_current()
                .map(|h| h.metrics().num_workers())
                .unwrap_or(1);
            Arc::new(Semaphore::new(workers.saturating_sub(1).max(1)))
        });
        Arc::clone(semaphore)
    }

    /// Wait for a slot.
    pub(crate) async fn take(self) -> Option<OwnedSemaphorePermit> {
        self.semaphore().acquire_owned().await.ok()
    }

    /// How many slots there are (for tests and figures).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.semaphore().available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_slot_fewer_than_the_workers() {
        assert_eq!(ComputeSlots::default().capacity(), 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn at_least_one_slot() {
        let slots = ComputeSlots::default();
        assert_eq!(slots.capacity(), 1);
        let held = slots.clone().take().await;
        assert!(held.is_some());
        assert_eq!(slots.capacity(), 0);
        drop(held);
        assert_eq!(slots.capacity(), 1);
    }
}
