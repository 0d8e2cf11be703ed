//! The app manifest: parsing, strict checking with file:line:column errors, and its JSON
//! Schema kept in sync with the types.

use std::time::Duration;

use airssys_wasm::codec;
use airssys_wasm::manifest::{DirMode, Manifest, RestartPolicy, SupervisorStrategy};

const FULL: &str = include_str!("manifests/full.toml");

#[test]
fn every_field_parses() {
    let m = Manifest::parse(FULL, "full.toml").unwrap();
    assert_eq!(m.app.name, "shop");
    assert_eq!(m.engine.pool_components, Some(200));
    assert_eq!(m.engine.max_memory.unwrap().0, 128 << 20);
    let names: Vec<&str> = m.components.keys().map(String::as_str).collect();
    assert_eq!(names, ["frontend", "orders", "audit-log"], "declaration order is kept");
    let f = &m.components["frontend"];
    assert_eq!(f.config["greeting"], "hello");
    let accepts: Vec<u32> = f.accepts.iter().map(|c| c.0).collect();
    assert_eq!(accepts, [codec::JSON, codec::RAW, codec::CBOR]);
    assert_eq!(f.instances, Some(3));
    let l = &f.limits;
    assert_eq!(l.memory.unwrap().0, 32 << 20);
    assert_eq!(l.cpu_per_message.unwrap().0, Duration::from_millis(250));
    assert_eq!(l.max_payload.unwrap().0, 64 << 10);
    assert_eq!((l.rate.unwrap().per_second, l.rate.unwrap().burst), (1000, 100));
    assert_eq!(l.pending_requests, Some(16));
    let g = &f.grants;
    assert_eq!(
        g.send.iter().map(|s| s.get_ref().as_str()).collect::<Vec<_>>(),
        ["orders", "audit-*"]
    );
    assert_eq!(g.filesystem[0].mode, DirMode::Ro);
    assert_eq!(g.storage.unwrap().quota.0, 10 << 20);
    assert_eq!(g.process[0].args, ["log", "**"]);
    assert_eq!(m.components["orders"].restart, RestartPolicy::Transient);
    assert_eq!(m.supervisor.strategy, SupervisorStrategy::RestForOne);
    assert_eq!(m.supervisor.intensity.unwrap().within.0, Duration::from_secs(30));
    assert_eq!(m.supervisors["backend"].strategy, SupervisorStrategy::OneForAll);
}

/// `(manifest, line, column, words the message must contain)`.
fn rejects(text: &str, line: usize, words: &[&str]) {
    let error = Manifest::parse(text, "app.toml").expect_err("accepted a bad manifest").to_string();
    let prefix = format!("app.toml:{line}:");
    assert!(error.starts_with(&prefix), "expected {prefix}..., got: {error}");
    for word in words {
        assert!(error.contains(word), "{word:?} missing from: {error}");
    }
}

const APP: &str = "[app]\nname = \"x\"\n";

#[test]
fn unknown_fields_are_errors_with_their_line() {
    rejects(&format!("{APP}[components.a]\nsource = \"a.wasm\"\nsorce = \"b\"\n"), 5, &["sorce"]);
    rejects(
        &format!(
            "{APP}[components.a]\nsource = \"a.wasm\"\n[components.a.limits]\nmemroy = \"1MiB\"\n"
        ),
        6,
        &["memroy", "memory"],
    );
    rejects(&format!("{APP}[engin]\n"), 3, &["engin"]);
}

#[test]
fn values_with_units_say_what_was_expected() {
    let limits = |line: &str| {
        format!("{APP}[components.a]\nsource = \"a.wasm\"\n[components.a.limits]\n{line}\n")
    };
    rejects(&limits("memory = \"64XB\""), 6, &["64XB", "64MiB"]);
    rejects(&limits("cpu_per_message = \"fast\""), 6, &["fast", "250ms"]);
    rejects(&limits("cpu_per_message = 5"), 6, &["duration"]);
    rejects(&limits("mailbox = \"many\""), 6, &["mailbox"]);
    rejects(
        &format!("{APP}[components.a]\nsource = \"a.wasm\"\naccepts = [\"yaml\"]\n"),
        5,
        &["yaml", "messagepack"],
    );
    rejects(
        &format!("{APP}[components.a]\nsource = \"a.wasm\"\nrestart = \"sometimes\"\n"),
        5,
        &["sometimes", "transient"],
    );
    rejects("[app\nname = 1\n", 1, &[]);
}

#[test]
fn references_are_checked_with_their_line() {
    rejects(
        &format!(
            "{APP}[components.a]\nsource = \"a.wasm\"\n[supervisor]\nchildren = [\"a\", \"ghost\"]\n"
        ),
        6,
        &["ghost"],
    );
    rejects(
        &format!(
            "{APP}[components.a]\nsource = \"a.wasm\"\n[supervisor]\nchildren = [\"a\", \"s\"]\n[supervisors.s]\nchildren = [\"a\"]\n"
        ),
        8,
        &["\"a\"", "both"],
    );
    rejects(
        &format!(
            "{APP}[components.a]\nsource = \"a.wasm\"\n[components.a.grants]\nsend = [\"b\"]\n"
        ),
        6,
        &["\"b\"", "no component"],
    );
    rejects(&format!("{APP}[components.a]\nconfig = {{}}\n"), 1, &["\"a\"", "source"]);
    rejects(&format!("{APP}[supervisors.lonely]\n"), 1, &["lonely"]);
    // Patterns and the host address need not name a component.
    let ok = format!(
        "{APP}[components.a]\nsource = \"a.wasm\"\n[components.a.grants]\nsend = [\"b-*\"]\naccept_from = [\"host\"]\n"
    );
    Manifest::parse(&ok, "app.toml").unwrap();
}

/// `docs/manifest.schema.json` is generated from the types; regenerate it with
/// `UPDATE_SCHEMA=1 cargo test -p airssys-wasm --test all manifest`.
#[test]
fn json_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/manifest.schema.json");
    let generated = serde_json::to_string_pretty(&schemars::schema_for!(Manifest)).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(current == generated, "docs/manifest.schema.json is stale: run with UPDATE_SCHEMA=1");
}

/// A host built from a manifest runs its components with their config, grants, limits and
/// supervision tree (a nested supervisor included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_runs_as_an_app() {
    use crate::util::{T, raw, text};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[app]
name = "demo"
data_dir = "data"

[trust]
development = true

[audit]
file = "audit.jsonl"

[components.counter]
source = "{counter}"
accepts = ["raw"]
grants = {{ accept_from = ["relay"] }}

[components.relay]
source = "{relay}"
config = {{ target = "counter" }}
limits = {{ rate = {{ per_second = 1, burst = 3 }} }}
grants = {{ send = ["counter"] }}

[components.echo]
source = "{echo}"

[components.kv]
source = "{kv}"
config = {{ greeting = "hi" }}
grants = {{ storage = {{ quota = "1KiB", keys = 10 }} }}

[components.tools]
source = "{misbehave}"
grants = {{ process = [{{ command = "echo", args = ["hi", "*"] }}] }}

[supervisor]
children = ["counter", "relay", "inner"]

[supervisors.inner]
strategy = "one-for-all"
children = ["echo"]
"#,
            counter = test_programs::COUNTER,
            relay = test_programs::RELAY,
            echo = test_programs::ECHO,
            misbehave = test_programs::MISBEHAVE,
            kv = test_programs::KV,
        ),
    )
    .unwrap();
    let host = airssys_wasm::HostBuilder::from_manifest(&path).unwrap().start().await.unwrap();
    assert_eq!(text(host.call("kv", raw("set:a=1"), T).await.unwrap()), "ok");
    assert_eq!(text(host.call("kv", raw("usage"), T).await.unwrap()), "2 1 1024 10");
    assert!(dir.path().join("data/storage.redb").is_file());
    // Host services: configuration from the manifest, read through the `config` import.
    assert_eq!(text(host.call("kv", raw("config:greeting"), T).await.unwrap()), "hi");
    assert_eq!(text(host.call("kv", raw("config:nope"), T).await.unwrap()), "unset");
    let run = |line: &'static str| host.call("tools", raw(line), T);
    assert_eq!(text(run("run:5000:echo\thi\tthere").await.unwrap()), "exit 0: hi there\n");
    assert_eq!(
        text(run("run:5000:echo\tbye\tthere").await.unwrap()),
        "error: ProcessError::NotPermitted"
    );
    assert_eq!(text(host.call("relay", raw("send:x"), T).await.unwrap()), "sent");
    // counter accepts only the relay; the relay may not call echo.
    assert_eq!(host.send("counter", raw("x")), Err(airssys_wasm::SendError::NotPermitted));
    assert_eq!(
        text(host.call("relay", raw("send-to:echo:x"), T).await.unwrap()),
        "error: SendError::NotPermitted"
    );
    assert_eq!(
        text(host.call("relay", raw("flood:10"), T).await.unwrap()),
        "sent 2, refused 8 SendError::RateLimited"
    );
    assert_eq!(text(host.call("echo", raw("nested"), T).await.unwrap()), "nested");
    let mut names: Vec<String> =
        host.components().await.iter().map(|c| c.address.to_string()).collect();
    names.sort();
    assert_eq!(names, ["counter", "echo", "kv", "relay", "tools"]);
    assert!(matches!(host.stop("echo").await, Err(airssys_wasm::HostError::NotSupported(_))));
    host.shutdown(T).await;
}

/// A grant naming something the host does not have is refused, never silently ignored.
#[test]
fn grants_of_missing_things_are_refused() {
    let text = format!(
        "[app]\nname = \"x\"\n[trust]\ndevelopment = true\n[components.a]\nsource = \"{}\"\n[components.a.grants]\nenv = [\"AIRSSYS_SURELY_UNSET_VARIABLE\"]\n",
        test_programs::ECHO
    );
    let error = Manifest::parse(&text, "app.toml")
        .unwrap()
        .builder(std::path::Path::new("."))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("AIRSSYS_SURELY_UNSET_VARIABLE"), "{error}");
}

/// Hostile values are refused with a clear error, never a panic.
#[test]
fn hostile_values_are_refused() {
    let comp = |extra: &str| format!("{APP}[components.a]\nsource = \"a.wasm\"\n{extra}\n");
    for (text, words) in [
        (comp("instances = 4294967295"), &["at most 1000000 instances"][..]),
        (comp("[components.a.limits]\ncpu_per_message = \"300000000000y\""), &["24h"][..]),
        (
            format!(
                "{APP}[components.a]\nsource = \"a.wasm\"\n[supervisor]\nchildren = [\"(root)\"]\n[supervisors.\"(root)\"]\n"
            ),
            &["reserved"][..],
        ),
        (
            format!(
                "{APP}[components.a]\nsource = \"a.wasm\"\n[supervisor]\nchildren = [\"a\"]\n[supervisors.a]\n"
            ),
            &["both"][..],
        ),
        (format!("{APP}[components.a]\nsource = \"a.wasm\"\nsource = \"b\"\n"), &["duplicate"][..]),
        ("[app]\nname = \"é\u{301}\"\n[x".to_string(), &[][..]),
    ] {
        let error = Manifest::parse(&text, "app.toml").expect_err(&text).to_string();
        assert!(error.starts_with("app.toml:"), "{error}");
        for w in words {
            assert!(error.contains(w), "{w:?} missing from {error}");
        }
    }
}

/// A manifest must say whom it trusts.
#[test]
fn trust_must_be_explicit() {
    let base = format!("{APP}[components.a]\nsource = \"{}\"\n", test_programs::ECHO);
    let build = |extra: &str| {
        Manifest::parse(&format!("{base}{extra}"), "app.toml")
            .unwrap()
            .builder(std::path::Path::new("."))
    };
    let error = build("").unwrap_err().to_string();
    assert!(error.contains("[trust]"), "{error}");
    let error = build("[trust]\ndevelopment = true\nkeys = [\"00\"]\n").unwrap_err().to_string();
    assert!(error.contains("choose one"), "{error}");
    let error = build("[trust]\nkeys = [\"not-hex\"]\n").unwrap_err().to_string();
    assert!(error.contains("not-hex"), "{error}");
    assert!(build("[trust]\ndevelopment = true\n").is_ok());
}
