//! Publish/subscribe between components. Patterns and topics follow `airssys-rt`'s rules
//! (`*` one segment, `#` the rest); delivery goes through the router, so each subscriber's
//! codec and size rules apply and the publisher is stamped as the sender.
//!
//! The subscriptions are indexed by id, by subscriber and by pattern, so that adding or
//! removing one costs O(1) whatever their number, and the lock is never held across long
//! work (an instance that goes removes its own, at most its limit, each in O(1)). A publish
//! looks up the literal patterns equal to its topic directly and matches only the wildcard
//! patterns, each once, however many subscribers share it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use airssys_rt::pubsub::{Pattern, validate_topic};

/// One pattern and who subscribed to it.
struct Subscribers {
    pattern: Pattern,
    by: HashSet<Arc<str>>,
}

#[derive(Default)]
struct Index {
    /// Each subscription: its subscriber and pattern.
    by_id: HashMap<u64, (Arc<str>, Arc<str>)>,
    /// Each subscriber's subscriptions: pattern text to id.
    by_subscriber: HashMap<Arc<str>, HashMap<Arc<str>, u64>>,
    /// Each pattern's subscribers.
    by_pattern: HashMap<Arc<str>, Subscribers>,
    /// The patterns of `by_pattern` that have a wildcard.
    wildcards: HashSet<Arc<str>>,
}

impl Index {
    fn remove_id(&mut self, id: u64) -> bool {
        let Some((subscriber, text)) = self.by_id.remove(&id) else { return false };
        if let Some(mine) = self.by_subscriber.get_mut(&subscriber) {
            mine.remove(&text);
            if mine.is_empty() {
                self.by_subscriber.remove(&subscriber);
            }
        }
        if let Some(subs) = self.by_pattern.get_mut(&text) {
            subs.by.remove(&subscriber);
            if subs.by.is_empty() {
                self.by_pattern.remove(&text);
                self.wildcards.remove(&text);
            }
        }
        true
    }
}

/// All subscriptions of a host.
#[derive(Default)]
pub(crate) struct Topics {
    next: AtomicU64,
    index: RwLock<Index>,
}

impl std::fmt::Debug for Topics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Topics(..)")
    }
}

impl Topics {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        crate::sync::write(&self.index)
    }

    /// Subscribe `subscriber` to `pattern`; returns the subscription's id and whether it is
    /// new (subscribing again to the same pattern returns the existing id).
    pub(crate) fn subscribe(
        &self,
        subscriber: &Arc<str>,
        pattern: &str,
    ) -> Result<(u64, bool), String> {
        let parsed = Pattern::parse(pattern).map_err(|e| e.to_string())?;
        let mut index = self.write();
        if let Some(id) = index.by_subscriber.get(subscriber).and_then(|m| m.get(pattern)) {
            return Ok((*id, false));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let text: Arc<str> = pattern.into();
        index.by_id.insert(id, (Arc::clone(subscriber), Arc::clone(&text)));
        index
            .by_subscriber
            .entry(Arc::clone(subscriber))
            .or_default()
            .insert(Arc::clone(&text), id);
        if pattern.contains(['*', '#']) {
            index.wildcards.insert(Arc::clone(&text));
        }
        index
            .by_pattern
            .entry(text)
            .or_insert_with(|| Subscribers { pattern: parsed, by: HashSet::new() })
            .by
            .insert(Arc::clone(subscriber));
        Ok((id, true))
    }

    /// True if `subscriber` is subscribed to `pattern`.
    pub(crate) fn has(&self, subscriber: &str, pattern: &str) -> bool {
        let index = crate::sync::read(&self.index);
        index.by_subscriber.get(subscriber).is_some_and(|m| m.contains_key(pattern))
    }

    /// Remove the subscription of `subscriber` to `pattern`; returns its id.
    pub(crate) fn unsubscribe(&self, subscriber: &str, pattern: &str) -> Option<u64> {
        let mut index = self.write();
        let id = *index.by_subscriber.get(subscriber)?.get(pattern)?;
        index.remove_id(id);
        Some(id)
    }

    /// Remove subscriptions by id (an instance that goes takes its subscriptions with it).
    pub(crate) fn remove(&self, ids: impl IntoIterator<Item = u64>) {
        let mut ids = ids.into_iter().peekable();
        if ids.peek().is_none() {
            return;
        }
        let mut index = self.write();
        for id in ids {
            index.remove_id(id);
        }
    }

    /// How many subscriptions the host holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        crate::sync::read(&self.index).by_id.len()
    }

    /// The subscribers of `topic` (each once, whatever the number of matching patterns).
    pub(crate) fn subscribers(&self, topic: &str) -> Result<Vec<Arc<str>>, String> {
        validate_topic(topic).map_err(|e| e.to_string())?;
        let index = crate::sync::read(&self.index);
        let mut seen: HashSet<&Arc<str>> = HashSet::new();
        let mut out: Vec<Arc<str>> = Vec::new();
        let literal = index.by_pattern.get(topic).into_iter();
        let wild = index.wildcards.iter().filter_map(|p| index.by_pattern.get(p));
        for subs in literal.chain(wild).filter(|s| s.pattern.matches(topic)) {
            for subscriber in &subs.by {
                if seen.insert(subscriber) {
                    out.push(Arc::clone(subscriber));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_follows_subscribe_unsubscribe_and_remove() {
        let topics = Topics::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let (id, new) = topics.subscribe(&a, "x.*").unwrap();
        assert!(new);
        assert_eq!(topics.subscribe(&a, "x.*").unwrap(), (id, false), "a duplicate is one");
        topics.subscribe(&b, "x.y").unwrap();
        topics.subscribe(&b, "x.#").unwrap();
        let mut got = topics.subscribers("x.y").unwrap();
        got.sort();
        assert_eq!(got, vec![a.clone(), b.clone()], "each subscriber once");
        assert_eq!(topics.unsubscribe("a", "x.*"), Some(id));
        assert_eq!(topics.unsubscribe("a", "x.*"), None);
        assert_eq!(topics.subscribers("x.y").unwrap(), vec![b.clone()]);
        let ids: Vec<u64> =
            (0..10_000).map(|i| topics.subscribe(&a, &format!("many.{i}")).unwrap().0).collect();
        assert_eq!(topics.subscribers("many.9999").unwrap(), vec![a.clone()]);
        topics.remove(ids);
        assert_eq!(topics.len(), 2);
        assert!(topics.subscribers("many.1").unwrap().is_empty());
    }
}
