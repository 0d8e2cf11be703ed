//! Topic-based publish/subscribe.
//!
//! Topics are dot-separated segments (`sensors.kitchen.temp`). Patterns may use `*` for
//! exactly one segment and `#` (last only) for the rest, zero or more segments:
//! `sensors.*.temp` matches `sensors.kitchen.temp`; `sensors.#` matches `sensors`,
//! `sensors.kitchen` and `sensors.kitchen.temp`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::actor_ref::Recipient;
use crate::error::{TopicError, TrySendError};
use crate::exit::ActorId;
use crate::sync::{read, write};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    Star,
    Hash,
}

/// A parsed topic pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
}

fn invalid(topic: &str, reason: &'static str) -> TopicError {
    TopicError { topic: topic.to_owned(), reason }
}

impl Pattern {
    /// Parse a pattern: non-empty segments; `*` and `#` only as whole segments; `#` only last.
    pub fn parse(pattern: &str) -> Result<Self, TopicError> {
        if pattern.is_empty() {
            return Err(invalid(pattern, "empty"));
        }
        let parts: Vec<&str> = pattern.split('.').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "" => return Err(invalid(pattern, "empty segment")),
                "*" => Segment::Star,
                "#" if i + 1 == parts.len() => Segment::Hash,
                "#" => return Err(invalid(pattern, "`#` must be the last segment")),
                p if p.contains(['*', '#']) => {
                    return Err(invalid(pattern, "wildcards must be whole segments"));
                }
                p => Segment::Literal(p.into()),
            });
        }
        Ok(Pattern { segments })
    }

    /// True if every topic that `other` matches is matched by this pattern too (a grant of
    /// `self` allows subscribing to `other`).
    pub fn covers(&self, other: &Pattern) -> bool {
        let (mut mine, mut theirs) = (self.segments.iter(), other.segments.iter());
        let mut first = true;
        loop {
            match (mine.next(), theirs.next()) {
                (Some(Segment::Hash), _) | (None, None) => return true,
                // A leading `#` never matches zero segments (topics are not empty), so
                // `*.#` covers it.
                (Some(Segment::Star), Some(Segment::Hash)) if first => {
                    return matches!(mine.next(), Some(Segment::Hash));
                }
                (Some(Segment::Star), Some(Segment::Star | Segment::Literal(_))) => {}
                (Some(Segment::Literal(a)), Some(Segment::Literal(b))) if a == b => {}
                _ => return false,
            }
            first = false;
        }
    }

    /// True if the concrete `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        let mut parts = topic.split('.');
        for seg in &self.segments {
            match seg {
                Segment::Hash => return true,
                Segment::Star => {
                    if parts.next().is_none() {
                        return false;
                    }
                }
                Segment::Literal(l) => {
                    if parts.next() != Some(&**l) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }
}

/// Validate a concrete topic (what is published to): non-empty segments, no wildcards.
pub fn validate_topic(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(invalid(topic, "empty"));
    }
    for part in topic.split('.') {
        if part.is_empty() {
            return Err(invalid(topic, "empty segment"));
        }
        if part.contains(['*', '#']) {
            return Err(invalid(topic, "wildcards are not allowed in a published topic"));
        }
    }
    Ok(())
}

/// Identifies one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionId(u64);

struct Subscription<T> {
    pattern: Pattern,
    recipient: Recipient<T>,
}

/// What a publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishReport {
    /// Subscribers the message was queued for.
    pub delivered: usize,
    /// Matching subscribers whose bounded mailbox was full (the copy was dropped).
    pub dropped_full: usize,
    /// Matching subscribers found dead and removed.
    pub removed_dead: usize,
}

/// A publish/subscribe broker for messages of type `T`. Cheap to clone; clones share the
/// subscriptions. Publishing never waits: a subscriber with a full bounded mailbox misses the
/// message (reported, not hidden). Dead subscribers are removed on the next publish or count.
/// Subscriptions are kept by id, in subscription order: subscribing and unsubscribing cost
/// O(log n), and removing the dead found by a publish costs as much per dead subscriber.
pub struct PubSub<T> {
    inner: Arc<Subscriptions<T>>,
}

/// What the clones of a `PubSub` share: the subscriptions, by id.
struct Subscriptions<T> {
    next: AtomicU64,
    subs: RwLock<BTreeMap<SubscriptionId, Subscription<T>>>,
}

impl<T> Clone for PubSub<T> {
    fn clone(&self) -> Self {
        PubSub { inner: Arc::clone(&self.inner) }
    }
}

impl<T> fmt::Debug for PubSub<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub").finish_non_exhaustive()
    }
}

impl<T: Clone + Send + 'static> Default for PubSub<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + 'static> PubSub<T> {
    /// An empty broker.
    pub fn new() -> Self {
        PubSub {
            inner: Arc::new(Subscriptions {
                next: AtomicU64::new(1),
                subs: RwLock::new(BTreeMap::new()),
            }),
        }
    }

    /// Subscribe `recipient` to every topic matching `pattern`.
    pub fn subscribe(
        &self,
        pattern: &str,
        recipient: Recipient<T>,
    ) -> Result<SubscriptionId, TopicError> {
        let pattern = Pattern::parse(pattern)?;
        let id = SubscriptionId(self.inner.next.fetch_add(1, Ordering::Relaxed));
        let mut subs = write(&self.inner.subs);
        subs.insert(id, Subscription { pattern, recipient });
        Ok(id)
    }

    /// Remove one subscription. Returns false if it did not exist.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let mut subs = write(&self.inner.subs);
        subs.remove(&id).is_some()
    }

    /// Remove every subscription of one actor. Returns how many were removed.
    pub fn unsubscribe_actor(&self, actor: ActorId) -> usize {
        let mut subs = write(&self.inner.subs);
        let before = subs.len();
        subs.retain(|_, s| s.recipient.id() != actor);
        before - subs.len()
    }

    /// Publish `msg` to every subscriber whose pattern matches `topic`.
    pub fn publish(&self, topic: &str, msg: T) -> Result<PublishReport, TopicError> {
        validate_topic(topic)?;
        let mut report = PublishReport::default();
        let mut dead = Vec::new();
        {
            let subs = read(&self.inner.subs);
            for (id, sub) in subs.iter().filter(|(_, s)| s.pattern.matches(topic)) {
                match sub.recipient.try_tell(msg.clone()) {
                    Ok(()) => report.delivered += 1,
                    Err(TrySendError::Full(_)) => report.dropped_full += 1,
                    Err(TrySendError::Closed(_)) => dead.push(*id),
                }
            }
        }
        if !dead.is_empty() {
            report.removed_dead = dead.len();
            let mut subs = write(&self.inner.subs);
            for id in &dead {
                subs.remove(id);
            }
        }
        Ok(report)
    }

    /// Number of live subscriptions (dead subscribers are removed first).
    pub fn subscription_count(&self) -> usize {
        let mut subs = write(&self.inner.subs);
        subs.retain(|_, s| s.recipient.is_alive());
        subs.len()
    }
}
