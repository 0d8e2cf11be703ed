//! The transport seam: two hosts in one process, joined by a loopback transport that
//! carries the wire form. A component sends and publishes to a component on the other host
//! as it would to one on its own; malformed frames are refused with a typed error.

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
    // A request to another host is refused as not supported (responses do not cross hosts).
    let refused = text(a.call("alice", raw("req:1000:t:x"), T).await.unwrap());
    assert!(refused.contains("NotSupported"), "{refused}");
    // An address no host has is still unknown.
    let unknown = text(a.call("alice", raw("send-to:nobody:x"), T).await.unwrap());
    assert!(unknown.contains("UnknownTarget"), "{unknown}");
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
    // The host still works.
    assert_eq!(text(b.call("bob", raw("self"), T).await.unwrap()), "bob");
}
