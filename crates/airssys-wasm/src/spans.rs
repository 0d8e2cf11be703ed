//! Spans of a trace, as the host sees them: one for each message a component's handler was
//! given (`handle-message`), and one for each call the host itself makes (`call`). Each
//! names its parent, so that one trace links the spans of a call chain across components;
//! what a handler sends carries the handler's own span as the parent (W3C Trace Context,
//! `trace.rs`).
//!
//! The host hands finished spans to a [`SpanSink`] the embedder gives it
//! ([`HostBuilder::spans`](crate::HostBuilder::spans)): an OpenTelemetry exporter
//! (`airssys-observer`'s `otel` module), a file, a test. Without one, nothing is recorded
//! and nothing is spent on it.

use std::sync::Arc;
use std::time::SystemTime;

use crate::trace::TraceContext;

/// A finished span.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    /// What it was: `handle-message`, or the host's own `call` or `send`.
    pub name: &'static str,
    /// Its trace and its own span id.
    pub context: TraceContext,
    /// The span that caused it (the sender's handler, or the host's call), if any.
    pub parent: Option<[u8; 8]>,
    /// The component that ran it (`host` for the host's calls).
    pub component: Arc<str>,
    /// Who sent the message (for a handler), or whom the host called.
    pub peer: Arc<str>,
    /// When it started.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// Why it failed (a trap, a handler's error, a refused call), if it did.
    pub error: Option<String>,
    /// What the guest logged meanwhile (the `logging` interface), in order.
    pub events: Vec<SpanEvent>,
}

/// A line a guest logged while its handler ran: an event of the handler's span.
#[derive(Debug, Clone)]
pub struct SpanEvent {
    /// When.
    pub time: SystemTime,
    /// Its level (`info`, ...).
    pub level: &'static str,
    /// The message.
    pub message: String,
    /// Its fields.
    pub fields: Vec<(String, String)>,
}

/// Where finished spans go. Called on the component's own thread, once per span: it must
/// not block (queue the span; export elsewhere).
pub trait SpanSink: Send + Sync + 'static {
    /// Take one finished span.
    fn record(&self, span: SpanRecord);
}

impl std::fmt::Debug for dyn SpanSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpanSink")
    }
}
