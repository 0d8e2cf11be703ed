//! The middleware pipeline around executors: each middleware sees every operation before it
//! runs (and may inspect, rewrite or refuse it) and its outcome after (to observe it).

mod audit;
mod logging;
mod security;

pub use audit::{AuditEntry, AuditLog, AuditRecord, read_audit};
pub use logging::{ActivityLog, ActivityRecord};
pub use security::SecurityMiddleware;

use crate::error::OslError;
use crate::ops::{Op, Output};
use crate::principal::Context;

/// What `after` hooks know of an operation: its name and resources as they were when it ran
/// (after every `before` hook, so canonical paths when the security middleware ran).
#[derive(Debug, Clone)]
pub struct OpSummary {
    /// The operation's name (`file-read`, ...).
    pub name: &'static str,
    /// Its resources as text.
    pub resources: String,
}

/// One stage of the pipeline. `before` hooks run in the order middleware was added; `after`
/// hooks in reverse, for every middleware whose `before` ran (including one that refused).
/// Hooks are synchronous and must be quick: they run on the caller's task.
pub trait Middleware: Send + Sync + std::fmt::Debug + 'static {
    /// A short name, used in refusals.
    fn name(&self) -> &str;

    /// True for a middleware whose `before` must see the operation exactly as the executor
    /// will run it (the security middleware): the pipeline runs such hooks after all others,
    /// whatever order they were added in, so no later hook can rewrite what was checked.
    fn runs_last(&self) -> bool {
        false
    }

    /// Inspect, rewrite or refuse an operation before it runs.
    fn before(&self, ctx: &Context, op: &mut Op) -> Result<(), OslError> {
        let _ = (ctx, op);
        Ok(())
    }

    /// Observe an operation's outcome (or the refusal that stopped it).
    fn after(&self, ctx: &Context, op: &OpSummary, outcome: Result<&Output, &OslError>) {
        let _ = (ctx, op, outcome);
    }
}
