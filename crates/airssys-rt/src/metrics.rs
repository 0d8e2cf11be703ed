//! Per-actor metrics, cheap to read at any time (a live observer polls them).

/// A snapshot of one actor's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActorMetrics {
    /// User messages handled (across restarts).
    pub handled: u64,
    /// User messages queued right now.
    pub mailbox_len: usize,
    /// Messages dropped by a full bounded mailbox (drop-newest or drop-oldest sends).
    pub dropped: u64,
    /// How many times a supervisor restarted the actor in place.
    pub restarts: u32,
    /// False once the actor is gone for good.
    pub alive: bool,
}
