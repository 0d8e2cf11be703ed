//! Spans of a trace, as the host sees them: one for each message a component's handler was
//! given (`handle-message`) and each request outcome (`handle-callback`), and one for each
//! call, request, send or publish the host itself makes. Each
//! names its parent, so that one trace links the spans of a call chain across components;
//! what a handler sends carries the handler's own span as the parent (W3C Trace Context,
//! `trace.rs`).
//!
//! A guest adds spans of its own through the `logging` interface: a line with the field
//! `span.start` = NAME opens a span NAME inside the current one (what the guest sends
//! meanwhile carries it as the parent), `span.end` = NAME closes it (and any opened inside
//! it); the handler's end closes what is left open. Every other line it logs is an event of
//! the innermost open span (`SpanLog`, inside the host).
//!
//! The host hands finished spans to a [`SpanSink`] the embedder gives it
//! ([`HostBuilder::spans`](crate::HostBuilder::spans)): an OpenTelemetry exporter
//! (`airssys-observer`'s `otel` module), a file, a test. Without one, nothing is recorded
//! and nothing is spent on it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use crate::trace::TraceContext;

/// A finished span.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    /// What it was: `handle-message`, `handle-callback`, the host's own `call`, `request`,
    /// `send` or `publish`, or a name a guest gave a span of its own.
    pub name: Cow<'static, str>,
    /// Its trace and its own span id.
    pub context: TraceContext,
    /// The span that caused it (the sender's handler, the host's call, or for a guest's own
    /// span the span it was opened in), if any.
    pub parent: Option<[u8; 8]>,
    /// The component that ran it (`host` for the host's calls and sends).
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

/// The field of a log line that opens a guest's span, and the one that closes it.
pub const SPAN_START: &str = "span.start";
/// See [`SPAN_START`].
pub const SPAN_END: &str = "span.end";

/// How many spans of its own one handler may open, how deep they may nest, how many events a
/// span keeps, and how long a span's name may be: past these, lines are only logged.
const MAX_GUEST_SPANS: usize = 64;
const MAX_DEPTH: usize = 16;
const MAX_EVENTS: usize = 64;
const MAX_NAME: usize = 128;

/// A span a guest opened and has not closed.
struct OpenSpan {
    name: String,
    context: TraceContext,
    parent: [u8; 8],
    start: SystemTime,
    events: Vec<SpanEvent>,
}

/// What a guest logs while its handler's span is recorded: the handler span's events, the
/// guest's own spans (open, as a stack, and finished).
pub(crate) struct SpanLog {
    handler: TraceContext,
    events: Vec<SpanEvent>,
    open: Vec<OpenSpan>,
    finished: Vec<SpanRecord>,
    opened: usize,
}

impl SpanLog {
    /// A log for the handler running in span `handler`.
    pub(crate) fn new(handler: TraceContext) -> Self {
        SpanLog { handler, events: Vec::new(), open: Vec::new(), finished: Vec::new(), opened: 0 }
    }

    /// The span what the guest sends now belongs to: its innermost open span, or the
    /// handler's.
    pub(crate) fn current(&self) -> TraceContext {
        self.open.last().map_or(self.handler, |s| s.context)
    }

    /// Take in one log line of the guest's.
    pub(crate) fn line(&mut self, component: &Arc<str>, event: SpanEvent) {
        let field = |key: &str| event.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        if let Some(name) = field(SPAN_START) {
            if self.open.len() < MAX_DEPTH && self.opened < MAX_GUEST_SPANS {
                let parent = self.current();
                let name = name[..name.floor_char_boundary(MAX_NAME)].to_owned();
                self.opened += 1;
                self.open.push(OpenSpan {
                    name,
                    context: parent.child(),
                    parent: parent.span_id,
                    start: event.time,
                    events: Vec::new(),
                });
                return;
            }
        } else if let Some(at) =
            field(SPAN_END).and_then(|name| self.open.iter().rposition(|s| &s.name == name))
        {
            while self.open.len() > at {
                self.close(component, event.time);
            }
            return;
        }
        let events = self.open.last_mut().map_or(&mut self.events, |s| &mut s.events);
        if events.len() < MAX_EVENTS {
            events.push(event);
        }
    }

    /// Close the innermost open span at `end`.
    fn close(&mut self, component: &Arc<str>, end: SystemTime) {
        let Some(span) = self.open.pop() else { return };
        self.finished.push(SpanRecord {
            name: Cow::Owned(span.name),
            context: span.context,
            parent: Some(span.parent),
            component: Arc::clone(component),
            peer: Arc::clone(component),
            start: span.start,
            end,
            error: None,
            events: span.events,
        });
    }

    /// The handler ended: the spans left open close now; the handler span's events, and the
    /// guest's spans, innermost first.
    pub(crate) fn finish(mut self, component: &Arc<str>) -> (Vec<SpanEvent>, Vec<SpanRecord>) {
        let now = SystemTime::now();
        while !self.open.is_empty() {
            self.close(component, now);
        }
        (self.events, self.finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(fields: &[(&str, &str)]) -> SpanEvent {
        SpanEvent {
            time: SystemTime::now(),
            level: "info",
            message: "m".into(),
            fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn guest_spans_nest_and_close_with_their_names_or_at_the_end() {
        let handler = TraceContext::new_root();
        let me: Arc<str> = Arc::from("c");
        let mut log = SpanLog::new(handler);
        log.line(&me, line(&[]));
        log.line(&me, line(&[(SPAN_START, "outer")]));
        let outer = log.current();
        assert_ne!(outer.span_id, handler.span_id);
        assert_eq!(outer.trace_id, handler.trace_id);
        log.line(&me, line(&[(SPAN_START, "inner")]));
        log.line(&me, line(&[("k", "v")]));
        // Closing the outer closes the inner too.
        log.line(&me, line(&[(SPAN_END, "outer")]));
        assert_eq!(log.current(), handler);
        log.line(&me, line(&[(SPAN_START, "left-open")]));
        // An end of a span that is not open is only a line.
        log.line(&me, line(&[(SPAN_END, "nothing")]));
        let (events, spans) = log.finish(&me);
        assert_eq!(events.len(), 1, "the first line is the handler's");
        let names: Vec<&str> = spans.iter().map(|s| &*s.name).collect();
        assert_eq!(names, ["inner", "outer", "left-open"]);
        assert_eq!(spans[0].parent, Some(spans[1].context.span_id));
        assert_eq!(spans[1].parent, Some(handler.span_id));
        assert_eq!(spans[0].events.len(), 1);
        assert_eq!(spans[2].events.len(), 1, "the unmatched end is an event of the open span");
    }
}
