//! The seam under the router where envelopes leave this host: what is addressed to a
//! component this host does not have goes, in its wire form (`wire.rs`), to a [`Transport`],
//! which carries it to the host that has it; that host takes it in with
//! [`Host::receive`](crate::Host::receive) and delivers it through its own router (the
//! receiver's accept rules, codecs and limits apply there). Without a transport (the
//! default: one host, embedded) an unknown address is refused with `unknown-target`.
//!
//! What crosses: `send` and `publish`. A `request` or `call` to another host is refused
//! with `not-supported` (responses are not carried back); so is an inbound request,
//! response, exit or down envelope.

use crate::bindings::SendError;

/// Carries frames to other hosts. Implemented by the embedder (this crate ships none; the
/// tests use a loopback between two hosts in one process). Its methods are called from the
/// sender's handler: they must not block (queue the frame and return).
pub trait Transport: Send + Sync + 'static {
    /// Carry `frame` (an encoded [`wire::Envelope`](crate::wire::Envelope)) to the host that
    /// has `target`; `Err(SendError::UnknownTarget)` if no host has it, or another refusal
    /// the sender should see.
    fn carry(&self, target: &str, frame: Vec<u8>) -> Result<(), SendError>;

    /// Carry a published `frame` to every other host (each delivers it to its own
    /// subscribers).
    fn broadcast(&self, frame: Vec<u8>);
}

impl std::fmt::Debug for dyn Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transport")
    }
}

/// Why a frame from another host was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The frame is not a wire envelope this host reads.
    #[error("malformed frame")]
    Malformed(#[from] crate::wire::WireError),
    /// The envelope was refused, as a local message would have been.
    #[error("refused: {0:?}")]
    Refused(SendError),
    /// This host does not take this kind of envelope from another host.
    #[error("not supported: {0}")]
    NotSupported(&'static str),
}

/// Largest frame a host takes in: the largest payload a component may be sent (64 MiB) and
/// room for the addresses.
pub(crate) const MAX_FRAME: usize = (64 << 20) + (64 << 10);
