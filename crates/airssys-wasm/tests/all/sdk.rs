//! A component written with the guest SDK (`airssys-wasm-component`, guest `calc`): typed
//! requests in json, cbor and messagepack answered in the same codec, handler errors, its
//! configuration, durable storage, and a typed call to another component.

use airssys_wasm::storage::Quota;
use airssys_wasm::{Grants, HostBuilder, Payload, RequestError, codec};
use serde::{Deserialize, Serialize};

use crate::util::*;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Answer {
    value: i64,
    calls: i64,
}

fn calc(name: &str) -> airssys_wasm::ComponentSpec {
    guest(name, test_programs::CALC).storage(Quota { bytes: 4096, keys: 16 }).config("name", name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_components_speak_typed_messages() {
    let dir = tempfile::tempdir().unwrap();
    let host = HostBuilder::default()
        .data_dir(dir.path())
        .component(calc("a").grants(Grants { request: vec!["b".into()], ..Grants::default() }))
        .component(calc("b"))
        .start()
        .await
        .unwrap();
    let ask = |who: &'static str, payload: Payload| {
        let host = &host;
        async move { host.call(who, payload, T).await }
    };
    let json = |v: serde_json::Value| Payload { codec: codec::JSON, bytes: v.to_string().into() };

    let answer = ask("a", json(serde_json::json!({"op": "add", "a": 2, "b": 3}))).await.unwrap();
    let answer = answer.unwrap();
    assert_eq!(answer.codec, codec::JSON);
    assert_eq!(
        serde_json::from_slice::<Answer>(&answer.bytes).unwrap(),
        Answer { value: 5, calls: 1 }
    );

    let mut cbor = Vec::new();
    ciborium::into_writer(&serde_json::json!({"op": "add", "a": 3, "b": 4}), &mut cbor).unwrap();
    let answer = ask("a", Payload { codec: codec::CBOR, bytes: cbor }).await.unwrap().unwrap();
    assert_eq!(answer.codec, codec::CBOR);
    let decoded: Answer = ciborium::from_reader(answer.bytes.as_slice()).unwrap();
    assert_eq!(decoded, Answer { value: 7, calls: 2 });

    let msgpack =
        rmp_serde::to_vec_named(&serde_json::json!({"op": "div", "a": 9, "b": 2})).unwrap();
    let answer = ask("a", Payload { codec: codec::MESSAGEPACK, bytes: msgpack }).await.unwrap();
    let answer = answer.unwrap();
    assert_eq!(answer.codec, codec::MESSAGEPACK);
    assert_eq!(
        rmp_serde::from_slice::<Answer>(&answer.bytes).unwrap(),
        Answer { value: 4, calls: 3 }
    );

    // Handler errors reach the caller as typed errors; the component keeps running.
    let zero = ask("a", json(serde_json::json!({"op": "div", "a": 1, "b": 0}))).await;
    assert_eq!(zero, Err(RequestError::HandlerError("division by zero".into())));
    let garbage = ask("a", Payload { codec: codec::CBOR, bytes: vec![0xff, 0x13] }).await;
    assert!(
        matches!(&garbage, Err(RequestError::HandlerError(e)) if e.contains("cannot decode")),
        "{garbage:?}"
    );
    let raw_text = ask("a", raw("add 1 2")).await;
    assert!(
        matches!(&raw_text, Err(RequestError::HandlerError(e)) if e.contains("0x55")),
        "{raw_text:?}"
    );

    // Configuration, and a typed CBOR call from a to b.
    let greet = ask("b", json(serde_json::json!({"op": "greet"}))).await.unwrap();
    assert_eq!(text(greet), "hello from b");
    let asked = ask("a", json(serde_json::json!({"op": "ask", "target": "b", "a": 10, "b": 20})));
    let asked: Answer = serde_json::from_slice(&asked.await.unwrap().unwrap().bytes).unwrap();
    assert_eq!(asked.value, 30);
    // b counted the greeting and the add it was asked for; storage is per component.
    let count = ask("b", json(serde_json::json!({"op": "count"}))).await.unwrap().unwrap();
    assert_eq!(serde_json::from_slice::<Answer>(&count.bytes).unwrap().value, 3);
    // b may not call a: a is granted b, not the other way round.
    let refused = ask("b", json(serde_json::json!({"op": "ask", "target": "a", "a": 1, "b": 1})));
    let refused = refused.await;
    assert!(
        matches!(&refused, Err(RequestError::HandlerError(e)) if e.contains("not granted")),
        "{refused:?}"
    );
    assert_eq!(host.restarts("a"), Some(0));
    host.shutdown(T).await;
}
