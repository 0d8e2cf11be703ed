//! The control protocol on arbitrary input (the property-test twin of the `control` and
//! `codec` fuzz targets in `fuzz/`): every line gets one answer, `{"ok": ..}` or
//! `{"error": "<text>"}`; storage written through it reads back exactly; refused writes
//! change nothing; the host keeps serving afterwards. Runs the library's protocol
//! functions against a real host, without a socket (`tests/cli.rs` covers the socket).

use std::time::Duration;

use airssys_wasm::{ComponentSpec, Host, HostBuilder, Payload, Source, codec};
use airssys_wasm_cli::payload::{WirePayload, decode, show};
use airssys_wasm_cli::protocol::{self, Request};
use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestRunner};

fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let config = ProptestConfig {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    };
    if let Err(e) = TestRunner::new(config).run(&strategy, test) {
        panic!("{e}");
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A line that is JSON-ish, close to a request, or any text.
fn line() -> impl Strategy<Value = String> {
    let op = proptest::sample::select(vec![
        "ps",
        "send",
        "call",
        "stop",
        "restart",
        "store-get",
        "store-put",
        "store-rm",
        "store-ls",
        "store-export",
        "store-import",
        "audit",
        "logs",
        "nope",
        "",
    ]);
    let field = proptest::sample::select(vec![
        "target",
        "payload",
        "timeout_ms",
        "name",
        "component",
        "key",
        "base64",
        "prefix",
        "lines",
        "decisions",
        "follow",
        "codec",
        "op",
    ]);
    let value = prop_oneof![
        Just("null".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        "\\PC{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just(r#"{"codec":85,"base64":"aGk="}"#.to_owned()),
        Just(r#"{"codec":85,"base64":"not base64!"}"#.to_owned()),
        Just("[\"deny\",1]".to_owned()),
        Just("true".to_owned()),
    ];
    prop_oneof![
        any::<String>(),
        (op, proptest::collection::vec((field, value), 0..5)).prop_map(|(op, fields)| {
            let mut line = format!("{{\"op\":{}", serde_json::to_string(op).unwrap());
            for (k, v) in fields {
                line.push_str(&format!(",\"{k}\":{v}"));
            }
            line.push('}');
            line
        }),
    ]
}

#[test]
fn every_line_parses_to_a_request_or_a_not_a_request_error() {
    check(1024, line(), |line| {
        match protocol::parse(&line) {
            Ok(request) => {
                // What parsed writes back as a line that parses to the same request.
                let again = serde_json::to_string(&request).unwrap();
                let reparsed = protocol::parse(&again).unwrap();
                prop_assert_eq!(
                    serde_json::to_value(&reparsed).unwrap(),
                    serde_json::to_value(&request).unwrap()
                );
            }
            Err(e) => {
                prop_assert!(e.starts_with("not a request: "), "{}", e);
                let answer = protocol::answer(Err(e));
                prop_assert!(answer["error"].is_string());
                prop_assert!(!answer.to_string().contains('\n'), "an answer is one line");
            }
        }
        Ok(())
    });
}

#[test]
fn any_response_payload_is_shown_and_round_trips_on_the_wire() {
    let codecs = prop_oneof![
        Just(codec::RAW),
        Just(codec::JSON),
        Just(codec::CBOR),
        Just(codec::MESSAGEPACK),
        any::<u32>()
    ];
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        "\\PC{0,16}".prop_map(String::into_bytes),
        Just(br#"{"a":[1,2.5,null,"x"]}"#.to_vec()),
    ];
    check(512, (codecs, bytes), |(codec, bytes)| {
        let payload = Payload { codec, bytes };
        let shown = decode(&payload);
        let _ = show(&shown);
        // JSON that parses is shown as itself; UTF-8 otherwise as text; anything else as
        // base64 of exactly its bytes.
        let as_json: Option<serde_json::Value> = serde_json::from_slice(&payload.bytes).ok();
        match std::str::from_utf8(&payload.bytes) {
            _ if codec == codec::JSON && as_json.is_some() => {
                prop_assert_eq!(Some(&shown), as_json.as_ref());
            }
            Ok(text) if ![codec::CBOR, codec::MESSAGEPACK].contains(&codec) => {
                prop_assert_eq!(&shown, &serde_json::Value::String(text.to_owned()));
            }
            Err(_) if ![codec::CBOR, codec::MESSAGEPACK].contains(&codec) => {
                prop_assert_eq!(&shown["base64"], &serde_json::Value::String(b64(&payload.bytes)));
            }
            _ => {}
        }
        let wire = WirePayload::from(&payload);
        let json = serde_json::to_string(&wire).unwrap();
        let back: WirePayload = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(Payload::try_from(back).unwrap(), payload);
        Ok(())
    });
}

/// Regression input of the `codec` fuzz target
/// (`fuzz/corpus/codec/regression-json-float-roundtrip`): a float in a JSON response is shown
/// exactly as sent (a JSON parser that is not correctly rounded shows some one unit off).
#[test]
fn json_floats_in_a_response_are_shown_as_sent() {
    let exact = [
        1.111_111_111_111_111e46,
        1.111_111_111_111_110_9e46,
        0.1,
        2.225_073_858_507_201_4e-308,
        f64::MAX,
        5e-324,
    ];
    for x in exact {
        let payload = Payload { codec: codec::JSON, bytes: serde_json::to_vec(&x).unwrap() };
        assert_eq!(decode(&payload).as_f64(), Some(x), "{x:e}");
    }
    check(1024, any::<f64>().prop_filter("finite", |x| x.is_finite()), |x| {
        let payload = Payload { codec: codec::JSON, bytes: serde_json::to_vec(&x).unwrap() };
        prop_assert_eq!(decode(&payload).as_f64(), Some(x));
        Ok(())
    });
}

async fn host(dir: &std::path::Path) -> Host {
    let file = |p: &str| Source::File(p.into());
    HostBuilder::default()
        .data_dir(dir)
        .component(ComponentSpec::new("echo", file(test_programs::ECHO)))
        .component(
            ComponentSpec::new("kv", file(test_programs::KV))
                .storage(airssys_wasm::storage::Quota { bytes: 1 << 16, keys: 64 }),
        )
        .start()
        .await
        .unwrap()
}

#[derive(Debug, Clone)]
enum Step {
    /// A line as a client could write it.
    Line(String),
    /// `store-put` then `store-get` of one key.
    PutGet { component: String, key: String, value: Vec<u8>, bad_base64: bool },
    /// A call with any target and payload.
    Call { target: String, codec: u32, bytes: Vec<u8> },
}

fn step() -> impl Strategy<Value = Step> {
    let name = prop_oneof![
        3 => proptest::sample::select(vec!["echo", "kv", "nobody", ""]).prop_map(str::to_owned),
        1 => "\\PC{0,6}",
    ];
    let key = prop_oneof![
        3 => "[a-z]{1,6}",
        1 => Just(String::new()),
        1 => Just("k".repeat(1025)),
        1 => "\\PC{0,12}",
    ];
    prop_oneof![
        line()
            .prop_filter("not stop, restart or logs", |l| {
                !(l.contains("\"stop\"") || l.contains("\"restart\"") || l.contains("\"logs\""))
            })
            .prop_map(Step::Line),
        (
            name.clone(),
            key,
            proptest::collection::vec(any::<u8>(), 0..48),
            proptest::bool::weighted(0.2)
        )
            .prop_map(|(component, key, value, bad_base64)| Step::PutGet {
                component,
                key,
                value,
                bad_base64
            }),
        (
            name,
            prop_oneof![Just(codec::RAW), any::<u32>()],
            proptest::collection::vec(any::<u8>(), 0..32)
        )
            .prop_map(|(target, codec, bytes)| Step::Call { target, codec, bytes }),
    ]
}

async fn ask(host: &Host, request: Request) -> serde_json::Value {
    let answer =
        tokio::time::timeout(Duration::from_secs(10), protocol::handle(host, None, None, request))
            .await
            .expect("a control request is answered in bounded time");
    protocol::answer(answer)
}

fn one_answer(answer: &serde_json::Value) -> Result<(), TestCaseError> {
    let object = answer.as_object().expect("an object");
    prop_assert_eq!(object.len(), 1, "{}", answer);
    prop_assert!(
        object.contains_key("ok")
            || object.get("error").is_some_and(|e| e.as_str().is_some_and(|t| !t.is_empty())),
        "{}",
        answer
    );
    Ok(())
}

#[test]
fn requests_on_a_running_host_get_one_answer_and_storage_reads_back() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = rt.block_on(host(dir.path()));
    check(192, proptest::collection::vec(step(), 1..6), |steps| {
        rt.block_on(async {
            for step in steps {
                match step {
                    Step::Line(line) => {
                        let answer = match protocol::parse(&line) {
                            Err(e) => protocol::answer(Err(e)),
                            Ok(mut request) => {
                                if let Request::Call { timeout_ms, .. } = &mut request {
                                    *timeout_ms = (*timeout_ms).min(2000);
                                }
                                ask(&host, request).await
                            }
                        };
                        one_answer(&answer)?;
                    }
                    Step::PutGet { component, key, value, bad_base64 } => {
                        let get = || Request::StoreGet { component: component.clone(), key: key.clone() };
                        let before = ask(&host, get()).await;
                        let base64 = if bad_base64 { "#not base64#".to_owned() } else { b64(&value) };
                        let put = ask(&host, Request::StorePut { component: component.clone(), key: key.clone(), base64 }).await;
                        one_answer(&put)?;
                        let after = ask(&host, get()).await;
                        let valid = !key.is_empty() && key.len() <= 1024;
                        if valid && !bad_base64 {
                            prop_assert_eq!(&put, &serde_json::json!({ "ok": null }));
                            prop_assert_eq!(after, serde_json::json!({ "ok": b64(&value) }));
                        } else {
                            // Refused, with the reason, and nothing changed.
                            let error = put["error"].as_str().unwrap_or_default().to_owned();
                            prop_assert!(
                                if bad_base64 {
                                    error.starts_with("the value is not base64")
                                } else {
                                    error.starts_with("invalid key")
                                },
                                "{}",
                                error
                            );
                            prop_assert_eq!(after, before);
                        }
                    }
                    Step::Call { target, codec, bytes } => {
                        let payload = Payload { codec, bytes: bytes.clone() };
                        let answer = ask(&host, Request::Call {
                            target: target.clone(),
                            payload: WirePayload::from(&payload),
                            timeout_ms: 2000,
                        })
                        .await;
                        one_answer(&answer)?;
                        if target == "echo" {
                            let want = serde_json::json!({ "ok": { "payload": WirePayload::from(&payload) } });
                            prop_assert_eq!(answer, want);
                        } else if !["kv"].contains(&target.as_str()) {
                            let error = answer["error"].as_str().unwrap_or_default();
                            prop_assert!(error.contains("no component has the address"), "{}", error);
                        }
                    }
                }
            }
            // The host keeps serving.
            let probe = Payload { codec: codec::RAW, bytes: b"probe".to_vec() };
            prop_assert_eq!(
                host.call("echo", probe.clone(), Duration::from_secs(5)).await,
                Ok(Some(probe))
            );
            Ok(())
        })
    });
    rt.block_on(host.shutdown(Duration::from_secs(5)));
}
