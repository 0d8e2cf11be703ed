//! Property-test twins of the cargo-fuzz targets in `fuzz/` (which run on nightly, for as
//! long as one likes): the same input surfaces and invariants, on a fixed, small budget, so
//! that the normal test suite covers them.
//!
//! - Manifest text: a manifest, or an error naming the file and a line and column inside
//!   the text.
//! - Guest message fields (codec code, payload bytes, target name) from the host to real
//!   guests: exactly the predicted refusal, the echo of what was sent, or a typed outcome;
//!   and every component still answers afterwards.
//! - Storage keys and values against the model in `fuzz/src/storage_model.rs`: what was set
//!   is what is got; a refused write group changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use airssys_wasm::manifest::{Manifest, ManifestError};
use airssys_wasm::storage::{MAX_KEY, MAX_VALUE, Quota, Storage, StorageError, Usage, Write};
use airssys_wasm::{Grants, Host, HostBuilder, Payload, RequestError, SendError, codec};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestRunner};

use crate::util::{T, guest};

#[path = "../../../../fuzz/src/storage_model.rs"]
mod storage_model;

/// Run `test` on `cases` values of `strategy`; failures are shrunk and saved under
/// `proptest-regressions/`, and replayed first on the next run.
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
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

// ----- the manifest ----------------------------------------------------------------------

const FULL: &str = include_str!("manifests/full.toml");

/// Lines a manifest is made of, valid and not, to put together at random.
const FRAGMENTS: &[&str] = &[
    "[app]",
    "name = \"shop\"",
    "data_dir = \"data\"",
    "[engine]",
    "pool_components = 0",
    "max_memory = \"18446744073709551615 GiB\"",
    "max_memory = \"-1 MiB\"",
    "[trust]",
    "development = true",
    "[components.a]",
    "[components.b]",
    "source = \"a.wasm\"",
    "accepts = [\"json\", 0x51, \"nope\", 18446744073709551615]",
    "instances = 1025",
    "instances = 0",
    "restart = \"temporary\"",
    "[components.a.limits]",
    "cpu_per_message = \"25h\"",
    "cpu_per_message = \"99999999999999999999s\"",
    "memory = \"1.5 KiB\"",
    "max_payload = \"0\"",
    "rate = { per_second = 0, burst = 0 }",
    "[components.a.grants]",
    "send = [\"b\", \"*\", \"nobody\", \"host\"]",
    "storage = { quota = \"1 B\", keys = 0 }",
    "filesystem = [{ host = \"/\", guest = \"\", mode = \"rw\" }]",
    "network = { connect = [\"not an address\"] }",
    "[supervisor]",
    "children = [\"a\", \"a\", \"s\"]",
    "intensity = { restarts = 4294967295, within = \"400 days\" }",
    "[supervisors.s]",
    "children = [\"s\"]",
    "strategy = \"one-for-none\"",
    "x = 1",
    "\"",
    "= =",
    "[[components]]",
];

fn manifest_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..16)
            .prop_map(|lines| lines.join("\n")),
        // The full manifest with a span replaced.
        (0..FULL.len(), 0..64usize, "\\PC{0,12}").prop_map(|(at, len, insert)| {
            let start = (0..=at).rev().find(|&i| FULL.is_char_boundary(i)).unwrap_or(0);
            let end = ((start + len).min(FULL.len())..=FULL.len())
                .find(|&i| FULL.is_char_boundary(i))
                .unwrap_or(FULL.len());
            format!("{}{insert}{}", &FULL[..start], &FULL[end..])
        }),
    ]
}

#[test]
fn manifest_text_parses_or_is_refused_with_its_place() {
    check(4096, manifest_text(), |text| {
        match Manifest::parse(&text, "app.toml") {
            Err(ManifestError::Invalid { file, line, column, message }) => {
                prop_assert_eq!(file, "app.toml");
                prop_assert!(!message.is_empty());
                let lines = text.split('\n').count();
                prop_assert!((1..=lines).contains(&line), "line {} of {}", line, lines);
                prop_assert!(column >= 1);
                // The message reads as the library's: lowercase first word or a quote.
                let first = message.chars().next().unwrap();
                prop_assert!(!first.is_uppercase() || message.starts_with("TOML"), "{}", message);
            }
            Err(other) => prop_assert!(false, "parsing text read a file: {}", other),
            Ok(manifest) => {
                // Turned into a builder, a parsed manifest is accepted or refused with an
                // error (no audit file: the builder would create it).
                if manifest.audit.file.is_none() {
                    let _ = manifest.builder(std::path::Path::new("/nonexistent"));
                }
            }
        }
        Ok(())
    });
}

// ----- guest message fields --------------------------------------------------------------

/// Names of the host's components in these tests.
const ECHO: &str = "echo";
const STRICT: &str = "strict";
const CALC: &str = "calc";
const COUNTER: &str = "counter";
const POOL: &str = "pool";

async fn message_host(dir: &std::path::Path) -> Host {
    HostBuilder::default()
        .data_dir(dir)
        // Inputs crash `counter` on purpose: the supervisor must not give up on it.
        .intensity(u32::MAX, Duration::from_secs(1))
        .component(guest(ECHO, test_programs::ECHO))
        .component(
            guest(STRICT, test_programs::ECHO).max_payload(64).accepts(&[codec::RAW, codec::JSON]),
        )
        .component(
            guest(CALC, test_programs::CALC)
                .storage(Quota { bytes: 4096, keys: 16 })
                .config("name", CALC)
                .grants(Grants { request: vec![ECHO.into()], ..Grants::default() }),
        )
        .component(guest(COUNTER, test_programs::COUNTER))
        .component(guest(POOL, test_programs::ECHO).instances(2))
        .start()
        .await
        .unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Send(String, u32, Vec<u8>),
    Call(String, u32, Vec<u8>),
    Request(String, u32, Vec<u8>),
    Publish(String, u32, Vec<u8>),
}

fn codec_code() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(codec::RAW),
        Just(codec::JSON),
        Just(codec::CBOR),
        Just(codec::MESSAGEPACK),
        Just(codec::PROTOBUF),
        any::<u32>(),
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec![ECHO, STRICT, CALC, COUNTER, POOL, "pool/0", "pool/1"])
            .prop_map(str::to_owned),
        1 => proptest::sample::select(vec!["", "host", "pool/2", "echo/0", "Echo", "calc\0"])
            .prop_map(str::to_owned),
        1 => "\\PC{0,16}",
    ]
}

fn payload_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..100),
        // Typed requests the calculator knows, in the wrong codec or with wrong fields.
        proptest::sample::select(vec![
            br#"{"op":"add","a":1,"b":2}"#.to_vec(),
            br#"{"op":"div","a":1,"b":0}"#.to_vec(),
            br#"{"op":"div","a":-9223372036854775808,"b":-1}"#.to_vec(),
            br#"{"op":"add","a":9223372036854775807,"b":1}"#.to_vec(),
            br#"{"op":"ask","target":"echo","a":1,"b":2}"#.to_vec(),
            br#"{"op":"count"}"#.to_vec(),
            b"crash".to_vec(),
            b"fail".to_vec(),
        ]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    (0..4u8, target(), codec_code(), payload_bytes()).prop_map(|(kind, t, c, b)| match kind {
        0 => Op::Send(t, c, b),
        1 => Op::Call(t, c, b),
        2 => Op::Request(t, c, b),
        _ => Op::Publish(t, c, b),
    })
}

/// The router's answer, when it can be predicted from the fields alone.
fn refusal(target: &str, payload: &Payload) -> Option<SendError> {
    if ![ECHO, STRICT, CALC, COUNTER, POOL, "pool/0", "pool/1"].contains(&target) {
        return Some(SendError::UnknownTarget(target.to_owned()));
    }
    if target == STRICT {
        if payload.bytes.len() > 64 {
            return Some(SendError::PayloadTooLarge(64));
        }
        if ![codec::RAW, codec::JSON].contains(&payload.codec) {
            return Some(SendError::CodecNotAccepted(vec![codec::RAW, codec::JSON]));
        }
    }
    None
}

fn check_outcome(
    target: &str,
    payload: &Payload,
    outcome: &Result<Option<Payload>, RequestError>,
) -> Result<(), TestCaseError> {
    if let Some(refused) = refusal(target, payload) {
        prop_assert_eq!(outcome, &Err(RequestError::Refused(refused)));
    } else if [ECHO, STRICT, POOL, "pool/0", "pool/1"].contains(&target) {
        prop_assert_eq!(outcome, &Ok(Some(payload.clone())), "an echo must echo");
    } else if target == COUNTER && payload.bytes == b"crash" {
        prop_assert!(matches!(outcome, Err(RequestError::ReceiverCrashed(_))), "{:?}", outcome);
    } else if target == COUNTER && payload.bytes == b"fail" {
        prop_assert_eq!(outcome, &Err(RequestError::HandlerError("asked to fail".into())));
    } else if target == COUNTER {
        prop_assert!(matches!(outcome, Ok(Some(_))), "{:?}", outcome);
    } else {
        // The calculator decodes in the guest (SDK): a bad payload is its handler's error,
        // never a crash or a silence.
        prop_assert!(
            matches!(outcome, Ok(_) | Err(RequestError::HandlerError(_))),
            "calc answered {:?} to {:?}",
            outcome,
            payload
        );
    }
    Ok(())
}

/// Every component answers (the counter after its restart, if an input crashed it).
async fn assert_serving(host: &Host) {
    let probe = Payload { codec: codec::RAW, bytes: b"probe".to_vec() };
    for name in [ECHO, STRICT, POOL] {
        assert_eq!(host.call(name, probe.clone(), T).await, Ok(Some(probe.clone())), "{name}");
    }
    for name in [COUNTER, CALC] {
        let mut answered = false;
        for _ in 0..100 {
            match host.call(name, probe.clone(), T).await {
                Ok(_) | Err(RequestError::HandlerError(_)) => {
                    answered = true;
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        assert!(answered, "{name} no longer answers");
    }
}

#[test]
fn arbitrary_message_fields_get_a_response_or_a_typed_error() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let host = rt.block_on(message_host(dir.path()));
    check(256, proptest::collection::vec(op(), 1..6), |ops| {
        rt.block_on(async {
            for op in ops {
                match op {
                    Op::Send(target, codec, bytes) => {
                        let payload = Payload { codec, bytes };
                        let outcome = host.send(&target, payload.clone());
                        match refusal(&target, &payload) {
                            Some(refused) => prop_assert_eq!(outcome, Err(refused)),
                            None => prop_assert_eq!(outcome, Ok(())),
                        }
                    }
                    Op::Call(target, codec, bytes) => {
                        let payload = Payload { codec, bytes };
                        let outcome =
                            tokio::time::timeout(2 * T, host.call(&target, payload.clone(), T))
                                .await
                                .expect("a call ends within its timeout");
                        check_outcome(&target, &payload, &outcome)?;
                    }
                    Op::Request(target, codec, bytes) => {
                        let payload = Payload { codec, bytes };
                        let outcome = match host.request(&target, payload.clone(), T) {
                            Ok(pending) => tokio::time::timeout(2 * T, pending)
                                .await
                                .expect("a request ends within its timeout"),
                            Err(refused) => Err(RequestError::Refused(refused)),
                        };
                        check_outcome(&target, &payload, &outcome)?;
                    }
                    Op::Publish(topic, codec, bytes) => {
                        // Nobody subscribes: a valid topic reaches no one, an invalid one
                        // is refused with the reason.
                        match host.publish(&topic, Payload { codec, bytes }) {
                            Ok(n) => prop_assert_eq!(n, 0),
                            Err(airssys_wasm::TopicError::Invalid(why)) => {
                                prop_assert!(!why.is_empty());
                            }
                            Err(other) => prop_assert!(false, "host publish: {:?}", other),
                        }
                    }
                }
            }
            assert_serving(&host).await;
            Ok(())
        })
    });
    rt.block_on(host.shutdown(T));
}

// ----- storage ---------------------------------------------------------------------------

use storage_model::Model;

const SCOPES: [&str; 4] = ["a", "ab", "a/b", ""];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0..6u8).prop_map(|n| format!("k{n}")),
        1 => "\\PC{0,8}",
        1 => Just(String::new()),
        1 => (0..4usize).prop_map(|n| "x".repeat(MAX_KEY - 2 + n)),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..24),
        2 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        1 => Just(vec![7; MAX_VALUE + 1]),
    ]
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        (key(), value()).prop_map(|(k, v)| Write::Set(k, v)),
        key().prop_map(Write::Delete),
        (key(), prop_oneof![any::<i64>(), -3..3i64]).prop_map(|(k, d)| Write::Increment(k, d)),
        (key(), proptest::option::of(value()), proptest::option::of(value()))
            .prop_map(|(key, expected, new)| Write::CompareAndSwap { key, expected, new }),
    ]
}

#[derive(Debug, Clone)]
enum StoreOp {
    Get(usize, String),
    Write(usize, Option<Quota>, Vec<Write>),
    Keys(usize, String),
    Import(usize, String),
    Copy(usize, usize),
}

fn store_op() -> impl Strategy<Value = StoreOp> {
    let quota =
        proptest::option::of((0..400u64, 0..8u64).prop_map(|(bytes, keys)| Quota { bytes, keys }));
    prop_oneof![
        1 => (0..4usize, key()).prop_map(|(s, k)| StoreOp::Get(s, k)),
        4 => (0..4usize, quota, proptest::collection::vec(write(), 0..5))
            .prop_map(|(s, q, w)| StoreOp::Write(s, q, w)),
        1 => (0..4usize, "(k|x)?[0-9]?").prop_map(|(s, p)| StoreOp::Keys(s, p)),
        1 => (0..4usize, proptest::sample::select(vec![
            "{\"key\":\"k1\",\"text\":\"one\"}\n{\"key\":\"k2\",\"base64\":\"AAE=\"}",
            "{\"key\":\"k1\",\"text\":\"one\"}\nnot json",
            "{\"key\":\"\",\"text\":\"empty key\"}",
            "{\"key\":\"k3\",\"text\":\"t\",\"base64\":\"AA==\"}",
            "{\"key\":\"k3\",\"base64\":\"!!\"}",
            "{\"key\":\"k3\"}",
            "{\"key\":\"k4\",\"text\":\"x\",\"extra\":1}",
            "\n\n   \n",
        ]))
        .prop_map(|(s, l)| StoreOp::Import(s, l.to_owned())),
        1 => (0..4usize, 0..4usize).prop_map(|(a, b)| StoreOp::Copy(a, b)),
    ]
}

/// The store's view of a scope equals the model's: keys in order, values, usage.
async fn same_as_model(storage: &Storage, model: &Model, scope: &str) {
    let empty = BTreeMap::new();
    let data = model.get(scope).unwrap_or(&empty);
    let keys = storage.keys(scope, "").await.unwrap();
    assert_eq!(keys, data.keys().cloned().collect::<Vec<_>>(), "keys of {scope:?}");
    for (k, v) in data {
        assert_eq!(storage.get(scope, k).await.unwrap().as_ref(), Some(v), "{scope:?}/{k:?}");
    }
    assert_eq!(storage.usage(scope).await.unwrap(), storage_model::usage(data), "{scope:?}");
}

async fn run_store_ops(storage: &Storage, ops: Vec<StoreOp>) -> Result<(), TestCaseError> {
    // Each case starts from an empty store.
    for scope in SCOPES {
        let keys = storage.keys(scope, "").await.unwrap();
        if !keys.is_empty() {
            let writes = keys.into_iter().map(Write::Delete).collect();
            storage.write(scope, Quota::UNLIMITED, writes).await.unwrap();
        }
        prop_assert_eq!(storage.usage(scope).await.unwrap(), Usage::default());
    }
    let mut model = Model::new();
    for op in ops {
        match op {
            StoreOp::Get(s, key) => {
                let got = storage.get(SCOPES[s], &key).await;
                if storage_model::valid_key(&key) {
                    let want = model.get(SCOPES[s]).and_then(|d| d.get(&key)).cloned();
                    prop_assert_eq!(got, Ok(want));
                } else {
                    prop_assert!(matches!(got, Err(StorageError::InvalidKey(_))), "{:?}", got);
                }
            }
            StoreOp::Write(s, quota, writes) => {
                let quota = quota.unwrap_or(Quota::UNLIMITED);
                let data = model.entry(SCOPES[s].to_owned()).or_default();
                let want = storage_model::write(data, quota, &writes);
                let got = storage.write(SCOPES[s], quota, writes).await;
                match (want, got) {
                    (Ok((next, done)), Ok(written)) => {
                        prop_assert_eq!(written, done);
                        *data = next;
                    }
                    (Err(want), Err(e)) => {
                        prop_assert_eq!(storage_model::kind(&e), want, "{}", e);
                        // A refusal says what was wrong, in the library's style.
                        let text = e.to_string();
                        prop_assert!(text.chars().next().is_some_and(char::is_lowercase));
                    }
                    (want, got) => prop_assert!(false, "model {:?}, store {:?}", want, got),
                }
            }
            StoreOp::Keys(s, prefix) => {
                let got = storage.keys(SCOPES[s], &prefix).await.unwrap();
                let want: Vec<String> = model
                    .get(SCOPES[s])
                    .map(|d| d.keys().filter(|k| k.starts_with(&prefix)).cloned().collect())
                    .unwrap_or_default();
                prop_assert_eq!(got, want);
            }
            StoreOp::Import(s, lines) => {
                let good = [
                    ("{\"key\":\"k1\",\"text\":\"one\"}\n{\"key\":\"k2\",\"base64\":\"AAE=\"}", 2),
                    ("\n\n   \n", 0),
                ];
                let got = storage.import(SCOPES[s], &lines).await;
                match good.iter().find(|(l, _)| *l == lines) {
                    Some((_, n)) => {
                        prop_assert_eq!(got, Ok(*n));
                        if *n == 2 {
                            let data = model.entry(SCOPES[s].to_owned()).or_default();
                            data.insert("k1".into(), b"one".to_vec());
                            data.insert("k2".into(), vec![0, 1]);
                        }
                    }
                    // A malformed line imports nothing and names its line.
                    None => prop_assert!(
                        matches!(got, Err(StorageError::Import { line, .. }) if line >= 1),
                        "{:?}",
                        got
                    ),
                }
            }
            StoreOp::Copy(from, to) => {
                let mut out = Vec::new();
                let count = storage.export(SCOPES[from], &mut out).await.unwrap();
                let source = model.get(SCOPES[from]).cloned().unwrap_or_default();
                prop_assert_eq!(count, source.len());
                let text = String::from_utf8(out).unwrap();
                prop_assert_eq!(storage.import(SCOPES[to], &text).await, Ok(count));
                model.entry(SCOPES[to].to_owned()).or_default().extend(source);
            }
        }
        for scope in SCOPES {
            same_as_model(storage, &model, scope).await;
        }
    }
    Ok(())
}

#[test]
fn storage_keeps_what_was_set_and_refusals_change_nothing() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).unwrap();
    check(256, proptest::collection::vec(store_op(), 1..10), |ops| {
        rt.block_on(run_store_ops(&storage, ops))
    });
}
