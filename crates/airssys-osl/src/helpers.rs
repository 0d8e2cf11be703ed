//! One-line helpers: each runs one operation for an explicit principal under an explicit
//! policy, through the security middleware, auditing to `tracing` (so a subscriber must record
//! `airssys_osl::audit` events at info level, or every operation fails with
//! [`OslError::AuditUnavailable`]). Build an [`Osl`] yourself
//! for other audit or log destinations, or to keep processes across calls.

use std::path::Path;
use std::sync::Arc;

use crate::error::OslError;
use crate::middleware::{AuditLog, SecurityMiddleware};
use crate::ops::*;
use crate::pipeline::Osl;
use crate::policy::SecurityPolicy;
use crate::principal::Principal;

fn secured(policy: &Arc<SecurityPolicy>) -> Osl {
    Osl::builder()
        .middleware(SecurityMiddleware::new(Arc::clone(policy), AuditLog::tracing()))
        .build()
}

/// Read a file.
pub async fn read_file(
    policy: &Arc<SecurityPolicy>,
    principal: &Principal,
    path: impl AsRef<Path>,
) -> Result<Vec<u8>, OslError> {
    secured(policy).run(principal, FileRead::new(path.as_ref())).await
}

/// Create or replace a file with `data`.
pub async fn write_file(
    policy: &Arc<SecurityPolicy>,
    principal: &Principal,
    path: impl AsRef<Path>,
    data: impl Into<Vec<u8>>,
) -> Result<(), OslError> {
    secured(policy).run(principal, FileWrite::new(path.as_ref(), data)).await
}

/// Append `data` to a file.
pub async fn append_file(
    policy: &Arc<SecurityPolicy>,
    principal: &Principal,
    path: impl AsRef<Path>,
    data: impl Into<Vec<u8>>,
) -> Result<(), OslError> {
    secured(policy).run(principal, FileAppend::new(path.as_ref(), data)).await
}

/// List a directory.
pub async fn list_dir(
    policy: &Arc<SecurityPolicy>,
    principal: &Principal,
    path: impl AsRef<Path>,
) -> Result<Vec<DirEntry>, OslError> {
    secured(policy).run(principal, DirList::new(path.as_ref())).await
}

/// Run a program to completion and collect its output (killed after `spawn.timeout`).
pub async fn run_command(
    policy: &Arc<SecurityPolicy>,
    principal: &Principal,
    spawn: ProcessSpawn,
) -> Result<ExitOutput, OslError> {
    let osl = secured(policy);
    let pid = osl.run(principal, spawn).await?;
    osl.run(principal, ProcessWait::new(pid)).await
}

/// Open a TCP connection to `host:port`.
pub async fn tcp_connect(
    policy: &Arc<SecurityPolicy>,
    principal: &Principal,
    address: &str,
) -> Result<tokio::net::TcpStream, OslError> {
    secured(policy).run(principal, TcpConnect::new(address)).await
}
