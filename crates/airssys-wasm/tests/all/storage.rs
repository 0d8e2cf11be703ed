//! Durable per-component storage through real guests: what survives crashes, host restarts
//! and a SIGKILL of the host process; isolation between components; quotas refused
//! atomically; paging; counters and compare-and-swap under concurrency; export and import.

use std::io::BufRead;
use std::time::Duration;

use airssys_wasm::storage::Quota;
use airssys_wasm::{Host, HostBuilder};

use crate::util::*;

const QUOTA: Quota = Quota { bytes: 1 << 20, keys: 10_000 };

fn kv(name: &str) -> airssys_wasm::ComponentSpec {
    guest(name, test_programs::KV).storage(QUOTA)
}

async fn ask(host: &Host, who: &str, what: &str) -> String {
    text(host.call(who, raw(what), T).await.unwrap())
}

/// Values survive a crash of the component and a restart of the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_survive_crashes_and_host_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let start = || HostBuilder::default().data_dir(dir.path()).component(kv("kv")).start();
    let host = start().await.unwrap();
    assert_eq!(ask(&host, "kv", "set:greeting=hello").await, "ok");
    assert_eq!(ask(&host, "kv", "incr:visits:5").await, "5");
    assert!(host.call("kv", raw("crash"), T).await.is_err());
    assert_eq!(ask(&host, "kv", "get:greeting").await, "hello");
    assert_eq!(host.restarts("kv"), Some(1));
    host.shutdown(T).await;

    let host = start().await.unwrap();
    assert_eq!(ask(&host, "kv", "get:greeting").await, "hello");
    assert_eq!(ask(&host, "kv", "incr:visits:1").await, "6");
    assert_eq!(ask(&host, "kv", "get:missing").await, "none");
    host.shutdown(T).await;
}

/// Two components using the same key see their own values; neither can reach the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_have_separate_keys() {
    let dir = tempfile::tempdir().unwrap();
    let host = HostBuilder::default()
        .data_dir(dir.path())
        .component(kv("a"))
        .component(kv("b"))
        .start()
        .await
        .unwrap();
    assert_eq!(ask(&host, "a", "set:k=from a").await, "ok");
    assert_eq!(ask(&host, "b", "set:k=from b").await, "ok");
    assert_eq!(ask(&host, "a", "get:k").await, "from a");
    assert_eq!(ask(&host, "b", "get:k").await, "from b");
    assert_eq!(ask(&host, "b", "del:k").await, "true");
    assert_eq!(ask(&host, "a", "get:k").await, "from a");
    assert_eq!(ask(&host, "b", "exists:k").await, "false");
    assert_eq!(ask(&host, "a", "list::10").await, "k");
    let store = host.storage().unwrap();
    assert_eq!(store.get("a", "k").await.unwrap().as_deref(), Some(&b"from a"[..]));
    assert_eq!(store.get("b", "k").await.unwrap(), None);
    host.shutdown(T).await;
}

/// Over quota, a write (and a whole batch) is refused atomically: nothing of it is stored,
/// the guest gets a typed error and the audit log a record. Hostile keys and values are
/// typed errors too, and a component without a storage grant gets `not-permitted`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_and_hostile_inputs_are_refused_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let host = HostBuilder::default()
        .data_dir(dir.path().join("data"))
        .audit(airssys_osl::AuditLog::file(&audit).unwrap())
        .component(guest("small", test_programs::KV).storage(Quota { bytes: 64, keys: 3 }))
        .component(guest("none", test_programs::KV))
        .start()
        .await
        .unwrap();
    for k in ["a", "b", "c"] {
        assert_eq!(ask(&host, "small", &format!("set:{k}=1")).await, "ok");
    }
    let usage = ask(&host, "small", "usage").await;
    assert_eq!(usage, "6 3 64 3");
    let refused = ask(&host, "small", "batch:set a 2,set x 1").await;
    assert!(refused.starts_with("error: StorageError::QuotaExceeded"), "{refused}");
    assert_eq!(ask(&host, "small", "get:a").await, "1", "the batch was not applied");
    assert_eq!(ask(&host, "small", "exists:x").await, "false");
    assert_eq!(ask(&host, "small", "usage").await, usage);
    let big = ask(&host, "small", "big:a:100").await;
    assert!(big.starts_with("error: StorageError::QuotaExceeded"), "{big}");
    assert_eq!(ask(&host, "small", "get:a").await, "1");
    // Replacing and deleting within the quota still work.
    assert_eq!(ask(&host, "small", "batch:del a,set x 1").await, "ok");
    assert_eq!(ask(&host, "small", "list::10").await, "b\nc\nx");

    let too_large = ask(&host, "small", &format!("big:v:{}", 2 << 20)).await;
    assert!(too_large.starts_with("error: StorageError::ValueTooLarge"), "{too_large}");
    let empty = ask(&host, "small", "set:=x").await;
    assert!(empty.starts_with("error: StorageError::InvalidKey"), "{empty}");
    let long = ask(&host, "small", &format!("get:{}", "k".repeat(2000))).await;
    assert!(long.starts_with("error: StorageError::InvalidKey"), "{long}");
    assert_eq!(ask(&host, "small", "set:b=bob").await, "ok");
    let not_counter = ask(&host, "small", "incr:b:1").await;
    assert!(not_counter.starts_with("error: StorageError::NotACounter"), "{not_counter}");
    assert_eq!(ask(&host, "small", "set:b=9223372036854775807").await, "ok");
    let overflow = ask(&host, "small", "incr:b:1").await;
    assert!(overflow.starts_with("error: StorageError::NotACounter"), "{overflow}");
    assert_eq!(ask(&host, "small", "get:b").await, "9223372036854775807");
    assert_eq!(ask(&host, "none", "get:a").await, "error: StorageError::NotPermitted");
    assert_eq!(host.restarts("small"), Some(0));
    host.shutdown(T).await;

    let denials = airssys_osl::read_audit(&audit, None, &["deny"]).unwrap();
    assert!(denials.iter().any(|e| e.principal == "small" && e.action == "limit"), "{denials:#?}");
    assert!(denials.iter().any(|e| e.principal == "none" && e.action == "storage"), "{denials:#?}");
}

/// Paging through keys returns every key with the prefix exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_returns_every_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let host =
        HostBuilder::default().data_dir(dir.path()).component(kv("kv")).start().await.unwrap();
    let store = host.storage().unwrap();
    let lines: String = (0..2345)
        .map(|i| format!("{{\"key\":\"item/{i:05}\",\"text\":\"{i}\"}}\n"))
        .chain((0..20).map(|i| format!("{{\"key\":\"other/{i}\",\"text\":\"x\"}}\n")))
        .collect();
    assert_eq!(store.import("kv", &lines).await.unwrap(), 2365);
    for page in [1, 7, 100, 1000] {
        let listed = ask(&host, "kv", &format!("list:item/:{page}")).await;
        let keys: Vec<&str> = listed.lines().collect();
        let want: Vec<String> = (0..2345).map(|i| format!("item/{i:05}")).collect();
        assert_eq!(keys, want, "page size {page}");
    }
    assert_eq!(store.keys("kv", "other/").await.unwrap().len(), 20);
    host.shutdown(T).await;
}

/// Counters and compare-and-swap stay exact when several components (the members of a
/// pool, which share their pool's store) update the same keys at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increment_and_cas_are_exact_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let host = HostBuilder::default()
        .data_dir(dir.path())
        .component(kv("pool").instances(4))
        .start()
        .await
        .unwrap();
    let work = |i: usize| {
        let host = &host;
        async move {
            let member = format!("pool/{i}");
            let a = ask(host, &member, "incr-loop:hits:50").await;
            let b = ask(host, &member, "cas-loop:swaps:25").await;
            (a, b)
        }
    };
    let (r0, r1, r2, r3) = tokio::join!(work(0), work(1), work(2), work(3));
    for (last, retries) in [r0, r1, r2, r3] {
        assert!(last.parse::<i64>().is_ok(), "{last}");
        assert!(retries.parse::<u32>().is_ok(), "{retries}");
    }
    assert_eq!(ask(&host, "pool/0", "get:hits").await, "200");
    assert_eq!(ask(&host, "pool/1", "get:swaps").await, "100");
    host.shutdown(T).await;
}

/// Export then import into another component round-trips every entry, text and binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let host = HostBuilder::default()
        .data_dir(dir.path())
        .component(kv("a"))
        .component(kv("b"))
        .start()
        .await
        .unwrap();
    assert_eq!(ask(&host, "a", "set:name=Ada \"quoted\"\nline").await, "ok");
    assert_eq!(ask(&host, "a", "incr:n:42").await, "42");
    let store = host.storage().unwrap();
    store.set("a", "bin", vec![0, 159, 146, 150, 255]).await.unwrap();
    let mut exported = Vec::new();
    assert_eq!(store.export("a", &mut exported).await.unwrap(), 3);
    let exported = String::from_utf8(exported).unwrap();
    assert_eq!(store.import("b", &exported).await.unwrap(), 3);
    let mut again = Vec::new();
    store.export("b", &mut again).await.unwrap();
    assert_eq!(String::from_utf8(again).unwrap(), exported);
    assert_eq!(store.get("b", "bin").await.unwrap().unwrap(), [0, 159, 146, 150, 255]);
    assert_eq!(ask(&host, "b", "incr:n:1").await, "43");
    // A malformed line imports nothing and names the line.
    let bad = "{\"key\":\"ok\",\"text\":\"1\"}\n{\"key\":\"x\"}\n";
    let error = store.import("b", bad).await.unwrap_err().to_string();
    assert!(error.starts_with("line 2"), "{error}");
    assert_eq!(store.get("b", "ok").await.unwrap(), None);
    host.shutdown(T).await;
}

/// A host process killed with SIGKILL in the middle of a stream of acknowledged writes
/// loses none of them: the child (this test binary, running `sigkill_child`) prints each
/// key once its write was acknowledged; after the kill, every printed key is in the store.
#[test]
fn sigkill_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "storage::sigkill_child", "--ignored", "--nocapture"])
        .env("AIRSSYS_SIGKILL_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < 40 {
        let Some(line) = lines.next() else { break };
        if let Some(i) = line.unwrap().strip_prefix("acked ") {
            acked.push(i.parse::<u32>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL
    for line in lines.map_while(Result::ok) {
        if let Some(i) = line.strip_prefix("acked ") {
            acked.push(i.parse::<u32>().unwrap());
        }
    }
    child.wait().unwrap();
    assert!(acked.len() >= 40, "the child acknowledged only {} writes", acked.len());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = airssys_wasm::storage::Storage::open(dir.path()).unwrap();
        for i in &acked {
            let value = store.get("kv", &format!("k{i}")).await.unwrap();
            assert_eq!(value, Some(format!("v{i}").into_bytes()), "acknowledged write {i} lost");
        }
    });
}

/// The child of `sigkill_loses_no_acknowledged_write`: writes until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by sigkill_loses_no_acknowledged_write"]
async fn sigkill_child() {
    use std::io::Write;
    let Some(dir) = std::env::var_os("AIRSSYS_SIGKILL_DIR") else { return };
    let host = HostBuilder::default().data_dir(dir).component(kv("kv")).start().await.unwrap();
    for i in 0u32.. {
        if ask(&host, "kv", &format!("set:k{i}=v{i}")).await == "ok" {
            let mut out = std::io::stdout().lock();
            writeln!(out, "acked {i}").unwrap();
            out.flush().unwrap();
        }
        if i > 100_000 {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }
}

/// The database holds every component's data: the data directory is made private to this
/// user, and no component may be granted a directory that overlaps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_stays_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for granted in [root.path().to_path_buf(), data.clone()] {
        let error = HostBuilder::default()
            .data_dir(&data)
            .component(kv("kv").dir(&granted, "/all", false))
            .start()
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("overlaps the host's data directory"), "{error}");
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("storage.redb")), 0o600);
}
