//! Publish/subscribe between components. Patterns and topics follow `airssys-rt`'s rules
//! (`*` one segment, `#` the rest); delivery goes through the router, so each subscriber's
//! codec and size rules apply and the publisher is stamped as the sender.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use airssys_rt::pubsub::{Pattern, validate_topic};

struct Subscription {
    id: u64,
    pattern: Pattern,
    text: Arc<str>,
    subscriber: Arc<str>,
}

/// All subscriptions of a host.
#[derive(Default)]
pub(crate) struct Topics {
    next: AtomicU64,
    subs: RwLock<Vec<Subscription>>,
}

impl std::fmt::Debug for Topics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Topics(..)")
    }
}

impl Topics {
    /// Subscribe `subscriber` to `pattern`; returns the subscription id.
    pub(crate) fn subscribe(&self, subscriber: &Arc<str>, pattern: &str) -> Result<u64, String> {
        let parsed = Pattern::parse(pattern).map_err(|e| e.to_string())?;
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.subs.write().unwrap_or_else(|e| e.into_inner()).push(Subscription {
            id,
            pattern: parsed,
            text: pattern.into(),
            subscriber: Arc::clone(subscriber),
        });
        Ok(id)
    }

    /// Remove the subscription of `subscriber` to `pattern`; returns its id.
    pub(crate) fn unsubscribe(&self, subscriber: &str, pattern: &str) -> Option<u64> {
        let mut subs = self.subs.write().unwrap_or_else(|e| e.into_inner());
        let pos = subs.iter().position(|s| &*s.subscriber == subscriber && &*s.text == pattern)?;
        Some(subs.remove(pos).id)
    }

    /// Remove subscriptions by id (an instance that goes takes its subscriptions with it).
    pub(crate) fn remove(&self, ids: &[u64]) {
        if ids.is_empty() {
            return;
        }
        self.subs.write().unwrap_or_else(|e| e.into_inner()).retain(|s| !ids.contains(&s.id));
    }

    /// The subscribers of `topic` (each once, whatever the number of matching patterns).
    pub(crate) fn subscribers(&self, topic: &str) -> Result<Vec<Arc<str>>, String> {
        validate_topic(topic).map_err(|e| e.to_string())?;
        let subs = self.subs.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Arc<str>> = Vec::new();
        for s in subs.iter().filter(|s| s.pattern.matches(topic)) {
            if !out.contains(&s.subscriber) {
                out.push(Arc::clone(&s.subscriber));
            }
        }
        Ok(out)
    }
}
