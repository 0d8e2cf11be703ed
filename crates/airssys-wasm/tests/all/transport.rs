//! The transport seam: two hosts in one process, joined by a loopback transport that
//! carries the wire form. A component sends, publishes, requests and calls to a component
//! on the other host as it would to one on its own; malformed frames are refused with a
//! typed error.

use std::sync::{Arc, OnceLock};

use airssys_wasm::transport::{ReceiveError, Transport};
use airssys_wasm::{Host, SendError};

use crate::util::{T, raw, recorded, relay, text};

/// Carries frames to the other host of the pair, through `Host::receive`.
#[derive(Default)]
struct Loopback {
    other: OnceLock<Arc<Host>>,
}

impl Transport for Loopback {
    fn carry(&self, target: &str, frame: Vec<u8>) -> Result<(), SendError> {
        let other = self.other.get().ok_or(SendError::UnknownTarget(target.into()))?;
        match other.receive(&frame) {
            Ok(()) => Ok(()),
            Err(ReceiveError::Refused(e)) => Err(e),
            Err(e) => Err(SendError::NotSupported(e.to_string())),
        }
    }

    fn broadcast(&self, frame: Vec<u8>) {
        if let Some(other) = self.other.get() {
            let _ = other.receive(&frame);
        }
    }
}

async fn pair() -> (Arc<Host>, Arc<Host>) {
    let (to_b, to_a) = (Arc::new(Loopback::default()), Arc::new(Loopback::default()));
    let a = Host::builder()
        .transport(to_b.clone())
        .component(relay("alice").config("target", "bob"))
        .start()
        .await
        .unwrap();
    let b = Host::builder()
        .transport(to_a.clone())
        .component(relay("bob").config("subscribe", "news.#"))
        .start()
        .await
        .unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let _ = to_b.other.set(Arc::clone(&b));
    let _ = to_a.other.set(Arc::clone(&a));
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_and_a_publish_reach_a_component_on_another_host() {
    let (a, b) = pair().await;
    // alice (host a) sends to bob (host b), whom host a does not have.
    assert_eq!(text(a.call("alice", raw("send-to:bob:log:hello"), T).await.unwrap()), "sent");
    assert_eq!(
        text(a.call("alice", raw("publish:news.today:log:extra"), T).await.unwrap()),
        "published 0"
    );
    let got = recorded(&b, "bob", "received", 2).await;
    // Stamped with the true sender by its host, in order, the trace carried along.
    assert_eq!(got, ["log:hello from alice", "news.today:log:extra from alice"]);
    // A call and a request cross too, and their outcomes come back: the response, or the
    // receiver's refusal as a typed error.
    assert_eq!(text(a.call("alice", raw("call:whoami"), T).await.unwrap()), "alice");
    let requested = text(a.call("alice", raw("req:5000:t:whoami"), T).await.unwrap());
    assert!(requested.starts_with("requested "), "{requested}");
    assert_eq!(taken(&a, "alice").await, "t ok:alice");
    let refused = text(a.call("alice", raw("call:crash"), T).await.unwrap());
    assert!(refused.contains("ReceiverCrashed"), "{refused}");
    // The host's own calls stay on this host.
    let host_call = a.call("bob", raw("whoami"), T).await;
    assert!(
        matches!(host_call, Err(airssys_wasm::RequestError::Refused(SendError::NotSupported(_)))),
        "{host_call:?}"
    );
    // An address no host has is still unknown.
    let unknown = text(a.call("alice", raw("send-to:nobody:x"), T).await.unwrap());
    assert!(unknown.contains("UnknownTarget"), "{unknown}");
}

/// What a relay recorded of its tagged requests' outcomes, once there is something.
async fn taken(host: &Host, relay: &str) -> String {
    let deadline = std::time::Instant::now() + T;
    loop {
        let got = text(host.call(relay, raw("take"), T).await.unwrap());
        if !got.is_empty() || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_are_refused_with_a_typed_error() {
    let (_a, b) = pair().await;
    for frame in [&b""[..], b"\x01", b"\x02hello", b"\x01\x00\x05alice"] {
        let refused = b.receive(frame);
        assert!(matches!(refused, Err(ReceiveError::Malformed(_))), "{frame:?}: {refused:?}");
    }
    // A well-formed envelope for an address this host does not have is refused as such.
    let envelope = airssys_wasm::wire::Envelope::Message {
        sender: "alice".into(),
        target: "nobody".into(),
        payload: airssys_wasm::wire::WirePayload { codec: 0x55, bytes: b"x".to_vec() },
        trace: None,
    };
    let frame = airssys_wasm::wire::encode(&envelope).unwrap();
    assert!(matches!(b.receive(&frame), Err(ReceiveError::Refused(SendError::UnknownTarget(_)))));
    // Another host cannot pass its frames off as this host's or one of its components'.
    for forged in ["host", "bob", "not an address", ""] {
        let envelope = airssys_wasm::wire::Envelope::Message {
            sender: forged.into(),
            target: "bob".into(),
            payload: airssys_wasm::wire::WirePayload { codec: 0x55, bytes: b"log:forged".to_vec() },
            trace: None,
        };
        let frame = airssys_wasm::wire::encode(&envelope).unwrap();
        let refused = b.receive(&frame);
        assert!(
            matches!(refused, Err(ReceiveError::Refused(SendError::NotPermitted))),
            "{forged:?}: {refused:?}"
        );
    }
    // A response to no request waiting here is refused, and answers nothing.
    let response = airssys_wasm::wire::Envelope::Response {
        sender: "alice".into(),
        target: "bob".into(),
        ticket: 99,
        outcome: Ok(None),
        trace: None,
    };
    let frame = airssys_wasm::wire::encode(&response).unwrap();
    assert!(matches!(b.receive(&frame), Err(ReceiveError::UnknownTicket(99))));
    // The host still works.
    assert_eq!(text(b.call("bob", raw("self"), T).await.unwrap()), "bob");
}
