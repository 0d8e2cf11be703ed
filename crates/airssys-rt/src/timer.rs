//! Timers: deliver a message after a delay or at an interval.

use std::time::Duration;

use tokio::task::AbortHandle;

use crate::actor::Actor;
use crate::actor_ref::ActorRef;

/// A scheduled delivery. Dropping it does not cancel it (as with Erlang's `send_after`); call
/// [`Timer::cancel`]. Timers stop by themselves once the target actor is gone for good.
#[derive(Debug)]
pub struct Timer {
    task: AbortHandle,
}

impl Timer {
    pub(crate) fn after<A: Actor>(target: ActorRef<A>, delay: Duration, msg: A::Msg) -> Timer {
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = target.tell(msg).await;
        });
        Timer { task: task.abort_handle() }
    }

    pub(crate) fn interval<A: Actor>(
        target: ActorRef<A>,
        period: Duration,
        mut make: impl FnMut() -> A::Msg + Send + 'static,
    ) -> Timer {
        // tokio's interval refuses a zero period; the shortest one we run is 1 ms.
        let period = period.max(Duration::from_millis(1));
        let task = tokio::spawn(async move {
            let now = tokio::time::Instant::now();
            let Some(first) = now.checked_add(period) else {
                return;
            };
            let mut ticks = tokio::time::interval_at(first, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if target.tell(make()).await.is_err() {
                    break;
                }
            }
        });
        Timer { task: task.abort_handle() }
    }

    /// Cancel the timer. A message already delivered stays delivered.
    pub fn cancel(&self) {
        self.task.abort();
    }

    /// True once the timer has fired for the last time or was cancelled.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}
