//! `/metrics`: the host's counters in the Prometheus text exposition format (version
//! 0.0.4), read at each scrape from what the host keeps anyway.
//!
//! Written here rather than through a metrics registry: every value is read from the host
//! at scrape time (nothing is registered or updated by the observer), and the format is a
//! few lines; the tests parse the output with a Prometheus text-format parser.

use std::fmt::Write as _;

use airssys_wasm::vitals::{DURATION_BUCKETS, HistogramSnapshot};
use airssys_wasm::{ComponentState, Host};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value, escaped as the format requires (backslash, double quote, newline).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let cumulative = h.cumulative();
        let bucket = format!("{name}_bucket");
        for (bound, n) in DURATION_BUCKETS.iter().zip(cumulative) {
            let le = bound.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, n);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, cumulative[DURATION_BUCKETS.len()]);
        self.sample(&format!("{name}_sum"), labels, h.sum_seconds);
        self.sample(&format!("{name}_count"), labels, h.count());
    }
}

/// Every metric of `host`, as the text exposition format. `docs/observability.md` lists
/// them.
pub async fn render(host: &Host) -> String {
    let infos = host.components().await;
    let vitals = host.vitals();
    let mut t = Text(String::with_capacity(256 + infos.len() * 1024));

    t.family("airssys_host_components", "gauge", "Components and pool members the host runs.");
    t.sample("airssys_host_components", &[], infos.len());
    t.family(
        "airssys_host_dead_letters_total",
        "counter",
        "Messages that crashed their handler (dead letters), since the host started.",
    );
    t.sample("airssys_host_dead_letters_total", &[], host.recent_dead_letters(0).1);
    t.family(
        "airssys_host_messages_handled_total",
        "counter",
        "Messages and callbacks the components' handlers were given, in all.",
    );
    t.sample(
        "airssys_host_messages_handled_total",
        &[],
        infos.iter().map(|i| i.handled).sum::<u64>(),
    );
    t.family("airssys_host_traps_total", "counter", "Traps of the components' exports, in all.");
    let traps: u64 = vitals.iter().flat_map(|(_, v)| v.traps.iter().map(|(_, n)| n)).sum();
    t.sample("airssys_host_traps_total", &[], traps);
    let denials = host.denials();
    t.family("airssys_host_denials_total", "counter", "Refusals of the components, in all.");
    t.sample("airssys_host_denials_total", &[], denials.iter().map(|d| d.2).sum::<u64>());
    t.family("airssys_host_memory_bytes", "gauge", "Linear memory of all live instances.");
    t.sample("airssys_host_memory_bytes", &[], infos.iter().map(|i| i.memory_bytes).sum::<usize>());
    t.family(
        "airssys_host_call_duration_seconds",
        "histogram",
        "Round trips of calls made from the host itself.",
    );
    t.histogram("airssys_host_call_duration_seconds", &[], &host.host_calls());

    t.family("airssys_component_up", "gauge", "1 while the component has a live instance.");
    for i in &infos {
        let up = u8::from(i.state == ComponentState::Running);
        t.sample("airssys_component_up", &[("component", &i.address)], up);
    }
    t.family(
        "airssys_component_messages_handled_total",
        "counter",
        "Messages the component handled, across restarts.",
    );
    for i in &infos {
        t.sample(
            "airssys_component_messages_handled_total",
            &[("component", &i.address)],
            i.handled,
        );
    }
    t.family("airssys_component_mailbox_messages", "gauge", "Messages waiting in its mailbox.");
    for i in &infos {
        t.sample("airssys_component_mailbox_messages", &[("component", &i.address)], i.mailbox_len);
    }
    t.family("airssys_component_restarts_total", "counter", "Restarts by its supervisor.");
    for i in &infos {
        t.sample("airssys_component_restarts_total", &[("component", &i.address)], i.restarts);
    }
    t.family("airssys_component_memory_bytes", "gauge", "Linear memory of its live instance.");
    for i in &infos {
        t.sample("airssys_component_memory_bytes", &[("component", &i.address)], i.memory_bytes);
    }
    t.family(
        "airssys_component_output_dropped_lines_total",
        "counter",
        "Lines of its output dropped over its output budget.",
    );
    for i in &infos {
        let name = "airssys_component_output_dropped_lines_total";
        t.sample(name, &[("component", &i.address)], i.output_dropped);
    }

    t.family("airssys_component_traps_total", "counter", "Traps of its exports, by cause.");
    for (address, v) in &vitals {
        for (cause, n) in &v.traps {
            let labels = [("component", &**address), ("cause", cause.as_str())];
            t.sample("airssys_component_traps_total", &labels, n);
        }
    }
    t.family(
        "airssys_component_pending_requests",
        "gauge",
        "Requests its live instance made that are not answered yet.",
    );
    for (address, v) in &vitals {
        t.sample(
            "airssys_component_pending_requests",
            &[("component", address)],
            v.pending_requests,
        );
    }
    t.family(
        "airssys_component_messages_sent_total",
        "counter",
        "Messages, requests and calls it sent, by target.",
    );
    for (address, v) in &vitals {
        for (target, n) in &v.sent {
            let labels = [("component", &**address), ("target", &**target)];
            t.sample("airssys_component_messages_sent_total", &labels, n);
        }
    }
    t.family(
        "airssys_component_handler_duration_seconds",
        "histogram",
        "Time its handle-message took, per message.",
    );
    for (address, v) in &vitals {
        let name = "airssys_component_handler_duration_seconds";
        t.histogram(name, &[("component", address)], &v.handler);
    }
    t.family(
        "airssys_component_call_duration_seconds",
        "histogram",
        "Round trips of the calls it made.",
    );
    for (address, v) in vitals.iter().filter(|(_, v)| v.calls.count() > 0) {
        t.histogram("airssys_component_call_duration_seconds", &[("component", address)], &v.calls);
    }

    t.family(
        "airssys_component_denials_total",
        "counter",
        "Refusals of its requests (capabilities not granted, limits), by operation.",
    );
    for (component, operation, n) in denials {
        let labels = [("component", component.as_str()), ("operation", operation)];
        t.sample("airssys_component_denials_total", &labels, n);
    }
    t.family("airssys_component_storage_bytes", "gauge", "Bytes of keys and values it stores.");
    let usage = host.storage_usage().await;
    for (name, u) in &usage {
        t.sample("airssys_component_storage_bytes", &[("component", name)], u.bytes);
    }
    t.family("airssys_component_storage_keys", "gauge", "Keys it stores.");
    for (name, u) in &usage {
        t.sample("airssys_component_storage_keys", &[("component", name)], u.keys);
    }
    t.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
