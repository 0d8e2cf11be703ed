//! Why an observer did not start.

use std::net::SocketAddr;

/// Why an observer did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserverError {
    /// The address is not loopback, and remote access was not allowed.
    #[error(
        "not serving the observer on {0}: it is not a loopback address (allow it explicitly to \
         let anyone who reaches it and has the token act on the components)"
    )]
    NotLoopback(SocketAddr),
    /// A token given by the embedder is too short to resist guessing, or has characters
    /// that an address cannot carry as they are.
    #[error(
        "the observer's token must be at least 16 characters, each a letter, a digit, `-` or `_`"
    )]
    BadToken,
    /// No random token could be made.
    #[error("cannot make a random token: {0}")]
    Random(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
