//! Activity logging: one record per operation run, with its outcome and duration.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::{Middleware, OpSummary};
use crate::error::OslError;
use crate::escape::Escaped;
use crate::jsonl::{LineFile, now_ms};
use crate::ops::Output;
use crate::principal::Context;

/// One operation run, as logged.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityRecord<'a> {
    /// When it ended, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The run's id.
    pub op_id: u64,
    /// Who asked.
    pub principal: &'a str,
    /// The operation.
    pub operation: &'static str,
    /// Its resources.
    pub resources: &'a str,
    /// `ok` or `error`.
    pub outcome: &'static str,
    /// The error, if any.
    pub error: Option<String>,
    /// How long it took, pipeline included, in microseconds.
    pub micros: u64,
}

#[derive(Debug)]
enum Sink {
    /// Human-readable lines on stderr (libraries never write to stdout).
    Console,
    File(LineFile),
    Tracing,
}

/// Logs every operation run (allowed, refused or failed). Failing to write a log line is
/// reported through `tracing` and does not fail the operation (that is the audit log's job).
#[derive(Debug, Clone)]
pub struct ActivityLog(Arc<Sink>);

impl ActivityLog {
    /// One line per operation on stderr.
    pub fn console() -> Self {
        ActivityLog(Arc::new(Sink::Console))
    }

    /// JSON lines appended to `path`.
    pub fn file(path: &Path) -> std::io::Result<Self> {
        Ok(ActivityLog(Arc::new(Sink::File(LineFile::open(path)?))))
    }

    /// `tracing` events (target `airssys_osl::activity`).
    pub fn tracing() -> Self {
        ActivityLog(Arc::new(Sink::Tracing))
    }
}

impl Middleware for ActivityLog {
    fn name(&self) -> &str {
        "activity-log"
    }

    fn after(&self, ctx: &Context, op: &OpSummary, outcome: Result<&Output, &OslError>) {
        let record = ActivityRecord {
            time_ms: now_ms(),
            op_id: ctx.id(),
            principal: ctx.principal().name(),
            operation: op.name,
            resources: &op.resources,
            outcome: if outcome.is_ok() { "ok" } else { "error" },
            error: outcome.err().map(ToString::to_string),
            micros: ctx.started().elapsed().as_micros() as u64,
        };
        match &*self.0 {
            Sink::Console => {
                let error = record.error.as_deref().map(|e| format!(": {}", Escaped(e)));
                let error = error.unwrap_or_default();
                eprintln!(
                    "[osl] #{} {} {} {} {}{error} ({} us)",
                    record.op_id,
                    Escaped(record.principal),
                    record.operation,
                    Escaped(record.resources),
                    record.outcome,
                    record.micros
                );
            }
            Sink::File(file) => {
                if let Err(e) = file.append(&record) {
                    tracing::warn!(error = %e, "cannot write the activity log");
                }
            }
            Sink::Tracing => {
                tracing::info!(
                    target: "airssys_osl::activity",
                    op_id = record.op_id,
                    principal = %Escaped(record.principal),
                    operation = record.operation,
                    resources = %Escaped(record.resources),
                    error = record.error.as_deref().map(Escaped).map(tracing::field::display),
                    micros = record.micros,
                    "{}",
                    record.outcome
                );
            }
        }
    }
}
