//! What a live observer and a metrics scrape read from a host: each address's vital signs,
//! its grants, configuration and last output lines, its storage use, the audit records as
//! they come, and the refusals by kind. Reading never takes a lock the message path waits on
//! for longer than a copy.

use std::sync::Arc;

use airssys_osl::AuditRecord;

use super::Host;
use super::spec::ComponentSpec;
use crate::vitals::{ComponentVitals, HistogramSnapshot};

/// What a component is allowed and configured with, and what it last wrote, as an observer
/// shows it ([`Host::describe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComponentDescription {
    /// The component's name (a pool member's pool).
    pub name: Arc<str>,
    /// Its grants, one line each (`send: b, c`), in a fixed order; only those it has.
    pub grants: Vec<String>,
    /// Its configuration, in the order given.
    pub config: Vec<(String, String)>,
    /// Its last lines of output, oldest first, each after its stream or level (`stdout: `).
    pub recent_output: Vec<String>,
    /// Bytes and keys it stores, when it has storage.
    pub storage: Option<crate::storage::Usage>,
    /// Its storage quota, when it has storage.
    pub storage_quota: Option<crate::storage::Quota>,
}

impl Host {
    /// The vital signs of every component and pool member, in address order.
    pub fn vitals(&self) -> Vec<(Arc<str>, ComponentVitals)> {
        let mut all: Vec<_> = self
            .lock_components()
            .values()
            .flat_map(|p| p.vitals.iter().map(|(a, v)| (Arc::clone(a), Arc::clone(v))))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter().map(|(a, v)| (a, v.snapshot())).collect()
    }

    /// Round trips of the calls made from the host itself ([`Host::call`]).
    pub fn host_calls(&self) -> HistogramSnapshot {
        self.parts.host_calls.snapshot()
    }

    /// A component's (or pool member's) grants, configuration, last output lines and
    /// storage use; `None` for an address the host does not run.
    pub async fn describe(&self, address: &str) -> Option<ComponentDescription> {
        let (name, spec, output) = {
            let components = self.lock_components();
            components.values().find_map(|p| {
                let output = p.output.get(address)?;
                Some((Arc::clone(&p.name), p.spec.clone(), Arc::clone(output)))
            })?
        };
        let storage = match (&spec.storage, self.storage()) {
            (Some(_), Some(store)) => store.usage(&name).await.ok(),
            _ => None,
        };
        Some(ComponentDescription {
            grants: grant_lines(&spec),
            config: spec.config.clone(),
            recent_output: output.recent(),
            storage,
            storage_quota: spec.storage,
            name,
        })
    }

    /// What each component with storage stores, by component name (a pool's members share
    /// theirs), in name order; a store that cannot be read leaves its component out.
    pub async fn storage_usage(&self) -> Vec<(Arc<str>, crate::storage::Usage)> {
        let Some(store) = self.storage() else { return Vec::new() };
        let mut names: Vec<Arc<str>> = self
            .lock_components()
            .values()
            .filter(|p| p.spec.storage.is_some())
            .map(|p| Arc::clone(&p.name))
            .collect();
        names.sort();
        let mut usage = Vec::with_capacity(names.len());
        for name in names {
            if let Ok(u) = store.usage(&name).await {
                usage.push((name, u));
            }
        }
        usage
    }

    /// The last `n` dead letters, oldest first, without their bytes; and how many messages
    /// crashed their handler since the host started (the log keeps the last 1024).
    pub fn recent_dead_letters(&self, n: usize) -> (Vec<crate::actor::DeadLetterSummary>, u64) {
        self.parts.dead_letters.recent(n)
    }

    /// The audit records the host made after number `seq` (it keeps the last few hundred),
    /// oldest first, each with its number: pass the last number seen to get what is new.
    pub fn audit_since(&self, seq: u64) -> Vec<(u64, AuditRecord)> {
        self.parts.router.audit.since(seq)
    }

    /// Every refusal so far, by component and operation (`send`, `file-open`, ...), with
    /// those over a component's audit budget counted too.
    pub fn denials(&self) -> Vec<(String, &'static str, u64)> {
        self.parts.router.audit.denials()
    }
}

/// A spec's grants as lines of text, only those it has.
fn grant_lines(spec: &ComponentSpec) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = |what: &str, items: &[String]| {
        if !items.is_empty() {
            lines.push(format!("{what}: {}", items.join(", ")));
        }
    };
    let g = &spec.grants;
    line("send", &g.send);
    line("request", &g.request);
    if let Some(from) = &g.accept_from {
        line("accept-from", if from.is_empty() { &[] } else { from });
    }
    line("publish", &g.publish);
    line("subscribe", &g.subscribe);
    line("link", &g.link);
    let w = &spec.wasi;
    let env: Vec<String> = w.env.iter().map(|(k, _)| k.clone()).collect();
    line("env", &env);
    let dirs: Vec<String> = w
        .dirs
        .iter()
        .map(|(host, guest, writable)| {
            format!("{} as {guest}{}", host.display(), if *writable { " (writable)" } else { "" })
        })
        .collect();
    line("dirs", &dirs);
    line("connect", &w.connect);
    line("listen", &w.listen);
    line("udp", &w.udp);
    let commands: Vec<String> = spec
        .commands
        .iter()
        .map(|c| std::iter::once(c.command.as_str()).chain(c.args.iter().map(String::as_str)))
        .map(|words| words.collect::<Vec<_>>().join(" "))
        .collect();
    line("run", &commands);
    if let Some(q) = spec.storage {
        lines.push(format!("storage: {} bytes, {} keys", q.bytes, q.keys));
    }
    lines
}
