//! The seam under the router where envelopes leave this host: what is addressed to a
//! component this host does not have goes, in its wire form (`wire.rs`), to a [`Transport`],
//! which carries it to the host that has it; that host takes it in with
//! [`Host::receive`](crate::Host::receive) and delivers it through its own router (the
//! receiver's accept rules, codecs and limits apply there). Without a transport (the
//! default: one host, embedded) an unknown address is refused with `unknown-target`.
//!
//! What crosses: `send`, `publish`, and a component's `request` or `call` with its
//! response (matched by a ticket the requester's host gives it, `remote.rs`). A request or
//! call made by the host itself (no component) to another host is refused with
//! `not-supported`, and so is an inbound exit or down envelope (links and monitors stay on
//! one host).
//!
//! A transport that joins hosts into one system also owns their names: the host
//! [claims](Transport::claim) a component's name before it starts the component, and
//! [releases](Transport::release) it when the component is stopped for good, so that a name
//! runs on one host at a time.

use std::future::Future;
use std::pin::Pin;

use crate::bindings::SendError;

/// What [`Transport::claim`] returns: the claim, once the transport has made it.
pub type Claiming<'a> = Pin<Box<dyn Future<Output = Result<(), ClaimError>> + Send + 'a>>;

/// Why a name could not be claimed for this host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// Another host runs a component of this name.
    #[error("{name:?} already runs on host {owner:?}")]
    Taken {
        /// The name.
        name: String,
        /// The host that has it.
        owner: String,
    },
    /// The registry of names could not be reached or refused the claim.
    #[error("the registry of names is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

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

    /// The address this host's embedder (the sender `host` of [`Host::call`],
    /// [`Host::send`] and the like) has on other hosts, so that their answers find it: one
    /// unique to this host, [`embedder_address`](crate::address::embedder_address) of its
    /// id. `None` (the default): the embedder's calls and sends stay on this host.
    ///
    /// [`Host::call`]: crate::Host::call
    /// [`Host::send`]: crate::Host::send
    fn embedder_address(&self) -> Option<String> {
        None
    }

    /// Take `name` (a component's or pool's name) for this host before the host starts it;
    /// an error leaves the component unstarted. The default takes every name (one host).
    fn claim<'a>(&'a self, name: &'a str) -> Claiming<'a> {
        let _ = name;
        Box::pin(std::future::ready(Ok(())))
    }

    /// Give `name` up: the host stopped its component for good (or could not start it after
    /// claiming it). Must not block. The default does nothing.
    fn release(&self, name: &str) {
        let _ = name;
    }
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
    /// The host the frame came from may not send as its sender (the address is another
    /// host's, or the frame's origin is not a member).
    #[error("{origin:?} may not send as {sender:?}")]
    Forged {
        /// The sender address the frame claims.
        sender: String,
        /// The host it came from, as the transport names it.
        origin: String,
    },
    /// A response to no request waiting on this host (answered already, timed out, or
    /// never made), or from another address than the request went to.
    #[error("a response for ticket {0}, which no request here waits on")]
    UnknownTicket(u64),
}

/// Largest frame a host takes in: the largest payload a component may be sent (64 MiB) and
/// room for the addresses.
pub(crate) const MAX_FRAME: usize = (64 << 20) + (64 << 10);
