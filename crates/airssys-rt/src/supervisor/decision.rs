//! The pure part of supervision: given a child exit, what does the supervisor do? Kept free of
//! actors and time sources so that it can be checked against a model of the OTP rules.

use std::collections::VecDeque;
use std::time::Duration;

use crate::exit::ExitReason;

/// How a supervisor reacts to one child's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Restart only the child that exited.
    #[default]
    OneForOne,
    /// Stop all other children, then restart all of them.
    OneForAll,
    /// Stop the children started after the one that exited, then restart it and them.
    RestForOne,
}

/// When a child is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always, whatever the exit reason.
    #[default]
    Permanent,
    /// Only after an abnormal exit (not [`ExitReason::Normal`] or [`ExitReason::Shutdown`]).
    Transient,
    /// Never; the child is removed when it exits.
    Temporary,
}

impl Restart {
    /// Whether a child of this type is restarted after exiting with `reason`.
    pub fn should_restart(self, reason: &ExitReason) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => !reason.is_normal(),
            Restart::Temporary => false,
        }
    }
}

/// Restart intensity: at most `max_restarts` restarts within `period`. One more restart makes
/// the supervisor stop all its children and fail with [`ExitReason::MaxRestarts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// Restarts allowed within `period`.
    pub max_restarts: u32,
    /// The sliding window.
    pub period: Duration,
}

impl Default for Intensity {
    /// Erlang/OTP's default: 1 restart in 5 seconds.
    fn default() -> Self {
        Intensity { max_restarts: 1, period: Duration::from_secs(5) }
    }
}

/// Sliding-window restart accounting.
#[derive(Debug, Clone, Default)]
pub struct RestartWindow {
    times: VecDeque<Duration>,
}

impl RestartWindow {
    /// Record a restart at `now` (time since any fixed origin) and say whether it stays within
    /// the intensity. When it does not, the supervisor must give up.
    pub fn record(&mut self, now: Duration, intensity: Intensity) -> bool {
        while let Some(&t) = self.times.front() {
            if now.saturating_sub(t) >= intensity.period {
                self.times.pop_front();
            } else {
                break;
            }
        }
        self.times.push_back(now);
        self.times.len() <= intensity.max_restarts as usize
    }
}

/// What the supervisor does after child `failed` (an index in start order) exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to restart: the child is left stopped (and removed if temporary).
    Leave,
    /// Stop these running children (in the order given: reverse start order) and then restart
    /// these children (in start order).
    Restart {
        /// Siblings to stop first, reverse start order.
        stop: Vec<usize>,
        /// Children to start again, start order.
        start: Vec<usize>,
    },
    /// Intensity exceeded: stop all children (reverse order) and fail.
    Escalate,
}

/// What the decision needs to know about one child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildStatus {
    /// Its restart type.
    pub restart: Restart,
    /// Whether it is running now (the child that just exited is not).
    pub running: bool,
}

/// Decide per the OTP rules what to do after child `failed` (an index into `children`, which
/// are in start order) exited with `reason` at `now`.
pub fn decide(
    strategy: Strategy,
    intensity: Intensity,
    window: &mut RestartWindow,
    now: Duration,
    children: &[ChildStatus],
    failed: usize,
    reason: &ExitReason,
) -> Decision {
    let Some(child) = children.get(failed) else {
        return Decision::Leave;
    };
    if !child.restart.should_restart(reason) {
        return Decision::Leave;
    }
    if !window.record(now, intensity) {
        return Decision::Escalate;
    }
    // As in OTP, a group restart stops the running siblings and starts every non-temporary
    // member again (including one that had exited normally); temporary siblings are stopped
    // and dropped.
    let group: Vec<usize> = match strategy {
        Strategy::OneForOne => vec![failed],
        Strategy::OneForAll => (0..children.len()).collect(),
        Strategy::RestForOne => (failed..children.len()).collect(),
    };
    let stop =
        group.iter().rev().copied().filter(|&i| i != failed && children[i].running).collect();
    let start = group
        .into_iter()
        .filter(|&i| i == failed || children[i].restart != Restart::Temporary)
        .collect();
    Decision::Restart { stop, start }
}
