//! The host's spans (`airssys_wasm::spans`) as OpenTelemetry traces: each becomes an
//! OpenTelemetry span with the same trace id, span id and parent, so that a trace follows a
//! request from the host through every component it reaches; exported over OTLP (HTTP,
//! protobuf) by the OpenTelemetry SDK's batch processor, on its own thread.
//!
//! Spans: `call` and `send` (the host's own: a client and a producer span, roots of their
//! traces) and `handle-message` (a server span per message a component handled, a child of
//! the span that sent it), and the spans a guest opens itself (internal). Attributes:
//! `airssys.component`, `airssys.peer`. What a guest logs through the `logging` interface
//! while its handler runs becomes an event of its innermost open span (its level and fields
//! as attributes); a line with the field `span.start` or `span.end` opens or closes a span
//! of the guest's own (`airssys_wasm::spans`).

use std::time::Duration;

use airssys_wasm::spans::{SpanRecord, SpanSink};
use opentelemetry::trace::{
    Event, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags,
    TraceId, TraceState, Tracer, TracerProvider,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// A [`SpanSink`] that turns spans into OpenTelemetry spans of a tracer provider.
#[derive(Debug)]
pub struct OtelSpans {
    tracer: SdkTracer,
}

impl OtelSpans {
    /// Spans into `provider` (which exports them as it is configured to).
    pub fn new(provider: &SdkTracerProvider) -> Self {
        OtelSpans { tracer: provider.tracer("airssys") }
    }
}

/// Why OTLP export could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot export traces over OTLP to {endpoint}: {source}")]
pub struct OtlpError {
    endpoint: String,
    #[source]
    source: opentelemetry_otlp::ExporterBuildError,
}

/// A tracer provider that exports over OTLP/HTTP (protobuf) to `endpoint` (a collector's
/// base address, such as `http://127.0.0.1:4318`: spans go to its `/v1/traces`), in
/// batches, as service `airssys`. Shut it down at exit to send what is left.
///
/// # Errors
///
/// The exporter could not be built (an invalid endpoint, say).
pub fn otlp(endpoint: &str) -> Result<SdkTracerProvider, OtlpError> {
    use opentelemetry_otlp::WithExportConfig;
    let base = endpoint.trim_end_matches('/');
    let url =
        if base.ends_with("/v1/traces") { base.to_owned() } else { format!("{base}/v1/traces") };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|source| OtlpError { endpoint: endpoint.to_owned(), source })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("airssys").build())
        .build())
}

impl SpanSink for OtelSpans {
    fn record(&self, span: SpanRecord) {
        let trace_id = TraceId::from_bytes(span.context.trace_id);
        let parent = match span.parent {
            Some(parent) => Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                SpanId::from_bytes(parent),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )),
            None => Context::new(),
        };
        // The host's own spans are the roots of their traces; a guest's own are internal.
        let kind = match (&*span.name, span.parent.is_some()) {
            ("call", false) => SpanKind::Client,
            ("send" | "publish", false) => SpanKind::Producer,
            ("request", false) => SpanKind::Client,
            ("handle-message", true) => SpanKind::Server,
            _ => SpanKind::Internal,
        };
        let events = span
            .events
            .into_iter()
            .map(|e| {
                let mut attributes = vec![KeyValue::new("level", e.level)];
                attributes.extend(e.fields.into_iter().map(|(k, v)| KeyValue::new(k, v)));
                Event::new(e.message, e.time, attributes, 0)
            })
            .collect();
        let mut builder = SpanBuilder::from_name(span.name)
            .with_kind(kind)
            .with_start_time(span.start)
            .with_attributes([
                KeyValue::new("airssys.component", span.component.to_string()),
                KeyValue::new("airssys.peer", span.peer.to_string()),
            ])
            .with_events(events);
        builder.trace_id = Some(trace_id);
        builder.span_id = Some(SpanId::from_bytes(span.context.span_id));
        if let Some(error) = span.error {
            builder.status = Status::error(error);
        }
        let mut otel = self.tracer.build_with_context(builder, &parent);
        opentelemetry::trace::Span::end_with_timestamp(&mut otel, span.end);
    }
}
