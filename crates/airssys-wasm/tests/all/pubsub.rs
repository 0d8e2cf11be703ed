//! Publish/subscribe between components.

use airssys_wasm::{Host, Payload, TopicError, codec};

use crate::util::*;

/// Published messages reach exactly the components whose patterns match, stamped with the
/// publisher; a subscriber that does not accept the codec misses them; unsubscribe stops
/// delivery; malformed topics are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reaches_matching_subscribers() {
    let host = Host::builder()
        .component(relay("temps").config("subscribe", "sensors.*.temp"))
        .component(relay("all-sensors").config("subscribe", "sensors.#"))
        .component(relay("json-only").config("subscribe", "#").accepts(&[codec::JSON]))
        .component(relay("publisher"))
        .start()
        .await
        .unwrap();
    let publish = |cmd: &'static str| host.call("publisher", raw(cmd), T);
    assert_eq!(text(publish("publish:sensors.kitchen.temp:21").await.unwrap()), "published 2");
    assert_eq!(text(publish("publish:sensors.kitchen.humidity:40").await.unwrap()), "published 1");
    assert_eq!(text(publish("publish:other:x").await.unwrap()), "published 0");
    assert_eq!(
        recorded(&host, "temps", "received", 1).await,
        ["sensors.kitchen.temp:21 from publisher"]
    );
    assert_eq!(
        recorded(&host, "all-sensors", "received", 2).await,
        ["sensors.kitchen.temp:21 from publisher", "sensors.kitchen.humidity:40 from publisher"]
    );
    let ask_json = Payload { codec: codec::JSON, bytes: b"received".to_vec() };
    assert!(text(host.call("json-only", ask_json, T).await.unwrap()).is_empty());

    assert_eq!(
        text(host.call("temps", raw("unsubscribe:sensors.*.temp"), T).await.unwrap()),
        "true"
    );
    assert_eq!(
        text(host.call("temps", raw("unsubscribe:sensors.*.temp"), T).await.unwrap()),
        "false"
    );
    assert_eq!(text(publish("publish:sensors.hall.temp:19").await.unwrap()), "published 1");

    let bad = text(publish("publish:a..b:x").await.unwrap());
    assert!(bad.starts_with("error: TopicError::Invalid"), "{bad}");
    let bad = text(host.call("temps", raw("subscribe:a.#.b"), T).await.unwrap());
    assert!(bad.contains("Invalid"), "{bad}");

    // The host publishes too, from the address `host`.
    assert_eq!(host.publish("sensors.roof.temp", raw("5")), Ok(1));
    assert!(matches!(host.publish("", raw("x")), Err(TopicError::Invalid(_))));
    host.shutdown(T).await;
}
