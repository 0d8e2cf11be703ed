//! Hot code upgrade (`Host::upgrade`): the two builds of the `versioned` guest (`v1`, `v2`),
//! which answer `VERSION:n` and hand their count over, under a stream of calls and sends;
//! rollback; and upgrades refused before anything changes.

use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::trust::{SecretKey, TrustPolicy};
use airssys_wasm::{ComponentSpec, Host, HostError, Source, Upgrade};

use crate::util::{T, guest, raw, relay, text};

fn v1(name: &str) -> ComponentSpec {
    guest(name, test_programs::VERSIONED_ONE)
}

fn to_v2() -> Upgrade {
    Upgrade::new(Source::File(test_programs::VERSIONED_TWO.into()))
}

async fn version_of(host: &Host, address: &str) -> Arc<str> {
    let listed = host.components().await;
    let info = listed.iter().find(|c| &*c.address == address).expect("listed");
    Arc::clone(&info.version)
}

async fn answer(host: &Host, target: &str, what: &str) -> String {
    text(host.call(target, raw(what), T).await.unwrap())
}

/// Under a steady stream of calls and sends from another component, an upgrade loses and
/// duplicates nothing: every call is answered, the answers switch from `v1` to `v2` at one
/// point, the count goes on across the switch (handed over), and the count at the end is
/// the number of messages sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_under_a_stream_loses_and_duplicates_nothing() {
    let host = Host::builder()
        .component(v1("counter"))
        .component(relay("caller").config("target", "counter"))
        .start()
        .await
        .unwrap();
    let before = version_of(&host, "counter").await;
    let streaming = host.clone();
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Arc::clone(&answered);
    let stream = tokio::spawn(async move {
        let (mut answers, mut sends) = (Vec::new(), 0u64);
        let (mut i, mut stopped) = (0u64, false);
        loop {
            stopped |= stop.try_recv().is_ok();
            if stopped && answers.iter().any(|a: &String| a.starts_with("v2:")) {
                break;
            }
            i += 1;
            if i % 3 == 0 {
                assert_eq!(answer(&streaming, "caller", "send:tick").await, "sent");
                sends += 1;
            } else {
                answers.push(answer(&streaming, "caller", "call:tick").await);
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        (answers, sends)
    });
    // Upgrade once the stream has had answers from v1.
    while answered.load(std::sync::atomic::Ordering::Relaxed) < 30 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let done = host.upgrade("counter", to_v2().grace(Duration::from_millis(100))).await.unwrap();
    assert!(done.handed_over);
    assert_eq!((done.instances, &*done.from), (1, &*before));
    stop_tx.send(()).unwrap();
    let (answers, sends) = stream.await.unwrap();

    let parse = |a: &String| -> (String, u64) {
        let (version, n) = a.split_once(':').expect("VERSION:n");
        (version.to_owned(), n.parse().expect("a count"))
    };
    let parsed: Vec<(String, u64)> = answers.iter().map(parse).collect();
    let switch = parsed.iter().position(|(v, _)| v == "v2").expect("answers from v2");
    assert!(switch > 0, "answers from v1 first");
    assert!(parsed[..switch].iter().all(|(v, _)| v == "v1"), "{answers:?}");
    assert!(parsed[switch..].iter().all(|(v, _)| v == "v2"), "one switch: {answers:?}");
    assert!(parsed.windows(2).all(|w| w[0].1 < w[1].1), "the count goes on: {answers:?}");
    // The stream's calls and sends, and this last call (queued after every send the relay
    // made): each counted exactly once.
    let last = answer(&host, "counter", "tick").await;
    let (version, n) = parse(&last);
    assert_eq!(version, "v2");
    let streamed = answers.len() as u64 + sends;
    assert_eq!(n, streamed + 1, "{streamed} streamed");
    assert_ne!(version_of(&host, "counter").await, before, "ps shows the new version");
    host.shutdown(T).await;
}

/// The count is handed over to the new code; a crash of the new code in its grace window
/// brings the old code back with the state it handed over, the upgrade's caller learns of
/// the rollback, and the audit log records the upgrade, the crash and the rollback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_grace_window_rolls_back_with_the_handed_over_state() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let host = Host::builder()
        .audit(airssys_osl::AuditLog::file(&audit).unwrap())
        .component(v1("counter"))
        .start()
        .await
        .unwrap();
    let before = version_of(&host, "counter").await;
    for n in 1..=3 {
        assert_eq!(answer(&host, "counter", "tick").await, format!("v1:{n}"));
    }
    let upgrading = host.clone();
    let upgrade = tokio::spawn(async move {
        upgrading.upgrade("counter", to_v2().grace(Duration::from_secs(60))).await
    });
    // The new code answers as soon as it runs, with the count carried over.
    let mut first = answer(&host, "counter", "tick").await;
    while first.starts_with("v1:") {
        first = answer(&host, "counter", "tick").await;
    }
    let carried: u64 = first.strip_prefix("v2:").unwrap().parse().unwrap();
    assert!(carried >= 4, "{first}");
    let crashed = host.call("counter", raw("crash"), T).await.unwrap_err();
    assert!(crashed.to_string().contains("crash"), "{crashed}");
    let error = upgrade.await.unwrap().unwrap_err();
    assert!(matches!(error, HostError::RolledBack { .. }), "{error}");
    assert!(error.to_string().contains("unreachable"), "{error}");
    // The old code, from the state it handed over (what v2 counted after is gone).
    assert_eq!(answer(&host, "counter", "tick").await, format!("v1:{carried}"));
    assert_eq!(version_of(&host, "counter").await, before);
    host.shutdown(T).await;
    let records = airssys_osl::read_audit(&audit, Some("counter"), &[]).unwrap();
    let decisions: Vec<String> =
        records.iter().filter(|r| r.operation == "upgrade").map(|r| r.decision.clone()).collect();
    assert_eq!(decisions, ["allow", "rollback"], "{records:?}");
}

/// A new code whose `init`, `take-over` or whose predecessor's `hand-over` fails does not
/// replace the running one: the error says which, and the count goes on in `v1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_code_that_fails_to_start_changes_nothing() {
    for (key, value, says) in [
        ("fail-init", "v2", "v2 is configured to fail its init"),
        ("fail-take-over", "v2", "v2 refuses to take over"),
        ("fail-hand-over", "v1", "v1 refuses to hand over"),
    ] {
        let host =
            Host::builder().component(v1("counter").config(key, value)).start().await.unwrap();
        let before = version_of(&host, "counter").await;
        assert_eq!(answer(&host, "counter", "tick").await, "v1:1");
        let error = host.upgrade("counter", to_v2()).await.unwrap_err();
        assert!(matches!(error, HostError::UpgradeFailed { .. }), "{key}: {error}");
        assert!(error.to_string().contains(says), "{key}: {error}");
        assert_eq!(answer(&host, "counter", "tick").await, "v1:2", "{key}");
        assert_eq!(version_of(&host, "counter").await, before);
        host.shutdown(T).await;
    }
}

/// Code that needs a grant the component lacks, that does not fit the contract, or that is
/// not signed by a trusted key is refused before anything changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_to_code_that_is_not_allowed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate().unwrap();
    let bytes = |path: &str| -> Arc<[u8]> { std::fs::read(path).unwrap().into() };
    let counter = bytes(test_programs::COUNTER);
    let host = Host::builder()
        .trust(TrustPolicy::Keys(vec![key.public()]))
        .component(
            ComponentSpec::new("c", Source::Bytes(Arc::clone(&counter)))
                .signature(key.sign(&counter)),
        )
        .start()
        .await
        .unwrap();
    assert_eq!(answer(&host, "c", "tick").await, "1");
    let signed = |path: &str| {
        let code = bytes(path);
        Upgrade::new(Source::Bytes(Arc::clone(&code))).signature(key.sign(&code))
    };

    // `kv` imports storage; `c` has no storage grant.
    let error = host.upgrade("c", signed(test_programs::KV)).await.unwrap_err();
    assert!(matches!(error, HostError::UpgradeRefused { .. }), "{error}");
    assert!(error.to_string().contains("airssys:component/storage"), "{error}");
    // Imports an interface the host does not provide.
    let error = host.upgrade("c", signed(test_programs::STRANGER)).await.unwrap_err();
    assert!(matches!(error, HostError::Load { .. }), "{error}");
    // Not a component.
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm junk").unwrap();
    std::fs::write(dir.path().join("junk.wasm.sig"), b"not a signature").unwrap();
    let error = host.upgrade("c", Upgrade::new(Source::File(junk))).await.unwrap_err();
    assert!(matches!(error, HostError::Untrusted { .. }), "{error}");
    // Signed by nobody trusted, and not signed at all.
    let echo = bytes(test_programs::ECHO);
    let stranger_key = SecretKey::generate().unwrap();
    let forged = Upgrade::new(Source::Bytes(Arc::clone(&echo))).signature(stranger_key.sign(&echo));
    let error = host.upgrade("c", forged).await.unwrap_err();
    assert!(matches!(error, HostError::Untrusted { .. }), "{error}");
    let error = host.upgrade("c", Upgrade::new(Source::Bytes(echo))).await.unwrap_err();
    assert!(matches!(error, HostError::Untrusted { .. }), "{error}");
    let error = host.upgrade("nobody", signed(test_programs::ECHO)).await.unwrap_err();
    assert!(matches!(error, HostError::NotFound(_)), "{error}");

    // The running code and its state are untouched.
    assert_eq!(answer(&host, "c", "tick").await, "2");
    // A signed code that fits goes in.
    host.upgrade("c", signed(test_programs::ECHO)).await.unwrap();
    assert_eq!(answer(&host, "c", "tick").await, "tick");
    host.shutdown(T).await;
}

/// A pool is upgraded one member at a time while calls keep coming: none fails, and every
/// member ends on the new code with its own count carried over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_is_upgraded_member_by_member_and_keeps_serving() {
    let host = Host::builder().component(v1("pool").instances(3)).start().await.unwrap();
    for _ in 0..6 {
        assert!(answer(&host, "pool", "tick").await.starts_with("v1:"));
    }
    let calling = host.clone();
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    let calls = tokio::spawn(async move {
        let mut answered = 0u64;
        loop {
            assert!(answer(&calling, "pool", "tick").await.starts_with('v'));
            answered += 1;
            if stop.try_recv().is_ok() {
                break answered;
            }
        }
    });
    let done = host.upgrade("pool", to_v2().grace(Duration::from_millis(100))).await.unwrap();
    assert_eq!(done.instances, 3);
    stop_tx.send(()).unwrap();
    assert!(calls.await.unwrap() > 0);
    for member in 0..3 {
        let address = format!("pool/{member}");
        let said = answer(&host, &address, "tick").await;
        let n: u64 = said.strip_prefix("v2:").expect(&said).parse().unwrap();
        assert!(n >= 3, "{address} carried its count over: {said}");
    }
    host.shutdown(T).await;
}

/// Without the `handover` exports on both sides the new code starts from `init`; the
/// component's own `version` custom section shows in its version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_handover_the_new_code_starts_fresh_and_its_version_shows() {
    let host = Host::builder().component(guest("c", test_programs::COUNTER)).start().await.unwrap();
    assert_eq!(answer(&host, "c", "tick").await, "1");
    assert_eq!(answer(&host, "c", "tick").await, "2");
    let done = host.upgrade("c", to_v2()).await.unwrap();
    assert!(!done.handed_over);
    assert_eq!(answer(&host, "c", "tick").await, "v2:1");

    // The echo component with a `version` custom section (id 0, the name, the text).
    let mut labelled = std::fs::read(test_programs::ECHO).unwrap();
    let (name, text) = (b"version", b"2.0.0-test");
    let size = 1 + name.len() + text.len();
    labelled.extend([0u8, size as u8, name.len() as u8]);
    labelled.extend(name);
    labelled.extend(text);
    let done = host.upgrade("c", Upgrade::new(Source::Bytes(labelled.into()))).await.unwrap();
    assert!(done.to.starts_with("2.0.0-test ("), "{}", done.to);
    assert_eq!(version_of(&host, "c").await, done.to);
    assert_eq!(answer(&host, "c", "tick").await, "tick");
    // A restart keeps the new code.
    host.restart("c").await.unwrap();
    assert_eq!(answer(&host, "c", "again").await, "again");
    host.shutdown(T).await;
}

/// A pool member whose new code crashes in its grace window takes the members already
/// upgraded back too, each with the state its old code handed over (not one in the new
/// code's format).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_pool_member_takes_the_others_back_with_their_state() {
    let host = Host::builder().component(v1("pool").instances(2)).start().await.unwrap();
    for member in ["pool/0", "pool/1"] {
        for n in 1..=3 {
            assert_eq!(answer(&host, member, "tick").await, format!("v1:{n}"));
        }
    }
    let upgrading = host.clone();
    let upgrade = tokio::spawn(async move {
        upgrading.upgrade("pool", to_v2().grace(Duration::from_secs(2))).await
    });
    // Member 1 swaps once member 0's window is over; then it crashes in its own.
    let mut said = answer(&host, "pool/1", "tick").await;
    while said.starts_with("v1:") {
        said = answer(&host, "pool/1", "tick").await;
    }
    assert!(said.starts_with("v2:"), "{said}");
    // Member 0 runs v2 now and counts on from the 3 it took over.
    assert_eq!(answer(&host, "pool/0", "tick").await, "v2:4");
    assert_eq!(answer(&host, "pool/0", "tick").await, "v2:5");
    host.call("pool/1", raw("crash"), T).await.unwrap_err();
    let error = upgrade.await.unwrap().unwrap_err();
    assert!(matches!(error, HostError::RolledBack { .. }), "{error}");
    // Member 0 is back on v1 from what v1 handed over at the upgrade (3), not from v2's 5.
    assert_eq!(answer(&host, "pool/0", "tick").await, "v1:4");
    assert!(answer(&host, "pool/1", "tick").await.starts_with("v1:"));
    host.shutdown(T).await;
}
