//! # airssys-osl: secured, audited OS operations
//!
//! Every OS-touching thing a program does on behalf of a less-trusted principal goes through
//! one pipeline and leaves one audit trail:
//!
//! - typed operations ([`ops`]): filesystem (read, write, append, delete, create directory,
//!   list, metadata, rename), processes (spawn with arguments, environment, working directory,
//!   captured output and timeout; wait; kill; signal) and network (TCP connect and listen, UDP
//!   bind, Unix socket connect), each knowing the permissions it needs;
//! - executors that perform them ([`Execute`], implemented for [`TokioExecutor`] for every
//!   operation, or for your own type with [`executor`]);
//! - an ordered middleware pipeline ([`Osl`]): [`SecurityMiddleware`] (ACL + RBAC policy,
//!   deny by default, an explicit deny beats any allow; canonical paths so that `..` and
//!   symlinks cannot escape), [`AuditLog`] (a record for every decision; never dropped
//!   silently), and [`ActivityLog`] (console, JSON-lines file, `tracing`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use airssys_osl::{Action, AuditLog, Osl, Principal, SecurityMiddleware, SecurityPolicy};
//! use airssys_osl::ops::FileRead;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = SecurityPolicy::new().allow("alice", &[Action::FsRead], "/srv/data/**")?;
//! let osl = Osl::builder()
//!     .middleware(SecurityMiddleware::new(Arc::new(policy), AuditLog::tracing()))
//!     .build();
//! let bytes = osl.run(&Principal::new("alice"), FileRead::new("/srv/data/report.txt")).await?;
//! # let _ = bytes; Ok(()) }
//! ```
//!
//! What the security middleware guarantees, and where it stops:
//!
//! - Paths are decided in canonical form (`..` and symlinks resolved) and the executor is given
//!   exactly the path that was checked; a symlink is never written through when its target
//!   does not exist yet, and delete and rename act on a link, not on what it points at.
//!   Outside what a principal may see, every refusal is a plain denial (no existence oracle).
//! - The check and the use are separate system calls. The final component is opened with
//!   `O_NOFOLLOW`, but a principal able to swap a directory inside an allowed tree for a
//!   symlink between the two could race them.
//! - Network resources are `ip:port` literals in canonical form; host names are refused so
//!   that no name can resolve around a rule.
//! - Processes get only the environment given (no loader variables such as `LD_PRELOAD`), a
//!   checked working directory, and their own process group, killed as a whole.
//! - The security middleware's `before` always runs after every other middleware's, so no
//!   middleware can rewrite an operation after it was checked.
//! - Checks run on the calling task (canonicalisation and audit writes are short blocking
//!   system calls).
//!
//! Unix only (paths, signals and Unix sockets).

#![deny(missing_docs)]

extern crate self as airssys_osl;

mod error;
mod escape;
mod executor;
pub mod helpers;
mod jsonl;
mod middleware;
pub mod ops;
pub mod path;
mod permission;
mod pipeline;
mod policy;
mod principal;

pub use airssys_osl_macros::executor;
pub use error::{ConfigError, OslError};
pub use escape::{Escaped, escaped};
pub use executor::{Execute, TokioExecutor};
pub use middleware::{
    ActivityLog, ActivityRecord, AuditEntry, AuditLog, AuditRecord, Middleware, OpSummary,
    SecurityMiddleware, read_audit,
};
pub use ops::{Op, Operation, Output};
pub use permission::{Action, Permission, canonical_socket_addr};
pub use pipeline::{Osl, OslBuilder};
pub use policy::{AclEntry, Decision, Effect, Rbac, RbacBuilder, SecurityPolicy};
pub use principal::{Context, Principal};
