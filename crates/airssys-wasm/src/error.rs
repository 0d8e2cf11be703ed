//! Errors of the host.

/// An error from below (wasmtime, the OS, a guest's own text), kept as the source of a
/// [`HostError`]: `Error::source` gives it, and `{:#}` with `anyhow` prints the chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Starting the host or a component failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The wasmtime engine could not be created.
    #[error("cannot create the wasmtime engine")]
    Engine(#[source] BoxError),
    /// What the embedder adds to the linker (`HostBuilder::linker`) failed.
    #[error("an interface the embedder adds to the linker cannot be added")]
    Extension(#[source] BoxError),
    /// A component's file could not be read.
    #[error("cannot read component {name:?} from {path}")]
    Read {
        /// The component's name.
        name: String,
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid component, or it does not fit the AirsSys contract (wrong
    /// world, or it imports something the host does not provide).
    #[error("component {name:?} cannot be loaded")]
    Load {
        /// The component's name.
        name: String,
        /// What is wrong with it (wasmtime's error, or the contract's).
        #[source]
        source: BoxError,
    },
    /// Two components were given the same name.
    #[error("two components are named {0:?}")]
    DuplicateName(String),
    /// A component name that cannot be an address.
    #[error(
        "{0:?} is not a valid component name: use 1 to 128 ASCII letters, digits, '-', '_' or \
         '.', and not \"host\""
    )]
    InvalidName(String),
    /// A component's signature does not hold (or it has none and the host requires one).
    #[error("component {name:?} is refused by the trust policy")]
    Untrusted {
        /// The component's name.
        name: String,
        /// Why.
        #[source]
        reason: crate::trust::TrustError,
    },
    /// The trust configuration is missing or invalid.
    #[error("trust: {0}")]
    Trust(String),
    /// A trusted key in the configuration is not a valid key.
    #[error("trusted key {key:?} is not valid")]
    TrustedKey {
        /// The key as written.
        key: String,
        /// Why it is not valid.
        #[source]
        source: crate::trust::TrustError,
    },
    /// The audit log cannot be opened.
    #[error("cannot open the audit log {path}")]
    Audit {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The operation is not supported by this host; the text says which.
    #[error("not supported yet: {0}")]
    NotSupported(String),
    /// The manifest cannot be used.
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    /// No component has this name.
    #[error("no component is named {0:?}")]
    NotFound(String),
    /// The transport that joins this host to others did not let it take the component's
    /// name (another host runs it, or the registry is unreachable).
    #[error("cannot take the name {name:?} in the cluster")]
    Claim {
        /// The component.
        name: String,
        /// Why.
        #[source]
        source: crate::transport::ClaimError,
    },
    /// A component's grants are not valid (a malformed topic pattern, a zero rate).
    #[error("component {name:?} has invalid grants: {reason}")]
    Grant {
        /// The component's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The components a host starts with cannot all run in its engine's instance pool at
    /// once; the text says which limit and what to set.
    #[error("the app does not fit the engine's instance pool: {0}")]
    PoolTooSmall(String),
    /// The instances a host would start (or a spawn would add) need more memory mappings
    /// than the kernel allows the process (`vm.max_map_count`); the text says how many and
    /// what to set. Nothing was started.
    #[error("the instances do not fit the kernel's limit on memory mappings: {0}")]
    MappingLimit(String),
    /// A component's limits are not valid.
    #[error("component {name:?} has invalid limits: {reason}")]
    Limit {
        /// The component's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The data directory cannot be used.
    #[error("cannot use {path} as the data directory: {reason}")]
    DataDir {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// The host's storage cannot be opened.
    #[error("the host's storage cannot be used")]
    Storage(#[from] crate::storage::StorageError),
    /// A component failed to start (its `init` returned an error or trapped).
    #[error("component {name:?} failed to start: {reason}")]
    Start {
        /// The component's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// An upgrade was refused before anything changed (the text says why: a grant the new
    /// code needs).
    #[error("the upgrade of component {name:?} is refused: {reason}")]
    UpgradeRefused {
        /// The component's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// An instance did not take the new code (its `init`, `take-over` or `hand-over`
    /// failed, or it was not running); its old code still runs.
    #[error("the upgrade of {name:?} failed, its old code still runs: {reason}")]
    UpgradeFailed {
        /// The address of the instance.
        name: String,
        /// Why.
        reason: String,
    },
    /// The new code crashed in its grace window, and the old code was brought back.
    #[error(
        "the new code of component {name:?} crashed in its grace window and was rolled back: {reason}"
    )]
    RolledBack {
        /// The component's name.
        name: String,
        /// The crash.
        reason: String,
    },
    /// An HTTP route cannot be served: its listen address cannot be bound, or the route
    /// names no component, or its path is not a path.
    #[error("the HTTP route {route} cannot be served: {reason}")]
    Http {
        /// The route (`listen` + path).
        route: String,
        /// Why.
        reason: String,
    },
}
