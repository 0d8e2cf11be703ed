//! Guests written in Python (componentize-py) and JavaScript (componentize-js), built from
//! source by the test build, run the same end-to-end checks as the Rust guests: messaging with
//! Rust components both ways, publish and subscribe, storage across a crash and a host
//! restart, a denied capability (typed error and audit record), a trap restarted in place and
//! an infinite loop trapped at its budget. Both probes understand the same commands
//! (`crates/test-programs/guests-python/probe/app.py`).

use std::path::PathBuf;
use std::time::Duration;

use airssys_wasm::storage::Quota;
use airssys_wasm::{ComponentSpec, Grants, Host, HostBuilder};

use crate::util::*;

/// Compiling a Python or JavaScript guest takes seconds: every host here shares one artifact
/// cache, so each is compiled once per test run.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artifact-cache")
}

/// Compile `path` into the shared cache once, one compile at a time, off the executor.
async fn precompiled(path: &'static str) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    tokio::task::spawn_blocking(move || {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = std::fs::read(path).unwrap();
        airssys_wasm::inspect::precompile(&bytes, &cache_dir()).unwrap();
    })
    .await
    .unwrap();
}

async fn ask(host: &Host, who: &str, what: &str) -> String {
    text(host.call(who, raw(what), T).await.unwrap())
}

/// Ask `who` for `what` until the answer has a line equal to `want` (or ten seconds passed);
/// the last answer.
async fn eventually(host: &Host, who: &str, what: &str, want: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = ask(host, who, what).await;
        if got.lines().any(|l| l == want) || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The probe `p` talks to the Rust relay `rust` (and `rust` to it), publishes to the probe
/// `q`, stores values, is refused what it was not granted, crashes and spins.
async fn end_to_end(language: &str, probe: &'static str) {
    precompiled(probe).await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let quota = Quota { bytes: 1 << 20, keys: 1000 };
    let grants = Grants {
        send: vec!["rust".into()],
        request: vec!["rust".into()],
        publish: vec!["news".into()],
        ..Grants::default()
    };
    let start = || {
        HostBuilder::default()
            .cache_dir(cache_dir())
            .data_dir(dir.path().join("data"))
            .audit(airssys_osl::AuditLog::file(&audit).unwrap())
            .component(
                guest("p", probe).grants(grants.clone()).config("target", "rust").storage(quota),
            )
            .component(relay("rust").config("target", "p"))
            .component(
                guest("q", probe)
                    .grants(Grants { subscribe: vec!["news".into()], ..Grants::default() })
                    .config("subscribe", "news"),
            )
            .component(
                ComponentSpec::new("spinner", airssys_wasm::Source::File(probe.into()))
                    .cpu_per_message(Duration::from_millis(300)),
            )
            .start()
    };
    let host = start().await.unwrap_or_else(|e| panic!("{language}: {e}"));

    // Host -> guest, and the sender the host stamps.
    assert_eq!(ask(&host, "p", "echo:hello").await, "hello", "{language}");
    assert_eq!(ask(&host, "p", "whoami").await, "host", "{language}");
    assert_eq!(ask(&host, "p", "self").await, "p", "{language}");
    // Guest -> Rust: call (the relay answers `whoami` with the stamped sender), send, request.
    assert_eq!(ask(&host, "p", "call:whoami").await, "p", "{language}");
    assert_eq!(ask(&host, "p", "send:log:hi").await, "sent", "{language}");
    let got = eventually(&host, "rust", "received", "log:hi from p").await;
    assert!(got.lines().any(|l| l == "log:hi from p"), "{language}: {got}");
    let requested = ask(&host, "p", "request:5000:self").await;
    assert!(requested.starts_with("requested "), "{language}: {requested}");
    let got = eventually(&host, "p", "callbacks", "ok:rust").await;
    assert_eq!(got, "ok:rust", "{language}");
    // Rust -> guest.
    assert_eq!(ask(&host, "rust", "call:echo:back").await, "back", "{language}");
    // Publish and subscribe, guest to guest.
    assert_eq!(ask(&host, "p", "publish:news:hello").await, "published 1", "{language}");
    let got = eventually(&host, "q", "received", "news:hello from p").await;
    assert_eq!(got, "news:hello from p", "{language}");

    // A denied capability: a typed error for the guest, a record in the audit log.
    assert_eq!(ask(&host, "p", "send-to:q:x").await, "error:not-permitted", "{language}");
    assert_eq!(ask(&host, "p", "publish:gossip:x").await, "error:not-permitted", "{language}");

    // Storage survives a trap; the instance restarts in place with fresh memory.
    assert_eq!(ask(&host, "p", "put:greeting:hello").await, "stored", "{language}");
    assert_eq!(ask(&host, "p", "incr:visits").await, "1", "{language}");
    ask(&host, "p", "count").await;
    let crashed = host.call("p", raw("crash"), T).await;
    assert!(crashed.is_err(), "{language}: a crash answered {crashed:?}");
    assert_eq!(ask(&host, "p", "count").await, "1", "{language}: state survived the trap");
    assert_eq!(ask(&host, "p", "get:greeting").await, "hello", "{language}");
    assert_eq!(host.restarts("p"), Some(1), "{language}");
    // An error result is not a trap.
    let failed = host.call("p", raw("fail:nope"), T).await.unwrap_err();
    assert!(failed.to_string().contains("nope"), "{language}: {failed}");
    assert_eq!(host.restarts("p"), Some(1), "{language}");

    // An infinite loop is trapped at its CPU budget, and the component serves again.
    let spun = host.call("spinner", raw("spin"), Duration::from_secs(30)).await;
    assert!(spun.is_err(), "{language}: a spin answered {spun:?}");
    assert_eq!(ask(&host, "spinner", "echo:awake").await, "awake", "{language}");
    assert_eq!(host.restarts("spinner"), Some(1), "{language}");
    host.shutdown(T).await;

    let denials = airssys_osl::read_audit(&audit, Some("p"), &["deny"]).unwrap();
    let denied = |action: &str, resource: &str| {
        denials.iter().any(|e| e.action == action && e.resource == resource)
    };
    assert!(denied("message-send", "q"), "{language}: {denials:#?}");

    // Storage survives a restart of the host.
    let host = start().await.unwrap();
    assert_eq!(ask(&host, "p", "get:greeting").await, "hello", "{language}");
    assert_eq!(ask(&host, "p", "incr:visits").await, "2", "{language}");
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_guest_end_to_end() {
    end_to_end("python", test_programs::PYTHON_PROBE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_guest_end_to_end() {
    end_to_end("javascript", test_programs::JS_PROBE).await;
}

/// A pool of 300 Python components starts with the default engine settings (a Python guest
/// instantiates about 14 core modules, where a Rust one has 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_python_components_start_with_defaults() {
    precompiled(test_programs::PYTHON_PROBE).await;
    let host = HostBuilder::default()
        .cache_dir(cache_dir())
        .component(guest("py", test_programs::PYTHON_PROBE).instances(300))
        .start()
        .await
        .unwrap();
    for i in [0, 150, 299] {
        assert_eq!(ask(&host, &format!("py/{i}"), "self").await, format!("py/{i}"));
    }
    host.shutdown(T).await;
}

/// A pool that can never fit the engine's instance pool is refused before anything starts,
/// saying which limit and what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_too_large_for_the_engine_says_what_to_set() {
    precompiled(test_programs::PYTHON_PROBE).await;
    let engine = airssys_wasm::EngineConfig {
        pool_components: Some(20),
        cache_dir: Some(cache_dir()),
        ..Default::default()
    };
    let started = HostBuilder::default()
        .engine(engine)
        .component(guest("py", test_programs::PYTHON_PROBE).instances(50))
        .start()
        .await;
    let Err(error) = started else { panic!("50 instances started in a pool of 20") };
    let error = error.to_string();
    assert!(error.contains("pool_components") && error.contains("at least"), "{error}");
}
