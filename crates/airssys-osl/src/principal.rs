//! Who an operation runs for, and the context it runs in.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The identity an operation is performed for (a component's address, a user name, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(Arc<str>);

impl Principal {
    /// A principal with this name.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Principal(name.into())
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What an executor and the middleware know about one operation run.
#[derive(Debug, Clone)]
pub struct Context {
    principal: Principal,
    id: u64,
    started: std::time::Instant,
}

impl Context {
    /// A context for one operation of `principal`, with a fresh id.
    pub fn new(principal: Principal) -> Self {
        Context {
            principal,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            started: std::time::Instant::now(),
        }
    }

    /// Who the operation runs for.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// A process-unique id of this run (ties log and audit lines together).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When the run began (before the first middleware).
    pub fn started(&self) -> std::time::Instant {
        self.started
    }
}
