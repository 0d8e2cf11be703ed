//! What an open page is sent at each refresh: the host's components with their vital signs,
//! the message rates between them, the last dead letters and the new audit records.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use airssys_wasm::{ComponentState, Host};
use serde::Serialize;

/// The most components one snapshot lists (in address order); the rest are counted only.
pub(crate) const MAX_LISTED: usize = 1000;

/// How many of the last dead letters a snapshot carries.
const DEAD_LETTERS_SHOWN: usize = 20;

/// One refresh of the page.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// When it was taken, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Components (and pool members) the host runs, in all.
    pub total: usize,
    /// The first 1,000 of them, in start order.
    pub components: Vec<ComponentView>,
    /// Messages, requests and calls between components, by sender and target.
    pub traffic: Vec<Traffic>,
    /// Messages that crashed their handler since the host started.
    pub dead_letter_count: u64,
    /// The last of them, newest last.
    pub dead_letters: Vec<DeadLetterView>,
    /// Audit records new since the last snapshot of this stream (or the ones kept, for
    /// the first), oldest first.
    pub audit: Vec<AuditView>,
}

/// One component or pool member.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentView {
    /// Its address.
    pub address: Arc<str>,
    /// The component it belongs to (its pool, or itself).
    pub component: String,
    /// `running`, `restarting`, `stopped` or `failed`.
    pub state: &'static str,
    /// Its incarnation: 1 for the first instance, one more at each restart.
    pub incarnation: u32,
    /// Restarts by its supervisor.
    pub restarts: u32,
    /// Messages in its mailbox.
    pub mailbox: usize,
    /// Messages handled, in all.
    pub handled: u64,
    /// Messages handled per second since the last snapshot.
    pub per_second: f64,
    /// Bytes of linear memory of its live instance.
    pub memory_bytes: usize,
    /// The version of its code.
    pub version: Arc<str>,
    /// Traps by cause (`cpu_budget`, `fuel`, `memory`, `stack`, `other`).
    pub traps: HashMap<&'static str, u64>,
    /// Its last crash.
    pub last_crash: Option<CrashView>,
    /// Requests it waits on.
    pub pending_requests: usize,
    /// Output lines dropped over its budget.
    pub output_dropped: u64,
    /// Mean handler time, in microseconds (0 before its first message).
    pub handler_mean_us: f64,
}

/// A component's last crash.
#[derive(Debug, Clone, Serialize)]
pub struct CrashView {
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The export that trapped.
    pub export: &'static str,
    /// The trap.
    pub reason: String,
}

/// Messages from one component to another.
#[derive(Debug, Clone, Serialize)]
pub struct Traffic {
    /// The sender's address.
    pub from: Arc<str>,
    /// The target, as the sender named it.
    pub to: Arc<str>,
    /// Messages, requests and calls, in all.
    pub count: u64,
    /// Per second since the last snapshot.
    pub per_second: f64,
}

/// A dead letter, without its bytes.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterView {
    /// The component whose handler crashed on it.
    pub component: Arc<str>,
    /// Its sender.
    pub sender: Arc<str>,
    /// Its size.
    pub bytes: usize,
    /// The crash.
    pub reason: String,
}

/// An audit record.
#[derive(Debug, Clone, Serialize)]
pub struct AuditView {
    /// Its number (increasing).
    pub seq: u64,
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The component (or `host`).
    pub principal: String,
    /// The operation.
    pub operation: &'static str,
    /// `allow`, `deny`, `grant`, `crash`, `restart`, ...
    pub decision: &'static str,
    /// What it was about.
    pub resource: String,
    /// The rule or reason.
    pub rule: String,
}

/// What a stream remembers between snapshots to turn counts into rates.
#[derive(Debug, Default)]
pub(crate) struct Previous {
    at: Option<Instant>,
    handled: HashMap<Arc<str>, u64>,
    sent: HashMap<(Arc<str>, Arc<str>), u64>,
    audit_seq: u64,
}

fn state_name(state: ComponentState) -> &'static str {
    match state {
        ComponentState::Running => "running",
        ComponentState::Restarting => "restarting",
        ComponentState::Stopped => "stopped",
        ComponentState::Failed => "failed",
        _ => "unknown",
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The component an address belongs to: a pool member's pool (`workers/3` → `workers`).
pub(crate) fn component_of(address: &str) -> &str {
    match address.rsplit_once('/') {
        Some((pool, member)) if member.bytes().all(|b| b.is_ascii_digit()) => pool,
        _ => address,
    }
}

impl Snapshot {
    /// A snapshot of `host`, with rates since `previous` (updated for the next one).
    pub(crate) async fn take(host: &Host, previous: &mut Previous) -> Snapshot {
        let now = Instant::now();
        let elapsed = previous.at.map(|at| now.duration_since(at).as_secs_f64());
        let rate = |now: u64, before: Option<u64>| match (elapsed, before) {
            (Some(dt), Some(before)) if dt > 0.0 => now.saturating_sub(before) as f64 / dt,
            _ => 0.0,
        };
        let infos = host.components().await;
        let vitals: HashMap<Arc<str>, _> = host.vitals().into_iter().collect();
        let total = infos.len();
        let mut handled = HashMap::with_capacity(infos.len().min(MAX_LISTED));
        let mut components = Vec::with_capacity(infos.len().min(MAX_LISTED));
        for info in infos.into_iter().take(MAX_LISTED) {
            let v = vitals.get(&info.address);
            let traps: HashMap<&'static str, u64> = v
                .map(|v| v.traps.iter().map(|(c, n)| (c.as_str(), *n)).collect())
                .unwrap_or_default();
            let handler = v.map(|v| v.handler).unwrap_or_default();
            let count = handler.count();
            components.push(ComponentView {
                component: component_of(&info.address).to_owned(),
                state: state_name(info.state),
                incarnation: info.restarts + 1,
                restarts: info.restarts,
                mailbox: info.mailbox_len,
                handled: info.handled,
                per_second: rate(info.handled, previous.handled.get(&info.address).copied()),
                memory_bytes: info.memory_bytes,
                version: info.version,
                last_crash: v.and_then(|v| v.last_crash.as_ref()).map(|c| CrashView {
                    time_ms: c.time_ms,
                    export: c.export,
                    reason: c.reason.clone(),
                }),
                pending_requests: v.map_or(0, |v| v.pending_requests),
                output_dropped: info.output_dropped,
                handler_mean_us: if count == 0 {
                    0.0
                } else {
                    handler.sum_seconds * 1e6 / count as f64
                },
                traps,
                address: Arc::clone(&info.address),
            });
            handled.insert(info.address, info.handled);
        }
        let mut sent = HashMap::new();
        let mut traffic = Vec::new();
        for (from, v) in &vitals {
            for (to, count) in &v.sent {
                let key = (Arc::clone(from), Arc::clone(to));
                traffic.push(Traffic {
                    from: Arc::clone(from),
                    to: Arc::clone(to),
                    count: *count,
                    per_second: rate(*count, previous.sent.get(&key).copied()),
                });
                sent.insert(key, *count);
            }
        }
        traffic.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        let (letters, dead_letter_count) = host.recent_dead_letters(DEAD_LETTERS_SHOWN);
        let dead_letters = letters
            .into_iter()
            .map(|l| DeadLetterView {
                component: l.component,
                sender: l.sender,
                bytes: l.size,
                reason: l.reason,
            })
            .collect();
        let audit: Vec<AuditView> = host
            .audit_since(previous.audit_seq)
            .into_iter()
            .map(|(seq, r)| AuditView {
                seq,
                time_ms: r.time_ms,
                principal: r.principal,
                operation: r.operation,
                decision: r.decision,
                resource: r.resource,
                rule: r.rule,
            })
            .collect();
        if let Some(last) = audit.last() {
            previous.audit_seq = last.seq;
        }
        previous.at = Some(now);
        previous.handled = handled;
        previous.sent = sent;
        Snapshot {
            time_ms: now_ms(),
            total,
            components,
            traffic,
            dead_letter_count,
            dead_letters,
            audit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_member_belongs_to_its_pool() {
        assert_eq!(component_of("workers/3"), "workers");
        assert_eq!(component_of("echo"), "echo");
        assert_eq!(component_of("a/b"), "a/b");
    }
}
