//! Joins AirsSys hosts into one system over [NATS](https://nats.io).
//!
//! A host joins a cluster by a NATS URL and a cluster name ([`ClusterConfig`]); two clusters
//! on one NATS server do not see each other. Joined, it is an
//! [`airssys_wasm::transport::Transport`]: a `send` or `publish` to a component on another
//! host works as a local one does, in the versioned wire form of the envelopes
//! (`airssys_wasm::wire`), and each component name is owned by one host at a time, recorded
//! in a JetStream key-value bucket with compare-and-swap.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use airssys_cluster::{Cluster, ClusterConfig};
//! use airssys_wasm::Host;
//!
//! let cluster = Cluster::join(ClusterConfig::new("nats://127.0.0.1:4222", "shop")).await?;
//! let host = Host::builder().transport(cluster.transport()).start().await?;
//! cluster.serve(host.clone());
//! # Ok(())
//! # }
//! ```
//!
//! [`Cluster::place`] runs a component on one host of the cluster and has the others stand
//! by for it: a host whose heartbeat stops for [`LOST_AFTER`] is lost, and a standby takes
//! its components over. [`Cluster::storage`] keeps the components' storage in the cluster, so
//! that it follows a component to the host that takes it over, and [`Cluster::components`]
//! lists every component with its host. What is built and what is not is in
//! `docs/cluster.md` (links and monitors across hosts are not built yet).

mod config;
mod error;
mod listing;
mod node;
mod outbound;
mod registry;
mod storage;
mod subject;
mod sync;

pub use config::{ClusterConfig, Credentials};
pub use error::ClusterError;
pub use listing::ClusterComponent;
pub use node::{Cluster, HEARTBEAT, LOST_AFTER, Placement};
pub use storage::JetStreamBackend;
