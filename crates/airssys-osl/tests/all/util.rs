//! Helpers shared by the tests.

use std::path::PathBuf;
use std::sync::Arc;

use airssys_osl::{AuditLog, Osl, Principal, SecurityMiddleware, SecurityPolicy};

/// A temporary directory and its canonical path.
pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let canonical = dir.path().canonicalize().unwrap();
    (dir, canonical)
}

/// A pipeline enforcing `policy`, auditing in memory.
pub fn secured(policy: SecurityPolicy) -> (Osl, AuditLog) {
    let audit = AuditLog::memory();
    let osl =
        Osl::builder().middleware(SecurityMiddleware::new(Arc::new(policy), audit.clone())).build();
    (osl, audit)
}

pub fn alice() -> Principal {
    Principal::new("alice")
}

pub fn bob() -> Principal {
    Principal::new("bob")
}

/// `dir/**` as a pattern string.
pub fn under(dir: &std::path::Path) -> String {
    format!("{}/**", dir.display())
}
