//! The host's audit log: every refused capability, every limit hit, every crash and restart,
//! and the grants each component starts with, as `airssys-osl` audit records (JSON lines to a
//! file, or `tracing`). The principal is the component's address.

use airssys_osl::{Action, AuditLog, AuditRecord};

/// Where a host's audit records go. Cloning shares the log.
#[derive(Debug, Clone)]
pub(crate) struct Audit(AuditLog);

impl Default for Audit {
    fn default() -> Self {
        Audit(AuditLog::tracing())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Audit {
    pub(crate) fn new(log: AuditLog) -> Self {
        Audit(log)
    }

    /// Record one event; a log that cannot be written is reported through `tracing` (the
    /// event itself already happened).
    pub(crate) fn event(
        &self,
        component: &str,
        operation: &'static str,
        action: Action,
        resource: &str,
        decision: &'static str,
        rule: impl Into<String>,
    ) {
        self.0.record_event(AuditRecord {
            time_ms: now_ms(),
            op_id: 0,
            principal: component.to_owned(),
            operation,
            action,
            resource: resource.to_owned(),
            decision,
            rule: rule.into(),
        });
    }
}
