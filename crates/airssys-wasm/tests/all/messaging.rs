//! Messages between the host and components, and between components.

use std::time::Duration;

use airssys_wasm::{Host, Payload, RequestError, SendError, codec};

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_call_reaches_the_guest_and_returns_its_response() {
    let host = Host::builder().component(guest("echo", test_programs::ECHO)).start().await.unwrap();
    let answer = host.call("echo", raw("hello"), T).await.unwrap();
    assert_eq!(answer, Some(raw("hello")));
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_persists_across_messages_in_one_instance() {
    let host =
        Host::builder().component(guest("counter", test_programs::COUNTER)).start().await.unwrap();
    for n in 1..=5 {
        assert_eq!(text(host.call("counter", raw("tick"), T).await.unwrap()), n.to_string());
    }
    host.shutdown(T).await;
}

/// Component to component: `relay` calls `counter` and returns its answer; `counter`'s
/// handler really ran (its count moves).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_calls_component() {
    let host = Host::builder()
        .component(guest("counter", test_programs::COUNTER))
        .component(relay("relay").config("target", "counter"))
        .start()
        .await
        .unwrap();
    assert_eq!(text(host.call("relay", raw("call:x"), T).await.unwrap()), "1");
    assert_eq!(text(host.call("relay", raw("call:x"), T).await.unwrap()), "2");
    assert_eq!(text(host.call("counter", raw("x"), T).await.unwrap()), "3");
    host.shutdown(T).await;
}

/// `send` is delivered and handled by the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_sends_to_component() {
    let host = Host::builder()
        .component(guest("counter", test_programs::COUNTER))
        .component(relay("relay").config("target", "counter"))
        .start()
        .await
        .unwrap();
    assert_eq!(text(host.call("relay", raw("send:x"), T).await.unwrap()), "sent");
    assert_eq!(text(host.call("relay", raw("send:x"), T).await.unwrap()), "sent");
    // Per-sender FIFO: the relay's two sends were handled before this call from the host
    // only if they were queued first, which they were (each send returned before).
    assert_eq!(text(host.call("counter", raw("x"), T).await.unwrap()), "3");
    host.shutdown(T).await;
}

/// The host stamps the true sender on every message: the receiver sees `a` when `a` calls,
/// and `host` when the host calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_address_is_stamped_by_the_host() {
    let host = Host::builder()
        .component(relay("b"))
        .component(relay("a").config("target", "b"))
        .start()
        .await
        .unwrap();
    assert_eq!(text(host.call("a", raw("call:whoami"), T).await.unwrap()), "a");
    assert_eq!(text(host.call("b", raw("whoami"), T).await.unwrap()), "host");
    assert_eq!(text(host.call("a", raw("self"), T).await.unwrap()), "a");
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_target_is_refused() {
    let host =
        Host::builder().component(relay("relay").config("target", "nobody")).start().await.unwrap();
    assert_eq!(text(host.call("relay", raw("send:x"), T).await.unwrap()), "unknown target nobody");
    assert_eq!(host.send("nobody", raw("x")), Err(SendError::UnknownTarget("nobody".into())));
    host.shutdown(T).await;
}

/// A message in a codec the target does not accept is refused before delivery, naming the
/// accepted codecs; an oversized payload is refused with the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_and_size_are_checked_before_delivery() {
    let host = Host::builder()
        .component(guest("json-only", test_programs::ECHO).accepts(&[codec::JSON]))
        .component(guest("small", test_programs::ECHO).max_payload(16))
        .start()
        .await
        .unwrap();
    assert_eq!(
        host.call("json-only", raw("{}"), T).await,
        Err(RequestError::Refused(SendError::CodecNotAccepted(vec![codec::JSON])))
    );
    let json = Payload { codec: codec::JSON, bytes: b"{}".to_vec() };
    assert_eq!(host.call("json-only", json.clone(), T).await, Ok(Some(json)));
    assert_eq!(
        host.call("small", raw(&"x".repeat(17)), T).await,
        Err(RequestError::Refused(SendError::PayloadTooLarge(16)))
    );
    host.shutdown(T).await;
}

/// A call cycle (a calls b, b calls a while a waits) ends in a timeout, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_cycle_times_out_instead_of_hanging() {
    let host = Host::builder()
        .component(relay("a").config("target", "b"))
        .component(relay("b").config("target", "a"))
        .start()
        .await
        .unwrap();
    let answer = host.call("a", raw("call:call:whoami"), Duration::from_secs(10)).await;
    assert_eq!(text(answer.unwrap()), "error: timeout");
    host.shutdown(T).await;
}

fn requests_host() -> airssys_wasm::HostBuilder {
    Host::builder()
        .component(guest("counter", test_programs::COUNTER))
        .component(
            guest("spinner", test_programs::MISBEHAVE).cpu_per_message(Duration::from_millis(500)),
        )
        .component(relay("to-counter").config("target", "counter"))
        .component(relay("to-spinner").config("target", "spinner"))
        .component(relay("to-nobody").config("target", "nobody"))
}

/// request → the target's response → the requester's `handle-callback`, with the id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_response_arrives_as_a_callback() {
    let host = requests_host().start().await.unwrap();
    assert_eq!(
        text(host.call("to-counter", raw("request:1000:x"), T).await.unwrap()),
        "requested 1"
    );
    assert_eq!(
        text(host.call("to-counter", raw("request:1000:y"), T).await.unwrap()),
        "requested 2"
    );
    // Each request is delivered on its own, so the counter may handle them in either order:
    // both ids call back once, with the counts 1 and 2 between them.
    let mut got = recorded(&host, "to-counter", "callbacks", 2).await;
    got.sort();
    assert!(
        got == ["1:ok:1", "2:ok:2"] || got == ["1:ok:2", "2:ok:1"],
        "unexpected callbacks {got:?}"
    );
    host.shutdown(T).await;
}

/// A request made in `init` calls back once the instance has started, like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_made_in_init_calls_back() {
    let host = Host::builder()
        .component(guest("echo", test_programs::ECHO))
        .component(relay("early").config("target", "echo").config("init-request", "hello"))
        .start()
        .await
        .unwrap();
    assert_eq!(recorded(&host, "early", "callbacks", 1).await, ["1:ok:hello"]);
    host.shutdown(T).await;
}

/// A callback queued for an instance that crashes before handling it is dropped: the next
/// instance never made that request and never gets its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_never_reaches_a_later_instance() {
    let host = requests_host().start().await.unwrap();
    // Both queued before the relay runs: it makes the request, then traps on `crash`; the
    // counter's answer is queued behind the crash, for the instance that is gone.
    host.send("to-counter", raw("request:1000:x")).unwrap();
    host.send("to-counter", raw("crash")).unwrap();
    let restarted = async {
        while host.restarts("to-counter") != Some(1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(T, restarted).await.expect("the relay was not restarted");
    // The counter has answered the request by now: it was queued first in its mailbox.
    assert_eq!(text(host.call("counter", raw("x"), T).await.unwrap()), "2");
    // Give the answer time to be queued for the relay, as it would be without the check;
    // then anything queued for the relay is handled before this call.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(text(host.call("to-counter", raw("callbacks"), T).await.unwrap()), "");
    // A request of the new instance calls back as usual.
    assert_eq!(
        text(host.call("to-counter", raw("request:1000:y"), T).await.unwrap()),
        "requested 1"
    );
    assert_eq!(recorded(&host, "to-counter", "callbacks", 1).await, ["1:ok:3"]);
    host.shutdown(T).await;
}

/// A request that is not answered in time calls back with a timeout; one whose receiver
/// crashes calls back with the crash; one that cannot be queued is refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_crash_and_refusal() {
    let host = requests_host().start().await.unwrap();
    assert_eq!(
        text(host.call("to-spinner", raw("request:100:spin"), T).await.unwrap()),
        "requested 1"
    );
    assert_eq!(recorded(&host, "to-spinner", "callbacks", 1).await, ["1:timeout"]);
    assert_eq!(
        text(host.call("to-counter", raw("request:2000:crash"), T).await.unwrap()),
        "requested 1"
    );
    assert_eq!(recorded(&host, "to-counter", "callbacks", 1).await, ["1:crashed"]);
    assert_eq!(
        text(host.call("to-nobody", raw("request:100:x"), T).await.unwrap()),
        "error: SendError::UnknownTarget(\"nobody\")"
    );
    host.shutdown(T).await;
}

/// A cancelled request never calls back; cancelling twice (or an unknown id) says false.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_request_never_calls_back() {
    let host = requests_host().start().await.unwrap();
    assert_eq!(
        text(host.call("to-spinner", raw("request:2000:spin"), T).await.unwrap()),
        "requested 1"
    );
    assert_eq!(text(host.call("to-spinner", raw("cancel:1"), T).await.unwrap()), "true");
    assert_eq!(text(host.call("to-spinner", raw("cancel:1"), T).await.unwrap()), "false");
    assert_eq!(text(host.call("to-spinner", raw("cancel:99"), T).await.unwrap()), "false");
    // Long enough for the spinner to be trapped (500 ms) and any outcome to have arrived.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(text(host.call("to-spinner", raw("callbacks"), T).await.unwrap()), "");
    host.shutdown(T).await;
}

/// Per-sender FIFO for every kind, asserted exactly: one sender sends, requests, publishes and
/// calls in turn; the receiver handles them in that order, and the callbacks of the requests
/// come back in the order the requests were made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_senders_messages_of_every_kind_arrive_in_order() {
    let host = Host::builder()
        .component(relay("to").config("subscribe", "order.#"))
        .component(relay("from").config("target", "to"))
        .start()
        .await
        .unwrap();
    let n = 200;
    let done = text(host.call("from", raw(&format!("mixed:{n}:order.t")), T).await.unwrap());
    assert_eq!(done, "done");
    let expected: Vec<String> = (0..n)
        .map(|i| match i % 4 {
            2 => format!("order.t:log:{i} from from"),
            _ => format!("log:{i} from from"),
        })
        .collect();
    assert_eq!(recorded(&host, "to", "received", n).await, expected);
    let callbacks: Vec<String> =
        (0..n).filter(|i| i % 4 == 1).map(|i| format!("r{i} ok:logged")).collect();
    // `take` forgets what it answers: wait until no request is pending, then take them all.
    for _ in 0..500 {
        if text(host.call("from", raw("pending"), T).await.unwrap()) == "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let taken = text(host.call("from", raw("take"), T).await.unwrap());
    assert_eq!(taken.lines().collect::<Vec<_>>(), callbacks);
}
