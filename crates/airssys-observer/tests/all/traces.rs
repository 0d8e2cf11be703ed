//! Traces over OTLP: a call chain across three components, exported by the OpenTelemetry
//! SDK to an in-process OTLP/HTTP collector, is one trace whose spans link up, with a span
//! the last guest opened itself (through `logging`) and what it logged in it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airssys_observer::otel::{OtelSpans, otlp};
use airssys_wasm::{ComponentSpec, Grants, Host, Source};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::util::*;

/// An OTLP/HTTP collector on loopback: keeps every span posted to `/v1/traces`.
async fn collector() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let kept = Arc::clone(&spans);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = Arc::clone(&kept);
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
                let mut kept = kept.lock().unwrap();
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        kept.extend(scope.spans);
                    }
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), spans)
}

fn attribute(span: &Span, key: &str) -> String {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_chain_across_three_components_is_one_linked_trace() {
    let (endpoint, collected) = collector().await;
    let provider = otlp(&endpoint).unwrap();
    let relay = |name: &str, target: &str| {
        ComponentSpec::new(name, Source::File(test_programs::RELAY.into()))
            .config("target", target)
            .grants(Grants::all_messaging())
    };
    let host = Host::builder()
        .audit(airssys_osl::AuditLog::memory())
        .spans(Arc::new(OtelSpans::new(&provider)))
        .component(relay("a", "b"))
        .component(relay("b", "c"))
        .component(ComponentSpec::new("c", Source::File(test_programs::MISBEHAVE.into())))
        .start()
        .await
        .unwrap();
    // host → a → b → c; c opens a span of its own, `work`, and logs in it.
    let answer = host.call("a", raw("call:call:span:work:deep"), T).await.unwrap();
    assert!(answer.is_some());
    // The SDK exports from its own thread; flushing it waits for the export.
    let flushed = tokio::task::spawn_blocking({
        let provider = provider.clone();
        move || provider.force_flush()
    });
    flushed.await.unwrap().unwrap();
    let deadline = Instant::now() + T;
    let spans = loop {
        let spans = collected.lock().unwrap().clone();
        if spans.len() >= 5 || Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let find = |name: &str, component: &str| {
        spans
            .iter()
            .find(|s| s.name == name && attribute(s, "airssys.component") == component)
            .unwrap_or_else(|| panic!("no {name} span of {component} in {spans:#?}"))
            .clone()
    };
    let call = find("call", "host");
    let (a, b, c) =
        (find("handle-message", "a"), find("handle-message", "b"), find("handle-message", "c"));
    for span in [&a, &b, &c] {
        assert_eq!(span.trace_id, call.trace_id, "one trace: {spans:#?}");
    }
    assert!(call.parent_span_id.is_empty(), "the host's call is the root");
    assert_eq!(a.parent_span_id, call.span_id, "a handled the host's call");
    assert_eq!(b.parent_span_id, a.span_id, "b handled a's call");
    assert_eq!(c.parent_span_id, b.span_id, "c handled b's call");
    assert_eq!(attribute(&c, "airssys.peer"), "b");
    // c's own span, inside its handler's, with what c logged in it as an event.
    let work = find("work", "c");
    assert_eq!(work.trace_id, call.trace_id);
    assert_eq!(work.parent_span_id, c.span_id, "opened inside c's handler");
    assert!(work.events.iter().any(|e| e.name == "deep"), "c's log line: {:#?}", work.events);
    assert!(!c.events.iter().any(|e| e.name == "deep"), "logged in work, not in the handler");
    assert!(c.start_time_unix_nano <= work.start_time_unix_nano);
    assert!(work.end_time_unix_nano <= c.end_time_unix_nano);
    // The spans nest in time: each handler ran within its caller's.
    assert!(call.start_time_unix_nano <= a.start_time_unix_nano);
    assert!(c.end_time_unix_nano <= b.end_time_unix_nano);
    assert!(b.end_time_unix_nano <= a.end_time_unix_nano);

    // A request's callback runs in a span of its own, a child of the span that made the
    // request; the host's call, b's handler and c's handler are one trace with it.
    let requested = host.call("b", raw("request:5000:x"), T).await.unwrap();
    assert!(String::from_utf8_lossy(&requested.unwrap().bytes).starts_with("requested"));
    let deadline = Instant::now() + T;
    let callback = loop {
        let flushed = tokio::task::spawn_blocking({
            let provider = provider.clone();
            move || provider.force_flush()
        });
        flushed.await.unwrap().unwrap();
        let found = collected.lock().unwrap().iter().find(|s| s.name == "handle-callback").cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no handle-callback span");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let spans = collected.lock().unwrap().clone();
    let requester = spans
        .iter()
        .find(|s| s.span_id == callback.parent_span_id)
        .expect("the span that made the request was exported");
    assert_eq!(requester.name, "handle-message");
    assert_eq!(attribute(requester, "airssys.component"), "b");
    assert_eq!(requester.trace_id, callback.trace_id);
    assert_eq!(attribute(&callback, "airssys.component"), "b");

    host.shutdown(T).await;
    tokio::task::spawn_blocking(move || provider.shutdown()).await.unwrap().unwrap();
}
