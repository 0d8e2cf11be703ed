//! Native services (Rust code at an address) and the host as a shared handle.

use std::time::{Duration, Instant};

use airssys_wasm::{
    HostError, Message, Payload, RequestError, SendError, ServiceResult, ServiceSpec, codec,
};

use crate::util::{T, guest, raw, relay, text};

/// Answers `<sender>:<text>`; panics on `boom`.
fn echo_service(name: &str) -> ServiceSpec {
    ServiceSpec::new(name, || {
        |message: Message| async move {
            let body = String::from_utf8_lossy(&message.payload.bytes).into_owned();
            assert!(body != "boom", "the service was told to crash");
            ServiceResult::Ok(Some(Payload::new(codec::RAW, format!("{}:{body}", message.sender))))
        }
    })
}

#[tokio::test]
async fn a_component_reaches_a_service_only_as_granted_and_within_its_limits() {
    let host = airssys_wasm::Host::builder()
        .service(echo_service("svc").accepts(&[codec::RAW]).max_payload(8))
        .component(relay("caller").config("target", "svc"))
        // No grants: it may not message the service.
        .component(guest("stranger", test_programs::RELAY).config("target", "svc"))
        .start()
        .await
        .unwrap();
    // The sender is stamped by the host, as for a component.
    assert_eq!(text(host.call("caller", raw("call:hi"), T).await.unwrap()), "caller:hi");
    assert_eq!(
        text(host.call("stranger", raw("call:hi"), T).await.unwrap()),
        "error: RequestError::Refused(SendError::NotPermitted)"
    );
    // The service's codecs and size limit hold for every sender.
    let cbor = Payload::new(codec::CBOR, b"x".to_vec());
    assert_eq!(
        host.call("svc", cbor, T).await,
        Err(RequestError::Refused(SendError::CodecNotAccepted(vec![codec::RAW])))
    );
    assert_eq!(
        host.call("svc", raw("123456789"), T).await,
        Err(RequestError::Refused(SendError::PayloadTooLarge(8)))
    );
    assert_eq!(text(host.call("svc", raw("12345678"), T).await.unwrap()), "host:12345678");
    assert_eq!(host.services(), vec![std::sync::Arc::<str>::from("svc")]);
    host.shutdown(T).await;
}

#[tokio::test]
async fn a_service_that_panics_is_started_again_at_its_address() {
    let host = airssys_wasm::Host::builder().service(echo_service("svc")).start().await.unwrap();
    assert!(host.call("svc", raw("boom"), T).await.is_err());
    // Its supervisor makes a new one from the factory; it answers again.
    let deadline = Instant::now() + T;
    loop {
        match host.call("svc", raw("again"), T).await {
            Ok(answer) => {
                assert_eq!(text(answer), "host:again");
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "the service did not come back: {e}"),
        }
        tokio::task::yield_now().await;
    }
    host.shutdown(T).await;
}

#[tokio::test]
async fn services_share_the_names_of_components_and_can_be_added_and_stopped_at_run_time() {
    let host = airssys_wasm::Host::builder()
        .component(guest("taken", test_programs::ECHO))
        .start()
        .await
        .unwrap();
    assert!(matches!(
        host.add_service(echo_service("taken")).await,
        Err(HostError::DuplicateName(name)) if name == "taken"
    ));
    host.add_service(echo_service("late")).await.unwrap();
    assert_eq!(text(host.call("late", raw("x"), T).await.unwrap()), "host:x");
    host.stop("late").await.unwrap();
    assert_eq!(
        host.call("late", raw("x"), T).await,
        Err(RequestError::Refused(SendError::UnknownTarget("late".into())))
    );
    // The name is free again, for a component too.
    host.spawn(guest("late", test_programs::ECHO)).await.unwrap();
    assert_eq!(text(host.call("late", raw("echo"), T).await.unwrap()), "echo");
    host.shutdown(T).await;
}

#[tokio::test]
async fn a_host_handle_is_shared_by_tasks_and_any_of_them_shuts_it_down() {
    let host = airssys_wasm::Host::builder()
        .component(guest("echo", test_programs::ECHO))
        .start()
        .await
        .unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let host = host.clone();
            tokio::spawn(async move {
                let said = format!("from task {i}");
                text(host.call("echo", raw(&said), T).await.unwrap()) == said
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    let other = host.clone();
    let report = other.shutdown(Duration::from_secs(5)).await;
    assert!(report.killed.is_empty());
    // Every handle sees the host stopped.
    assert!(host.call("echo", raw("late"), T).await.is_err());
}
