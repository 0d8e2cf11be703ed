//! `/metrics`, parsed by a Prometheus text-format parser: the series a scrape expects, with
//! the values the host's components produced.

use airssys_observer::Observer;
use prometheus_parse::{Scrape, Value};

use crate::util::*;

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_count_messages_traps_denials_and_calls() {
    let host = host().await;
    let observer = Observer::new(host.clone()).start().await.unwrap();
    for _ in 0..5 {
        host.call("echo/0", raw("hi"), T).await.unwrap();
    }
    // A refusal (worker may send to nobody) and a CPU budget trap.
    let refused = host.call("worker", raw("send:echo:hello"), T).await.unwrap();
    assert!(String::from_utf8_lossy(&refused.unwrap().bytes).starts_with("error"));
    host.send("worker", raw("spin")).unwrap();
    // Positive signal that the crash happened: the restarted worker answers, once restarted.
    loop {
        if host.restarts("worker") == Some(1) && host.call("worker", raw("x"), T).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, body) =
        http(observer.local_addr(), "GET", "/metrics", Some(observer.token()), None).await;
    assert_eq!(status, 200);
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    let handled =
        value(&scrape, "airssys_component_messages_handled_total", &[("component", "echo/0")]);
    assert_eq!(handled, Some(5.0), "{body}");
    assert_eq!(value(&scrape, "airssys_host_components", &[]), Some(3.0));
    assert_eq!(value(&scrape, "airssys_host_dead_letters_total", &[]), Some(1.0), "the spin");
    assert_eq!(value(&scrape, "airssys_host_traps_total", &[]), Some(1.0));
    assert_eq!(value(&scrape, "airssys_host_denials_total", &[]), Some(1.0));
    assert_eq!(value(&scrape, "airssys_component_up", &[("component", "worker")]), Some(1.0));
    assert_eq!(
        value(&scrape, "airssys_component_restarts_total", &[("component", "worker")]),
        Some(1.0)
    );
    let cpu = [("component", "worker"), ("cause", "cpu_budget")];
    assert_eq!(value(&scrape, "airssys_component_traps_total", &cpu), Some(1.0), "{body}");
    let denied = [("component", "worker"), ("operation", "send")];
    assert_eq!(value(&scrape, "airssys_component_denials_total", &denied), Some(1.0), "{body}");
    // Histograms: the parser reads the buckets; the count is the `+Inf` bucket.
    let handler =
        value(&scrape, "airssys_component_handler_duration_seconds", &[("component", "echo/0")]);
    assert_eq!(handler, Some(5.0), "five handled messages timed: {body}");
    let calls = value(&scrape, "airssys_host_call_duration_seconds", &[]);
    assert!(calls.is_some_and(|n| n >= 7.0), "the host's calls timed: {calls:?}");
    let mailbox = value(&scrape, "airssys_component_mailbox_messages", &[("component", "echo/1")]);
    assert_eq!(mailbox, Some(0.0));
    // Every family has its type: histograms have their _sum and _count.
    assert!(body.contains("# TYPE airssys_component_handler_duration_seconds histogram"));
    assert!(
        body.contains("airssys_component_handler_duration_seconds_count{component=\"echo/0\"} 5")
    );
    observer.stop().await;
    host.shutdown(T).await;
}
