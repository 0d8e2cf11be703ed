//! Storage keys and values through `airssys_wasm::storage::Storage` (the redb backend in a
//! temporary directory) against a model: what was set is what is got, in every scope; a
//! refused write (bad key, too large, not a counter, over quota) leaves the data and the
//! usage exactly as they were; listing, usage and export agree with the model; an export
//! imports back to the same data.

#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use airssys_fuzz::block_on;
use airssys_fuzz::storage_model::{self as rules, Model, kind, usage, valid_key};
use airssys_wasm::storage::{MAX_KEY, MAX_VALUE, Quota, Storage, StorageError, Usage, Write};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Key {
    Short(u8),
    Text(String),
    Long(u8),
    Empty,
}

impl Key {
    fn text(&self) -> String {
        match self {
            // A few keys that collide often, some sharing prefixes.
            Key::Short(n) => format!("k{}", n % 8),
            Key::Text(s) => s.clone(),
            // Around the length limit.
            Key::Long(n) => "x".repeat(MAX_KEY - 2 + usize::from(n % 4)),
            Key::Empty => String::new(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Value {
    Bytes(Vec<u8>),
    Number(i64),
    Huge,
}

impl Value {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Bytes(b) => b.clone(),
            Value::Number(n) => n.to_string().into_bytes(),
            Value::Huge => vec![7; MAX_VALUE + 1],
        }
    }
}

#[derive(Debug, Arbitrary)]
enum W {
    Set(Key, Value),
    Delete(Key),
    Increment(Key, i64),
    Cas(Key, Option<Value>, Option<Value>),
}

#[derive(Debug, Arbitrary)]
enum Op {
    Get { scope: u8, key: Key },
    Write { scope: u8, quota: Option<(u16, u8)>, writes: Vec<W> },
    Keys { scope: u8, prefix: String },
    Page { scope: u8, prefix: String, after: Option<Key>, limit: u8 },
    Import { scope: u8, lines: String },
    ExportImport { from: u8, to: u8 },
}

fn scope(n: u8) -> String {
    // Scopes whose names are prefixes of each other, and one empty.
    ["a", "ab", "a/b", ""][usize::from(n % 4)].to_owned()
}

struct Fixture {
    storage: Storage,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let storage = Storage::open(dir.path()).expect("the store opens");
        Fixture { storage, _dir: dir }
    })
}

/// Empty every scope, so that each input starts from an empty store.
async fn clear(storage: &Storage) {
    for n in 0..4 {
        let s = scope(n);
        let keys = storage.keys(&s, "").await.expect("keys");
        if !keys.is_empty() {
            let writes = keys.into_iter().map(Write::Delete).collect();
            storage.write(&s, Quota::UNLIMITED, writes).await.expect("clear");
        }
        assert_eq!(storage.usage(&s).await.expect("usage"), Usage::default());
    }
}

async fn check_scope(storage: &Storage, model: &Model, n: u8) {
    let s = scope(n);
    let empty = BTreeMap::new();
    let data = model.get(&s).unwrap_or(&empty);
    let keys = storage.keys(&s, "").await.expect("keys");
    assert_eq!(keys, data.keys().cloned().collect::<Vec<_>>(), "keys of scope {s:?}");
    for (k, v) in data {
        assert_eq!(storage.get(&s, k).await.expect("get").as_ref(), Some(v), "{s:?}/{k:?}");
    }
    assert_eq!(storage.usage(&s).await.expect("usage"), usage(data), "usage of {s:?}");
}

async fn run(ops: Vec<Op>) {
    let storage = &fixture().storage;
    clear(storage).await;
    let mut model = Model::new();
    for op in ops.into_iter().take(16) {
        match op {
            Op::Get { scope: n, key } => {
                let (s, k) = (scope(n), key.text());
                let got = storage.get(&s, &k).await;
                if valid_key(&k) {
                    let want = model.get(&s).and_then(|d| d.get(&k)).cloned();
                    assert_eq!(got, Ok(want), "get {s:?}/{k:?}");
                } else {
                    assert!(matches!(got, Err(StorageError::InvalidKey(_))), "{got:?}");
                }
            }
            Op::Write { scope: n, quota, writes } => {
                let s = scope(n);
                let quota = quota.map_or(Quota::UNLIMITED, |(b, k)| Quota {
                    bytes: u64::from(b),
                    keys: u64::from(k),
                });
                let writes: Vec<Write> = writes
                    .into_iter()
                    .take(8)
                    .map(|w| match w {
                        W::Set(k, v) => Write::Set(k.text(), v.bytes()),
                        W::Delete(k) => Write::Delete(k.text()),
                        W::Increment(k, d) => Write::Increment(k.text(), d),
                        W::Cas(k, e, v) => Write::CompareAndSwap {
                            key: k.text(),
                            expected: e.map(|e| e.bytes()),
                            new: v.map(|v| v.bytes()),
                        },
                    })
                    .collect();
                let data = model.entry(s.clone()).or_default();
                let want = rules::write(data, quota, &writes);
                let got = storage.write(&s, quota, writes).await;
                match (want, got) {
                    (Ok((next, done)), Ok(written)) => {
                        assert_eq!(written, done);
                        *data = next;
                    }
                    (Err(want), Err(e)) => assert_eq!(kind(&e), want, "{e}"),
                    (want, got) => panic!("model {want:?} but store {got:?}"),
                }
                check_scope(storage, &model, n).await;
            }
            Op::Keys { scope: n, prefix } => {
                let s = scope(n);
                let got = storage.keys(&s, &prefix).await.expect("keys");
                let want: Vec<String> = model
                    .get(&s)
                    .map(|d| d.keys().filter(|k| k.starts_with(&prefix)).cloned().collect())
                    .unwrap_or_default();
                assert_eq!(got, want, "keys {s:?} {prefix:?}");
            }
            Op::Page { scope: n, prefix, after, limit } => {
                let s = scope(n);
                let after = after.map(|a| a.text());
                let got = storage
                    .keys_page(&s, &prefix, after.as_deref(), usize::from(limit))
                    .await
                    .expect("keys page");
                let want: Vec<String> = model
                    .get(&s)
                    .map(|d| {
                        d.keys()
                            .filter(|k| k.starts_with(&prefix))
                            .filter(|k| after.as_ref().is_none_or(|a| k.as_str() > a.as_str()))
                            .take(usize::from(limit).max(1))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(got, want, "page {s:?} {prefix:?} after {after:?}");
            }
            Op::Import { scope: n, lines } => {
                let s = scope(n);
                let before = model.get(&s).cloned().unwrap_or_default();
                match storage.import(&s, &lines).await {
                    Ok(count) => {
                        // Only well-formed lines import: apply them to the model by reading
                        // them back the way `export` writes them.
                        let data = model.entry(s.clone()).or_default();
                        let mut imported = 0;
                        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
                            let v: serde_json::Value = serde_json::from_str(line).expect("json");
                            let key = v["key"].as_str().expect("key").to_owned();
                            let value = match (&v["text"], &v["base64"]) {
                                (serde_json::Value::String(t), serde_json::Value::Null) => {
                                    t.clone().into_bytes()
                                }
                                _ => {
                                    use base64::Engine as _;
                                    base64::engine::general_purpose::STANDARD
                                        .decode(v["base64"].as_str().expect("base64"))
                                        .expect("valid base64")
                                }
                            };
                            data.insert(key, value);
                            imported += 1;
                        }
                        assert_eq!(count, imported);
                    }
                    Err(e) => {
                        assert!(matches!(e, StorageError::Import { line, .. } if line >= 1), "{e}");
                        assert_eq!(model.get(&s).cloned().unwrap_or_default(), before);
                    }
                }
                check_scope(storage, &model, n).await;
            }
            Op::ExportImport { from, to } => {
                let (a, b) = (scope(from), scope(to));
                let mut out = Vec::new();
                let count = storage.export(&a, &mut out).await.expect("export");
                let text = String::from_utf8(out).expect("export is UTF-8");
                let source = model.get(&a).cloned().unwrap_or_default();
                assert_eq!(count, source.len());
                assert_eq!(storage.import(&b, &text).await, Ok(count));
                model.entry(b).or_default().extend(source);
                check_scope(storage, &model, to).await;
            }
        }
    }
    for n in 0..4 {
        check_scope(storage, &model, n).await;
    }
}

fuzz_target!(|ops: Vec<Op>| {
    block_on("storage ops", run(ops));
});
