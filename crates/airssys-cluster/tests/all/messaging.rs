//! Components on two hosts joined through NATS message each other as they would on one.

use std::time::Duration;

use crate::fixture::{Nats, T, joined, joined_audited, raw, recorded, relay, taken, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_and_publishes_reach_a_component_on_another_host_in_order() {
    let nats = Nats::start().unwrap();
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
async fn junk_and_forged_frames_are_refused_audited_and_nothing_is_lost() {
    let nats = Nats::start().unwrap();
    let (a_cluster, a) = joined(&nats, "shop", vec![relay("alice")]).await;
    let audit = airssys_osl::AuditLog::memory();
    let (b_cluster, b) = joined_audited(&nats, "shop", vec![relay("bob")], audit.clone()).await;
    assert!(a_cluster.wait_for_owner("bob", T).await.is_some());
    assert!(b_cluster.wait_for_owner("alice", T).await.is_some());
    // Anyone on the NATS server writes into host b's inbox.
    let client = async_nats::connect(&nats.url).await.unwrap();
    let inbox = format!("airssys.shop.host.{}", b_cluster.host_id());
    let from = |sender: &str| {
        let envelope = airssys_wasm::wire::Envelope::Message {
            sender: sender.into(),
            target: "bob".into(),
            payload: airssys_wasm::wire::WirePayload { codec: 0x55, bytes: b"log:forged".to_vec() },
            trace: None,
        };
        bytes::Bytes::from(airssys_wasm::wire::encode(&envelope).unwrap())
    };
    let header = |host: &str| {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Airssys-Host", host);
        headers
    };
    // Junk that claims to come from host a: empty, a wrong version, truncated, random.
    let junk: [Vec<u8>; 4] = [vec![], vec![9], vec![2, 0, 5], (0..=255).collect()];
    for bytes in junk {
        client
            .publish_with_headers(inbox.clone(), header(a_cluster.host_id()), bytes.into())
            .await
            .unwrap();
    }
    // Well-formed, in alice's name (host a's component), from no host, from a host that is
    // not a member, and in host b's own component's name.
    client.publish(inbox.clone(), from("alice")).await.unwrap();
    client.publish_with_headers(inbox.clone(), header("intruder"), from("alice")).await.unwrap();
    client.publish_with_headers(inbox.clone(), header("intruder"), from("mallory")).await.unwrap();
    client
        .publish_with_headers(inbox.clone(), header(a_cluster.host_id()), from("bob"))
        .await
        .unwrap();
    // The embedder of a host speaks from that host only: not host b's from host a, nor
    // host a's from a non-member.
    let embedder = |cluster: &airssys_cluster::Cluster| format!("host/{}", cluster.host_id());
    let (b_embedder, a_embedder) = (from(&embedder(&b_cluster)), from(&embedder(&a_cluster)));
    client
        .publish_with_headers(inbox.clone(), header(a_cluster.host_id()), b_embedder)
        .await
        .unwrap();
    client.publish_with_headers(inbox.clone(), header("intruder"), a_embedder).await.unwrap();
    client.flush().await.unwrap();
    // Then a real send from alice, after all of that: it arrives, and nothing else did.
    assert_eq!(text(a.call("alice", raw("send-to:bob:log:real"), T).await.unwrap()), "sent");
    assert_eq!(recorded(&b, "bob", 1).await, ["log:real from alice"]);
    // Each refusal is in host b's audit log, with the host it claimed to come from. The
    // frames came over another connection than alice's send, which NATS does not order
    // against it: wait for the ten refusals (or the time limit), then check them.
    let receive_refusals =
        || audit.records().into_iter().filter(|r| r.operation == "receive").collect::<Vec<_>>();
    let waiting = std::time::Instant::now();
    while receive_refusals().len() < 10 && waiting.elapsed() < T {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = receive_refusals();
    assert_eq!(refused.len(), 10, "{refused:#?}");
    assert!(refused.iter().all(|r| r.decision == "deny"));
    let forged = refused.iter().filter(|r| r.rule.contains("may not send as")).count();
    assert_eq!(forged, 6, "{refused:#?}");
    assert_eq!(refused.iter().filter(|r| r.principal == "intruder").count(), 3);
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

/// The embedding program of one host (what `airssys call` and `airssys send` go through)
/// reaches a component on another host, with its host's embedder address as the sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_itself_calls_and_sends_to_a_component_on_another_host() {
    let nats = Nats::start().unwrap();
    let (a_cluster, a) = joined(&nats, "shop", vec![]).await;
    let (_b_cluster, b) = joined(&nats, "shop", vec![relay("bob")]).await;
    assert!(a_cluster.wait_for_owner("bob", T).await.is_some());
    a.send("bob", raw("log:hello")).unwrap();
    let me = format!("host/{}", a_cluster.host_id());
    assert_eq!(recorded(&b, "bob", 1).await, [format!("log:hello from {me}")]);
    let answer = text(a.call("bob", raw("received"), T).await.unwrap());
    assert!(answer.contains(&format!("log:hello from {me}")), "{answer}");
    // An unknown name is still refused at once.
    let unknown = a.call("nobody", raw("x"), T).await;
    assert!(
        matches!(
            unknown,
            Err(airssys_wasm::RequestError::Refused(airssys_wasm::SendError::UnknownTarget(_)))
        ),
        "{unknown:?}"
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_on_one_server_do_not_see_each_other() {
    let nats = Nats::start().unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_stopped_and_restarted_gives_typed_errors_then_recovers() {
    let mut nats = Nats::start().unwrap();
    let (a_cluster, a) = joined(&nats, "shop", vec![relay("alice").config("target", "bob")]).await;
    let (b_cluster, b) = joined(&nats, "shop", vec![relay("bob")]).await;
    assert!(a_cluster.wait_for_owner("bob", T).await.is_some());
    assert_eq!(text(a.call("alice", raw("call:whoami"), T).await.unwrap()), "alice");

    nats.stop();
    // Nothing hangs: the call (1 s timeout in the relay) and the request (500 ms) end with
    // a typed error; a send is queued (or refused if the queue is full).
    let started = std::time::Instant::now();
    let call = text(a.call("alice", raw("call:whoami"), T).await.unwrap());
    assert_eq!(call, "error: timeout");
    assert!(
        text(a.call("alice", raw("req:500:t:whoami"), T).await.unwrap()).starts_with("requested")
    );
    assert_eq!(taken(&a, "alice").await, "t timeout");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    // Back after longer than a host takes to be declared lost: neither host was cut off
    // from the other alone, so neither takes the other's components over.
    tokio::time::sleep(airssys_cluster::LOST_AFTER).await;
    nats.start_again().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = text(a.call("alice", raw("call:whoami"), T).await.unwrap());
        if answer == "alice" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no recovery: {answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(a_cluster.owner("bob").as_deref(), Some(b_cluster.host_id()));
    assert_eq!(b_cluster.owner("alice").as_deref(), Some(a_cluster.host_id()));
    // And the way back.
    assert_eq!(text(b.call("bob", raw("send-to:alice:log:back"), T).await.unwrap()), "sent");
    assert_eq!(recorded(&a, "alice", 1).await, ["log:back from bob"]);
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}
