//! Messages between the host and components, and between components.

use std::time::Duration;

use airssys_wasm::{ComponentSpec, Host, Payload, RequestError, SendError, Source, codec};

const T: Duration = Duration::from_secs(5);

fn raw(text: &str) -> Payload {
    Payload {
        codec: codec::RAW,
        bytes: text.as_bytes().to_vec(),
    }
}

fn text(p: Option<Payload>) -> String {
    String::from_utf8(p.expect("a response").bytes).unwrap()
}

fn guest(name: &str, path: &str) -> ComponentSpec {
    ComponentSpec::new(name, Source::File(path.into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_call_reaches_the_guest_and_returns_its_response() {
    let host = Host::builder()
        .component(guest("echo", test_programs::ECHO))
        .start()
        .await
        .unwrap();
    let answer = host.call("echo", raw("hello"), T).await.unwrap();
    assert_eq!(answer, Some(raw("hello")));
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_persists_across_messages_in_one_instance() {
    let host = Host::builder()
        .component(guest("counter", test_programs::COUNTER))
        .start()
        .await
        .unwrap();
    for n in 1..=5 {
        assert_eq!(
            text(host.call("counter", raw("tick"), T).await.unwrap()),
            n.to_string()
        );
    }
    host.shutdown(T).await;
}

/// Component to component: `relay` calls `counter` and returns its answer; `counter`'s
/// handler really ran (its count moves).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_calls_component() {
    let host = Host::builder()
        .component(guest("counter", test_programs::COUNTER))
        .component(guest("relay", test_programs::RELAY).config("target", "counter"))
        .start()
        .await
        .unwrap();
    assert_eq!(
        text(host.call("relay", raw("call:x"), T).await.unwrap()),
        "1"
    );
    assert_eq!(
        text(host.call("relay", raw("call:x"), T).await.unwrap()),
        "2"
    );
    assert_eq!(text(host.call("counter", raw("x"), T).await.unwrap()), "3");
    host.shutdown(T).await;
}

/// `send` is delivered and handled by the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_sends_to_component() {
    let host = Host::builder()
        .component(guest("counter", test_programs::COUNTER))
        .component(guest("relay", test_programs::RELAY).config("target", "counter"))
        .start()
        .await
        .unwrap();
    assert_eq!(
        text(host.call("relay", raw("send:x"), T).await.unwrap()),
        "sent"
    );
    assert_eq!(
        text(host.call("relay", raw("send:x"), T).await.unwrap()),
        "sent"
    );
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
        .component(guest("b", test_programs::RELAY))
        .component(guest("a", test_programs::RELAY).config("target", "b"))
        .start()
        .await
        .unwrap();
    assert_eq!(
        text(host.call("a", raw("call:whoami"), T).await.unwrap()),
        "a"
    );
    assert_eq!(
        text(host.call("b", raw("whoami"), T).await.unwrap()),
        "host"
    );
    assert_eq!(text(host.call("a", raw("self"), T).await.unwrap()), "a");
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_target_is_refused() {
    let host = Host::builder()
        .component(guest("relay", test_programs::RELAY).config("target", "nobody"))
        .start()
        .await
        .unwrap();
    assert_eq!(
        text(host.call("relay", raw("send:x"), T).await.unwrap()),
        "unknown target nobody"
    );
    assert_eq!(
        host.send("nobody", raw("x")),
        Err(SendError::UnknownTarget("nobody".into()))
    );
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
        Err(RequestError::Refused(SendError::CodecNotAccepted(vec![
            codec::JSON
        ])))
    );
    let json = Payload {
        codec: codec::JSON,
        bytes: b"{}".to_vec(),
    };
    assert_eq!(
        host.call("json-only", json.clone(), T).await,
        Ok(Some(json))
    );
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
        .component(guest("a", test_programs::RELAY).config("target", "b"))
        .component(guest("b", test_programs::RELAY).config("target", "a"))
        .start()
        .await
        .unwrap();
    let answer = host
        .call("a", raw("call:call:whoami"), Duration::from_secs(10))
        .await;
    assert_eq!(text(answer.unwrap()), "error: timeout");
    host.shutdown(T).await;
}
