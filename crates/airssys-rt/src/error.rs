//! Errors returned by the runtime. Errors that fail to deliver a message hand it back, so
//! nothing is lost silently: call `into_inner` to recover it.

use std::fmt;

use crate::exit::ExitReason;

/// The error an actor handler returns. Any error type converts into it with `?`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `tell` failed because the actor no longer accepts messages. The message is handed back.
#[derive(PartialEq, Eq, thiserror::Error)]
#[error("mailbox closed")]
pub struct SendError<M>(pub M);

impl<M> SendError<M> {
    /// The message that was not delivered.
    pub fn into_inner(self) -> M {
        self.0
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

/// `try_tell` failed without waiting. The message is handed back.
#[derive(PartialEq, Eq, thiserror::Error)]
pub enum TrySendError<M> {
    /// The bounded mailbox is at capacity.
    #[error("mailbox full")]
    Full(M),
    /// The actor no longer accepts messages.
    #[error("mailbox closed")]
    Closed(M),
}

impl<M> TrySendError<M> {
    /// The message that was not delivered.
    pub fn into_inner(self) -> M {
        match self {
            TrySendError::Full(m) | TrySendError::Closed(m) => m,
        }
    }

    /// True when the mailbox was full (as opposed to closed).
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }
}

impl<M> fmt::Debug for TrySendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// Why an `ask` produced no reply. An ask never waits longer than its timeout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AskError {
    /// No reply arrived within the timeout (this includes time spent waiting for mailbox space).
    #[error("ask timed out")]
    Timeout,
    /// The actor was not accepting messages when the request was sent.
    #[error("actor is not running")]
    Closed,
    /// The actor dropped the request without replying. When it did so because it exited
    /// (it crashed, was killed, or stopped with the request still queued) the reason is here,
    /// as OTP's `gen_server:call` exits with the callee's reason; `None` when it discarded the
    /// reply handle and went on.
    #[error("{}", no_reply_text(.0))]
    NoReply(Option<ExitReason>),
    /// The actor asked itself from its own handler: it would wait for itself forever (OTP's
    /// `calling_self`). Refused at once, whatever the timeout; nothing was queued.
    #[error("an actor cannot ask itself")]
    CallingSelf,
}

fn no_reply_text(reason: &Option<ExitReason>) -> String {
    match reason {
        Some(reason) => format!("actor exited without replying ({reason})"),
        None => "actor dropped the request without replying".to_owned(),
    }
}

/// Spawning failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// The system is shutting down and accepts no new actors.
    #[error("the actor system is shutting down")]
    ShuttingDown,
    /// The requested name is already registered to a live actor.
    #[error("name {0:?} is already registered")]
    NameTaken(String),
}

/// A registry operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name is already registered to another live actor.
    #[error("name {0:?} is already registered")]
    NameTaken(String),
    /// The actor being registered has already stopped.
    #[error("actor is not alive")]
    NotAlive,
    /// The actor already has a registered name (an actor has at most one).
    #[error("actor is already registered as {0:?}")]
    AlreadyNamed(String),
}

/// A topic or topic pattern was malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid topic {topic:?}: {reason}")]
pub struct TopicError {
    /// The topic or pattern as given.
    pub topic: String,
    /// What is wrong with it.
    pub reason: &'static str,
}
