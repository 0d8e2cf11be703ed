//! Components on two hosts joined through NATS message each other as they would on one.

use std::time::Duration;

use crate::fixture::{Nats, T, joined, raw, recorded, relay, taken, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_and_publishes_reach_a_component_on_another_host_in_order() {
    let nats = Nats::start();
    let (a_cluster, a) = joined(&nats, "shop", vec![relay("alice").config("target", "bob")]).await;
    let (b_cluster, b) =
        joined(&nats, "shop", vec![relay("bob").config("subscribe", "news.#")]).await;
    // Host a sees bob's owner and host b as a member (the registry is read from a watch).
    assert_eq!(
        a_cluster.wait_for_owner("bob", T).await.as_deref(),
        Some(b_cluster.host_id()),
        "host a sees bob on host b"
    );
    assert!(a_cluster.wait_for_hosts(2, T).await);
    assert_eq!(
        a_cluster.names(),
        [
            ("alice".to_string(), a_cluster.host_id().to_string()),
            ("bob".to_string(), b_cluster.host_id().to_string())
        ]
    );

    // Sends and publishes interleaved, from one sender: they arrive in the order sent,
    // stamped with the true sender.
    let mut want = Vec::new();
    for i in 0..60 {
        if i % 3 == 2 {
            let sent =
                text(a.call("alice", raw(&format!("publish:news.n:log:{i}")), T).await.unwrap());
            assert_eq!(sent, "published 0", "no subscriber on host a");
            want.push(format!("news.n:log:{i} from alice"));
        } else {
            let sent =
                text(a.call("alice", raw(&format!("send-to:bob:log:{i}")), T).await.unwrap());
            assert_eq!(sent, "sent");
            want.push(format!("log:{i} from alice"));
        }
    }
    assert_eq!(recorded(&b, "bob", want.len()).await, want);

    // The way back works the same.
    assert_eq!(text(b.call("bob", raw("send-to:alice:log:back"), T).await.unwrap()), "sent");
    assert_eq!(recorded(&a, "alice", 1).await, ["log:back from bob"]);

    // No host has this address.
    let unknown = text(a.call("alice", raw("send-to:nobody:x"), T).await.unwrap());
    assert!(unknown.contains("UnknownTarget"), "{unknown}");
    // Calls and requests cross and come back: the response, or the receiver's failure as
    // the same typed error as on one host.
    assert_eq!(text(a.call("alice", raw("call:whoami"), T).await.unwrap()), "alice");
    let requested = text(a.call("alice", raw("req:5000:t:whoami"), T).await.unwrap());
    assert!(requested.starts_with("requested "), "{requested}");
    assert_eq!(taken(&a, "alice").await, "t ok:alice");
    let crashed = text(a.call("alice", raw("call:crash"), T).await.unwrap());
    assert!(crashed.contains("ReceiverCrashed"), "{crashed}");
    // bob was restarted in place by its supervisor on host b, and answers again.
    assert_eq!(text(a.call("alice", raw("call:whoami"), T).await.unwrap()), "alice");

    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
    a_cluster.leave().await;
    b_cluster.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_are_not_envelopes_are_refused_and_nothing_is_lost() {
    let nats = Nats::start();
    let (a_cluster, a) = joined(&nats, "shop", vec![relay("alice")]).await;
    let (b_cluster, b) = joined(&nats, "shop", vec![relay("bob")]).await;
    assert!(a_cluster.wait_for_owner("bob", T).await.is_some());
    // Anyone on the NATS server writes junk into host b's inbox: an empty frame, a wrong
    // version, a truncated body, random bytes, and a frame that claims to come from bob
    // (a local name on host b: a forged sender).
    let client = async_nats::connect(&nats.url).await.unwrap();
    let inbox = format!("airssys.shop.host.{}", b_cluster.host_id());
    let forged = {
        let envelope = airssys_wasm::wire::Envelope::Message {
            sender: "bob".into(),
            target: "bob".into(),
            payload: airssys_wasm::wire::WirePayload { codec: 0x55, bytes: b"log:forged".to_vec() },
            trace: None,
        };
        airssys_wasm::wire::encode(&envelope).unwrap()
    };
    for junk in [vec![], vec![9], vec![1, 0, 5], (0..=255).collect(), forged] {
        client.publish(inbox.clone(), junk.into()).await.unwrap();
    }
    client.flush().await.unwrap();
    // Then a real send from alice, after the junk: it arrives, and nothing else did.
    assert_eq!(text(a.call("alice", raw("send-to:bob:log:real"), T).await.unwrap()), "sent");
    assert_eq!(recorded(&b, "bob", 1).await, ["log:real from alice"]);
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_on_one_server_do_not_see_each_other() {
    let nats = Nats::start();
    let (red_cluster, red) = joined(&nats, "red", vec![relay("bob")]).await;
    let (blue_cluster, blue) = joined(&nats, "blue", vec![relay("alice")]).await;
    assert_eq!(red_cluster.hosts(), [red_cluster.host_id().to_string()]);
    assert_eq!(blue_cluster.hosts(), [blue_cluster.host_id().to_string()]);
    assert_eq!(blue_cluster.owner("bob"), None);
    let unknown = text(blue.call("alice", raw("send-to:bob:x"), T).await.unwrap());
    assert!(unknown.contains("UnknownTarget"), "{unknown}");
    // The same name in the other cluster is free.
    blue.spawn(relay("bob")).await.unwrap();
    red.shutdown(Duration::from_secs(5)).await;
    blue.shutdown(Duration::from_secs(5)).await;
}
