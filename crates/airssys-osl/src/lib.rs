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
//! Unix only (paths, signals and Unix sockets).

extern crate self as airssys_osl;

mod error;
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
pub use executor::{Execute, TokioExecutor};
pub use middleware::{
    ActivityLog, ActivityRecord, AuditLog, AuditRecord, Middleware, OpSummary, SecurityMiddleware,
};
pub use ops::{Op, Operation, Output};
pub use permission::{Action, Permission};
pub use pipeline::{Osl, OslBuilder};
pub use policy::{AclEntry, Decision, Effect, Rbac, RbacBuilder, SecurityPolicy};
pub use principal::{Context, Principal};
