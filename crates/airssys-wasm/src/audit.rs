//! The host's audit log: every refused capability, every limit hit, every crash and restart,
//! the grants each component starts with, and signature verdicts, as `airssys-osl` audit
//! records (JSON lines to a file, or `tracing`). The principal is the component's address.
//!
//! Refusals are what a hostile guest can produce at will, so they are throttled per
//! component (a burst of 200, then 50 a second); what is not written is counted, and the
//! count goes into the next record that is. Resources are cut to 256 bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use airssys_osl::{Action, AuditLog, AuditRecord};

const DENIALS_PER_SECOND: f64 = 50.0;
const DENIAL_BURST: f64 = 200.0;
const MAX_RESOURCE: usize = 256;

struct Budget {
    tokens: f64,
    last: Instant,
    suppressed: u64,
    /// Every refusal of the component, recorded or not, by operation.
    denied: HashMap<&'static str, u64>,
}

/// How many of the last records a host keeps for a live observer.
const RECENT_RECORDS: usize = 512;

/// The last records, numbered from 1 in the order they were made.
#[derive(Default)]
struct Recent {
    last_seq: u64,
    records: std::collections::VecDeque<(u64, AuditRecord)>,
}

/// Where a host's audit records go. Cloning shares the log.
#[derive(Clone)]
pub(crate) struct Audit {
    log: AuditLog,
    budgets: Arc<Mutex<HashMap<String, Budget>>>,
    recent: Arc<Mutex<Recent>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").field("log", &self.log).finish_non_exhaustive()
    }
}

impl Default for Audit {
    fn default() -> Self {
        Audit::new(AuditLog::tracing())
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn cut(text: &str) -> String {
    if text.len() <= MAX_RESOURCE {
        return text.to_owned();
    }
    format!("{}…", &text[..text.floor_char_boundary(MAX_RESOURCE)])
}

impl Audit {
    pub(crate) fn new(log: AuditLog) -> Self {
        Audit { log, budgets: Arc::default(), recent: Arc::default() }
    }

    /// The underlying log (for `airssys-osl` pipelines that audit into it).
    pub(crate) fn log(&self) -> &AuditLog {
        &self.log
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
        let record = AuditRecord {
            time_ms: now_ms(),
            op_id: 0,
            principal: cut(component),
            operation,
            action,
            resource: cut(resource),
            decision,
            rule: rule.into(),
        };
        {
            let mut recent = crate::sync::lock(&self.recent);
            if recent.records.len() == RECENT_RECORDS {
                recent.records.pop_front();
            }
            recent.last_seq += 1;
            let seq = recent.last_seq;
            recent.records.push_back((seq, record.clone()));
        }
        self.log.record_event(record);
    }

    /// The records kept (the last few hundred) numbered after `seq`, oldest first, with
    /// their numbers: a reader passes the last number it saw to get only what is new.
    pub(crate) fn since(&self, seq: u64) -> Vec<(u64, AuditRecord)> {
        let recent = crate::sync::lock(&self.recent);
        recent.records.iter().filter(|(n, _)| *n > seq).cloned().collect()
    }

    /// Every refusal so far, recorded or not, by component and operation, in that order.
    pub(crate) fn denials(&self) -> Vec<(String, &'static str, u64)> {
        let budgets = crate::sync::lock(&self.budgets);
        let mut all: Vec<_> = budgets
            .iter()
            .flat_map(|(c, b)| b.denied.iter().map(|(op, n)| (c.clone(), *op, *n)))
            .collect();
        all.sort();
        all
    }

    /// Record a lifecycle event of a component (`crash`, `restart`).
    pub(crate) fn lifecycle(
        &self,
        component: &str,
        operation: &'static str,
        decision: &'static str,
        reason: impl Into<String>,
    ) {
        self.event(component, operation, Action::Lifecycle, component, decision, reason);
    }

    /// Record a refusal, within the component's audit budget; false when the budget was
    /// spent (the refusal is counted, and the count goes into the next record).
    pub(crate) fn denial(
        &self,
        component: &str,
        operation: &'static str,
        action: Action,
        resource: &str,
        rule: &str,
    ) -> bool {
        let suppressed = {
            let mut budgets = crate::sync::lock(&self.budgets);
            let now = Instant::now();
            let budget = budgets.entry(component.to_owned()).or_insert(Budget {
                tokens: DENIAL_BURST,
                last: now,
                suppressed: 0,
                denied: HashMap::new(),
            });
            *budget.denied.entry(operation).or_default() += 1;
            let elapsed = now.saturating_duration_since(budget.last).as_secs_f64();
            budget.last = now;
            budget.tokens = (budget.tokens + elapsed * DENIALS_PER_SECOND).min(DENIAL_BURST);
            if budget.tokens < 1.0 {
                budget.suppressed += 1;
                return false;
            }
            budget.tokens -= 1.0;
            std::mem::take(&mut budget.suppressed)
        };
        let rule = if suppressed == 0 {
            rule.to_owned()
        } else {
            format!("{rule} ({suppressed} earlier refusals of this component not recorded)")
        };
        self.event(component, operation, action, resource, "deny", rule);
        true
    }
}
