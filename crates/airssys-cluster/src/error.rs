//! Errors of joining and serving a cluster.

/// Joining a cluster failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The cluster name is not 1 to 64 ASCII letters, digits, `-` or `_`.
    #[error("invalid cluster name {0:?}: use 1 to 64 ASCII letters, digits, '-' or '_'")]
    InvalidName(String),
    /// The host id is not 1 to 64 ASCII letters, digits, `-` or `_`.
    #[error("invalid host id {0:?}: use 1 to 64 ASCII letters, digits, '-' or '_'")]
    InvalidHostId(String),
    /// No random bytes for a host id.
    #[error("cannot make a random host id: {0}")]
    Random(String),
    /// The credentials file cannot be read.
    #[error("cannot read the NATS credentials file")]
    Credentials(#[source] std::io::Error),
    /// The NATS server cannot be reached or refused the connection.
    #[error("cannot connect to NATS at {url}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: async_nats::ConnectError,
    },
    /// JetStream (needed for the registry of names) is not enabled or refused the bucket.
    #[error(
        "cannot open the cluster's registry (is JetStream enabled on the server? run nats-server with -js)"
    )]
    Registry(#[source] airssys_wasm::BoxError),
    /// The bucket of the components' storage cannot be opened (JetStream is needed).
    #[error(
        "cannot open the cluster's storage (is JetStream enabled on the server? run nats-server with -js)"
    )]
    Storage(#[source] airssys_wasm::BoxError),
    /// The host's inbox cannot be subscribed to.
    #[error("cannot subscribe to the host's inbox")]
    Subscribe(#[source] async_nats::SubscribeError),
}
