//! The contract versions the host serves: components built against `airssys:component@0.1.0`
//! run unchanged beside 0.2.0 ones; what 0.2.0 adds (a true correlation, trace context).

use airssys_wasm::{Host, inspect};

use crate::util::{T, guest, raw, recorded, relay, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_1_0_component_runs_beside_a_0_2_0_one() {
    let old = std::fs::read(test_programs::LEGACY_ECHO).unwrap();
    let new = std::fs::read(test_programs::ECHO).unwrap();
    assert_eq!(inspect::inspect(&old, None).unwrap().contract, Some("0.1.0"));
    assert_eq!(inspect::inspect(&new, None).unwrap().contract, Some("0.2.0"));

    let host = Host::builder()
        .component(
            guest("old", test_programs::LEGACY_ECHO).grants(airssys_wasm::Grants::all_messaging()),
        )
        .component(guest("new", test_programs::ECHO))
        .component(relay("relay").config("target", "old"))
        .start()
        .await
        .unwrap();
    // The host talks to both.
    assert_eq!(text(host.call("old", raw("hello"), T).await.unwrap()), "hello");
    assert_eq!(text(host.call("new", raw("hello"), T).await.unwrap()), "hello");
    assert_eq!(text(host.call("old", raw("whoami"), T).await.unwrap()), "host");
    // An old component calls a new one, and a new one calls an old one.
    assert_eq!(text(host.call("old", raw("call:new:from old"), T).await.unwrap()), "from old");
    assert_eq!(text(host.call("relay", raw("call:from new"), T).await.unwrap()), "from new");
    assert_eq!(text(host.call("old", raw("call:relay:whoami"), T).await.unwrap()), "old");
}

async fn asker_and_answerer() -> Host {
    Host::builder()
        .component(relay("asker").config("target", "answerer"))
        .component(relay("answerer"))
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_sees_the_requesters_real_correlation() {
    let host = asker_and_answerer().await;
    for tag in ["a", "b", "c"] {
        let requested =
            text(host.call("asker", raw(&format!("req:1000:{tag}:correlation")), T).await.unwrap());
        let id = requested.strip_prefix("requested ").expect("an id").to_owned();
        let outcome = recorded(&host, "asker", "take", 1).await;
        // The answerer saw the id the asker's `handle-callback` gets.
        assert_eq!(outcome, [format!("{tag} ok:{id}")]);
    }
    // A plain send carries none; the host's own calls have ids, each its own.
    let one = text(host.call("answerer", raw("correlation"), T).await.unwrap());
    let two = text(host.call("answerer", raw("correlation"), T).await.unwrap());
    assert_ne!(one, "none");
    assert_ne!(one, two);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_follows_what_a_handler_sends() {
    let host = asker_and_answerer().await;
    // A call from the host starts a trace.
    let answer = text(host.call("asker", raw("request-trace:1000"), T).await.unwrap());
    let mine = answer.split(' ').nth(2).expect("the asker's trace").to_owned();
    let parent = airssys_wasm::trace::TraceContext::from_traceparent(&mine).unwrap();
    // The request the asker made while handling it carries the same trace, in a span of its
    // own.
    let outcome = recorded(&host, "asker", "take", 1).await;
    let theirs = outcome[0].strip_prefix("trace ok:").expect("the answerer's trace");
    let child = airssys_wasm::trace::TraceContext::from_traceparent(theirs).unwrap();
    assert_eq!(child.trace_id, parent.trace_id);
    assert_ne!(child.span_id, parent.span_id);
    // Two calls from the host are two traces.
    let again = text(host.call("asker", raw("trace"), T).await.unwrap());
    let other = airssys_wasm::trace::TraceContext::from_traceparent(&again).unwrap();
    assert_ne!(other.trace_id, parent.trace_id);
}
