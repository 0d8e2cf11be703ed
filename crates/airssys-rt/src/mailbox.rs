//! Mailbox configuration and the full-mailbox policies a sender can choose.
//!
//! Every actor has one mailbox with two lanes: user messages, and system signals (stop, link
//! exits, down notices). Signals never wait behind user messages and are not counted against
//! the capacity. Kill does not travel through the mailbox at all: it cancels the actor's task.
//!
//! A bounded mailbox holds at most `capacity` user messages. When it is full, the sender picks
//! what happens:
//!
//! | call | when full |
//! |---|---|
//! | [`ActorRef::tell`](crate::ActorRef::tell) | waits for room (async backpressure) |
//! | [`ActorRef::try_tell`](crate::ActorRef::try_tell) | fails at once, handing the message back |
//! | [`ActorRef::tell_dropping`] with [`DropPolicy::Newest`] | drops the message being sent |
//! | [`ActorRef::tell_dropping`] with [`DropPolicy::Oldest`] | evicts the oldest queued message |
//!
//! Dropped messages are counted in [`ActorMetrics::dropped`](crate::ActorMetrics) and handed
//! back to the caller.
//!
//! The capacity counts every message not yet handed to the actor's handler, including those
//! the actor has already taken into the batch it works through (it takes all queued messages
//! at once, under one lock). Those taken messages can no longer be evicted: drop-oldest evicts
//! the oldest message the actor has not taken yet.
//!
//! [`ActorRef::tell_dropping`]: crate::ActorRef::tell_dropping

use std::num::NonZeroUsize;

/// The size of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MailboxConfig {
    /// No limit on queued messages (the default, as in Erlang). Memory is the limit.
    #[default]
    Unbounded,
    /// At most this many queued user messages.
    Bounded(NonZeroUsize),
}

impl MailboxConfig {
    /// A bounded mailbox; a capacity of 0 is raised to 1.
    pub fn bounded(capacity: usize) -> Self {
        MailboxConfig::Bounded(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))
    }

    /// An unbounded mailbox.
    pub fn unbounded() -> Self {
        MailboxConfig::Unbounded
    }
}

/// Which message a non-waiting send drops when the bounded mailbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropPolicy {
    /// Drop the message being sent; the queue is unchanged.
    Newest,
    /// Evict the oldest queued message to make room for the new one.
    ///
    /// "Queued" means not yet taken by the actor: the actor takes all queued messages at once
    /// into a batch that it hands to its handler one by one, and messages in that batch (which
    /// still count against the capacity) cannot be evicted. So while the actor works through a
    /// batch, the oldest message evicted is the oldest one sent after the batch was taken. If
    /// every counted message is in the batch (possible only in a mailbox the runtime itself
    /// filled past its capacity with its own bookkeeping messages), the new message is dropped.
    Oldest,
}

/// What a [`tell_dropping`](crate::ActorRef::tell_dropping) did.
#[derive(PartialEq, Eq)]
pub enum Delivery<M> {
    /// The message was queued and nothing was dropped.
    Queued,
    /// The mailbox was full; this message was dropped (the new one for
    /// [`DropPolicy::Newest`], the evicted oldest one for [`DropPolicy::Oldest`], or the new
    /// one if there was nothing it could evict).
    Dropped(M),
}

impl<M> Delivery<M> {
    /// True when a message was dropped.
    pub fn is_dropped(&self) -> bool {
        matches!(self, Delivery::Dropped(_))
    }
}

impl<M> std::fmt::Debug for Delivery<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Queued => f.write_str("Queued"),
            Delivery::Dropped(_) => f.write_str("Dropped(..)"),
        }
    }
}
