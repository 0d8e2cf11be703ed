//! How far a host's start has come: instances whose first `init` has finished, of all it
//! starts, for an embedder to show while a large app starts (`airssys up` does, on a
//! terminal).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters a host's start updates ([`HostBuilder::progress`](crate::HostBuilder::progress)):
/// read them from another task while [`HostBuilder::start`](crate::HostBuilder::start) runs.
#[derive(Debug, Default)]
pub struct StartProgress {
    total: AtomicU64,
    done: AtomicU64,
}

impl StartProgress {
    /// Counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The instances the start makes (every pool member counts), known once the components
    /// are compiled; 0 before.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The instances whose first `init` has finished (successfully or not).
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    pub(crate) fn expect(&self, instances: u64) {
        self.total.fetch_add(instances, Ordering::Relaxed);
    }

    pub(crate) fn one_done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}
