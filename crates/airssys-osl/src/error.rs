//! Errors of operations and of configuration.

use std::path::PathBuf;

/// Why an operation did not produce its output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OslError {
    /// The security policy refused a permission the operation needs.
    #[error("{principal} may not {action} {resource}: denied by {rule}")]
    Denied {
        /// Who asked.
        principal: String,
        /// The permission's action.
        action: crate::Action,
        /// The resource, as it was checked (a canonical path for files).
        resource: String,
        /// The rule that decided (or `default deny`).
        rule: String,
    },
    /// A path that cannot be checked safely (for example `..` at the end, or a parent that does
    /// not exist).
    #[error("invalid path {}: {reason}", path.display())]
    InvalidPath {
        /// The path as given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The audit record of a decision could not be written; the operation was not run.
    #[error("audit log unavailable, operation refused: {0}")]
    AuditUnavailable(String),
    /// A middleware refused the operation.
    #[error("refused by middleware {middleware}: {reason}")]
    Refused {
        /// The middleware's name.
        middleware: String,
        /// Why.
        reason: String,
    },
    /// A middleware turned the operation into one of another kind, which the pipeline does not
    /// allow.
    #[error("middleware changed a {from} operation into a {to} operation")]
    KindChanged {
        /// The operation's kind.
        from: &'static str,
        /// What it became.
        to: &'static str,
    },
    /// No process with this id was spawned by this principal through this executor (or it
    /// was already waited for).
    #[error("no process {0} of this principal")]
    NoSuchProcess(u32),
    /// The program to spawn was not found.
    #[error("program {0:?} not found")]
    ProgramNotFound(String),
    /// An address that is not an `ip:port` literal (host names are not accepted: resolve
    /// first, so that the policy decides on the address really used).
    #[error("invalid address {0:?}: expected ip:port, such as 127.0.0.1:8080 or [::1]:8080")]
    InvalidAddress(String),
    /// An environment variable a spawned program may not be given (dynamic-loader
    /// variables such as `LD_PRELOAD`, which would run arbitrary code in it).
    #[error("environment variable {0:?} may not be passed to a program")]
    InvalidEnv(String),
    /// The executor does not support this operation on this platform.
    #[error("{0} is not supported here")]
    NotSupported(&'static str),
    /// The operating system refused or failed the operation.
    #[error("{operation} failed: {source}")]
    Io {
        /// The operation's name.
        operation: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl OslError {
    pub(crate) fn io(operation: &'static str) -> impl FnOnce(std::io::Error) -> OslError {
        move |source| OslError::Io { operation, source }
    }
}

/// A security configuration that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A resource pattern is not a valid glob.
    #[error("invalid resource pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// Role inheritance loops back on itself.
    #[error("role inheritance cycle: {}", .0.join(" -> "))]
    RoleCycle(Vec<String>),
    /// A role inherits from, or a principal is given, a role that is not defined.
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    /// A role is defined twice.
    #[error("role {0:?} is defined twice")]
    DuplicateRole(String),
}
