//! The audit log: one record per security decision, allowed or denied.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::OslError;
use crate::escape::Escaped;
use crate::jsonl::LineFile;
use crate::permission::Action;

/// One security decision (or, for a component host, a limit hit or a lifecycle event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The operation run's id (see [`Context::id`](crate::Context::id)).
    pub op_id: u64,
    /// Who asked.
    pub principal: String,
    /// The operation (`file-read`, ...).
    pub operation: &'static str,
    /// The permission's action.
    pub action: Action,
    /// The resource, as checked (canonical for paths).
    pub resource: String,
    /// `allow` or `deny` for decisions; `grant` for a capability given at start; `crash` or
    /// `restart` for lifecycle events.
    pub decision: &'static str,
    /// The rule that decided.
    pub rule: String,
}

#[derive(Debug)]
enum Sink {
    Memory(Mutex<Vec<AuditRecord>>),
    File(LineFile),
    Tracing,
}

/// Where audit records go. Recording never drops a record silently: a record is written
/// before the operation may proceed; writers wait for each other (backpressure); a record
/// that cannot be written fails the operation with [`OslError::AuditUnavailable`]. Cloning
/// shares the log.
#[derive(Debug, Clone)]
pub struct AuditLog(Arc<Sink>);

impl AuditLog {
    /// Keep records in memory (tests, embedding); read them with [`AuditLog::records`].
    pub fn memory() -> Self {
        AuditLog(Arc::new(Sink::Memory(Mutex::new(Vec::new()))))
    }

    /// Append records to `path` as JSON lines (created if missing).
    pub fn file(path: &Path) -> std::io::Result<Self> {
        Ok(AuditLog(Arc::new(Sink::File(LineFile::open(path)?))))
    }

    /// Emit records as `tracing` events (target `airssys_osl::audit`, level info for allow,
    /// warn for deny). If no subscriber records those events, recording fails (and so does
    /// the operation): a record nobody keeps is a dropped record.
    pub fn tracing() -> Self {
        AuditLog(Arc::new(Sink::Tracing))
    }

    /// Record one decision.
    pub fn record(&self, record: AuditRecord) -> Result<(), OslError> {
        match &*self.0 {
            Sink::Memory(records) => {
                records.lock().unwrap_or_else(|e| e.into_inner()).push(record);
                Ok(())
            }
            Sink::File(file) => {
                file.append(&record).map_err(|e| OslError::AuditUnavailable(e.to_string()))
            }
            Sink::Tracing => {
                let recorded = if record.decision == "deny" {
                    tracing::enabled!(target: "airssys_osl::audit", tracing::Level::WARN)
                } else {
                    tracing::enabled!(target: "airssys_osl::audit", tracing::Level::INFO)
                };
                if !recorded {
                    return Err(OslError::AuditUnavailable(
                        "no tracing subscriber records airssys_osl::audit events".into(),
                    ));
                }
                let AuditRecord {
                    op_id,
                    principal,
                    operation,
                    action,
                    resource,
                    decision,
                    rule,
                    ..
                } = &record;
                // Resources and rules carry untrusted text (a guest's refused target): escaped,
                // so that no sink shows it as a line of its own.
                let (principal, resource, rule) =
                    (Escaped(principal), Escaped(resource), Escaped(rule));
                if *decision == "deny" {
                    tracing::warn!(target: "airssys_osl::audit", op_id, %principal, operation, %action, %resource, %rule, "{decision}");
                } else {
                    tracing::info!(target: "airssys_osl::audit", op_id, %principal, operation, %action, %resource, %rule, "{decision}");
                }
                Ok(())
            }
        }
    }

    /// Record an event, logging (not failing) when the log is unavailable: for events that
    /// already happened, such as a crash, there is nothing left to refuse.
    pub fn record_event(&self, record: AuditRecord) {
        if let Err(e) = self.record(record) {
            tracing::error!(error = %e, "audit record lost: the audit log is unavailable");
        }
    }

    /// The records kept in memory (empty for other sinks).
    pub fn records(&self) -> Vec<AuditRecord> {
        match &*self.0 {
            Sink::Memory(records) => records.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            _ => Vec::new(),
        }
    }
}

/// An audit record read back from a JSON-lines audit file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The operation run's id.
    pub op_id: u64,
    /// Who.
    pub principal: String,
    /// The operation.
    pub operation: String,
    /// The action (`fs-read`, `message-send`, `lifecycle`, ...).
    pub action: String,
    /// The resource.
    pub resource: String,
    /// `allow`, `deny`, `grant`, `crash`, `restart`.
    pub decision: String,
    /// The rule or reason.
    pub rule: String,
}

/// Read a JSON-lines audit file back, keeping the records of `principal` (if given) whose
/// decision is one of `decisions` (if not empty). A line that is not a record (a torn last
/// line after a crash, even one cut inside a multi-byte character) is skipped.
pub fn read_audit(
    path: &Path,
    principal: Option<&str>,
    decisions: &[&str],
) -> std::io::Result<Vec<AuditEntry>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<AuditEntry>(line).ok())
        .filter(|e| principal.is_none_or(|p| e.principal == p))
        .filter(|e| decisions.is_empty() || decisions.contains(&e.decision.as_str()))
        .collect())
}
