//! The audit log: one record per security decision, allowed or denied.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::OslError;
use crate::jsonl::LineFile;
use crate::permission::Action;

/// One security decision.
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
    /// `allow` or `deny`.
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
                let recorded = if record.decision == "allow" {
                    tracing::enabled!(target: "airssys_osl::audit", tracing::Level::INFO)
                } else {
                    tracing::enabled!(target: "airssys_osl::audit", tracing::Level::WARN)
                };
                if !recorded {
                    return Err(OslError::AuditUnavailable(
                        "no tracing subscriber records airssys_osl::audit events".into(),
                    ));
                }
                let AuditRecord { op_id, principal, operation, action, resource, rule, .. } =
                    &record;
                if record.decision == "allow" {
                    tracing::info!(target: "airssys_osl::audit", op_id, principal, operation, %action, resource, rule, "allow");
                } else {
                    tracing::warn!(target: "airssys_osl::audit", op_id, principal, operation, %action, resource, rule, "deny");
                }
                Ok(())
            }
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
