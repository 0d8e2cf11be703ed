//! Soak: steady mixed traffic (sends, host calls and requests, guest → guest calls and
//! requests, publishing, storage writes and reads, audited refusals, a crash every two
//! seconds) for a bounded time, sampling the process's resident memory, open files, pending
//! requests, queued messages and instance memory. What is sampled in the second half of the
//! run must stay where it was in the first, and no audit record may be dropped.
//!
//! It runs in a child process of its own, so that what it measures is its own.
//! `AIRSSYS_SOAK_SECS` (default 20) sets how long.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airssys_wasm::storage::Quota;
use airssys_wasm::{Grants, Host, HostBuilder, RequestError};

use crate::util::*;

const WORKERS: u64 = 3;

/// One sample of what must stay flat.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    rss: u64,
    fds: usize,
    /// Requests the relay made that have not called back.
    pending: usize,
    /// Messages queued in all mailboxes.
    queued: usize,
    /// Linear memory of all instances.
    memory: usize,
}

fn halves(samples: &[Sample], total: Duration) -> (Vec<Sample>, Vec<Sample>) {
    // The first tenth is warm-up (allocator, instance pool, database pages).
    let warm = total / 10;
    let first = samples.iter().filter(|s| s.at >= warm && s.at < total / 2).copied().collect();
    let second = samples.iter().filter(|s| s.at >= total / 2).copied().collect();
    (first, second)
}

fn max_of<T: Ord + Copy + Default>(samples: &[Sample], f: impl Fn(&Sample) -> T) -> T {
    samples.iter().map(f).max().unwrap_or_default()
}

/// See the module documentation.
#[test]
fn resources_stay_flat_under_steady_traffic() {
    let secs = secs_from_env("AIRSSYS_SOAK_SECS", 20).as_secs().to_string();
    eprintln!("soak: {secs} s (AIRSSYS_SOAK_SECS)");
    let output = run_child_test("soak::soak_child", &[("AIRSSYS_SOAK_SECS", secs)]);
    for line in output.lines().filter_map(|l| l.find("soak: ").map(|at| &l[at..])) {
        eprintln!("{line}");
    }
}

async fn ask(host: &Host, who: &str, what: &str) -> String {
    text(host.call(who, raw(what), T).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a child process by resources_stay_flat_under_steady_traffic"]
async fn soak_child() {
    if !in_child() {
        return;
    }
    install_log_capture();
    let duration = secs_from_env("AIRSSYS_SOAK_SECS", 20);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let guarded = Grants { send: vec!["e".into()], ..Grants::default() };
    let host = HostBuilder::default()
        .data_dir(dir.path().join("data"))
        .audit(airssys_osl::AuditLog::file(&audit).unwrap())
        .component(guest("e", test_programs::ECHO))
        .component(guest("c", test_programs::COUNTER))
        .component(relay("r").config("target", "e").config("subscribe", "soak.#"))
        .component(guest("kv", test_programs::KV).storage(Quota { bytes: 16 << 20, keys: 10_000 }))
        .component(guest("g", test_programs::RELAY).grants(guarded))
        .start()
        .await
        .unwrap();
    let host = Arc::new(host);
    let started = Instant::now();
    let end = started + duration;
    let ops = Arc::new(AtomicU64::new(0));
    let answered: Arc<Mutex<HashSet<String>>> = Arc::default();

    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (host, ops, answered) = (Arc::clone(&host), Arc::clone(&ops), Arc::clone(&answered));
        tasks.push(tokio::spawn(async move {
            let mut outcomes = 0usize;
            let mut received = 0u64;
            let mut published = 0u64;
            let mut i = 0u64;
            while Instant::now() < end {
                i += 1;
                let tag = format!("w{w}i{i}");
                // A full mailbox may refuse a send; nothing else may fail.
                let _ = host.send("e", raw(&tag));
                assert!(ask(&host, "c", "n").await.parse::<u64>().is_ok());
                let requested = ask(&host, "r", &format!("req:2000:{tag}:{tag}")).await;
                assert!(requested.starts_with("requested "), "{requested}");
                assert_eq!(ask(&host, "r", &format!("call:{tag}")).await, tag);
                published += u64::from(host.publish("soak.tick", raw(&tag)).unwrap());
                let key = format!("k{}", (w * 1000 + i) % 256);
                assert_eq!(ask(&host, "kv", &format!("set:{key}={tag}")).await, "ok");
                assert!(ask(&host, "kv", &format!("get:{key}")).await.starts_with('w'));
                let request = host.request("e", raw(&tag), T).unwrap();
                assert_eq!(text(request.await.unwrap()), tag);
                ops.fetch_add(8, Ordering::Relaxed);
                if i.is_multiple_of(16) || Instant::now() >= end {
                    for line in ask(&host, "r", "take").await.lines() {
                        let (t, outcome) = line.split_once(' ').unwrap();
                        // The relay's outcomes come from every worker; each request once.
                        assert!(outcome.starts_with("ok:"), "{line}");
                        assert_eq!(&outcome[3..], t, "{line}");
                        outcomes += 1;
                        let fresh = answered.lock().unwrap().insert(t.to_owned());
                        assert!(fresh, "request {t} was answered twice");
                    }
                    received += ask(&host, "r", "take-received").await.parse::<u64>().unwrap();
                }
            }
            (outcomes, received, published)
        }));
    }
    // A crash every two seconds (within the default intensity of 10 in 10 s) and five
    // refusals a second (within the audit budget of 50 a second): both are audited.
    let auditor = {
        let host = Arc::clone(&host);
        tokio::spawn(async move {
            let (mut crashes, mut refusals) = (0u32, 0u32);
            let mut next_crash = Instant::now() + Duration::from_secs(2);
            while Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(200)).await;
                assert_eq!(ask(&host, "g", "send-to:c:x").await, "error: SendError::NotPermitted");
                refusals += 1;
                if Instant::now() >= next_crash {
                    next_crash += Duration::from_secs(2);
                    let crash = host.call("c", raw("crash"), T).await;
                    assert!(matches!(crash, Err(RequestError::ReceiverCrashed(_))), "{crash:?}");
                    crashes += 1;
                }
            }
            (crashes, refusals)
        })
    };

    let mut samples = Vec::new();
    while Instant::now() < end {
        let components = host.components().await;
        let pending = ask(&host, "r", "pending").await.parse().unwrap();
        samples.push(Sample {
            at: started.elapsed(),
            rss: rss_bytes(),
            fds: open_fds(),
            pending,
            queued: components.iter().map(|c| c.mailbox_len).sum(),
            memory: components.iter().map(|c| c.memory_bytes).sum(),
        });
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (mut outcomes, mut received, mut published) = (0, 0, 0);
    for task in tasks {
        let (o, r, p) = task.await.unwrap();
        outcomes += o;
        received += r;
        published += p;
    }
    let (crashes, refusals) = auditor.await.unwrap();
    let elapsed = started.elapsed();

    // Everything still pending has answered or timed out two seconds later.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ask(&host, "r", "pending").await, "0", "requests left pending");
    outcomes += ask(&host, "r", "take").await.lines().count();
    received += ask(&host, "r", "take-received").await.parse::<u64>().unwrap();
    let requests = ops.load(Ordering::Relaxed) / 8;
    assert_eq!(outcomes as u64, requests, "every guest request has exactly one outcome");
    assert_eq!(received, published, "every published message queued was received");
    for c in host.components().await {
        assert_eq!(c.mailbox_len, 0, "{}", c.address);
    }

    let (first, second) = halves(&samples, elapsed);
    assert!(first.len() >= 4 && second.len() >= 4, "too few samples: {samples:?}");
    let mib = |b: u64| b >> 20;
    let (rss1, rss2) = (max_of(&first, |s| s.rss), max_of(&second, |s| s.rss));
    let (fds1, fds2) = (max_of(&first, |s| s.fds), max_of(&second, |s| s.fds));
    let (pending1, pending2) = (max_of(&first, |s| s.pending), max_of(&second, |s| s.pending));
    let (queued1, queued2) = (max_of(&first, |s| s.queued), max_of(&second, |s| s.queued));
    let (memory1, memory2) = (max_of(&first, |s| s.memory), max_of(&second, |s| s.memory));
    eprintln!(
        "soak: {:.1} s, {} operations ({:.0}/s), {crashes} crashes, {refusals} refusals; peaks first half / second half: rss {} / {} MiB, fds {fds1} / {fds2}, pending {pending1} / {pending2}, queued {queued1} / {queued2}, instance memory {} / {} KiB",
        elapsed.as_secs_f64(),
        requests * 8,
        (requests * 8) as f64 / elapsed.as_secs_f64(),
        mib(rss1),
        mib(rss2),
        memory1 >> 10,
        memory2 >> 10,
    );
    assert!(rss2 <= rss1 + (rss1 / 10).max(16 << 20), "resident memory grew: {samples:#?}");
    assert!(fds2 <= fds1 + 2, "open files grew: {samples:#?}");
    assert!(pending2 <= pending1 + WORKERS as usize, "pending requests grew: {samples:#?}");
    assert!(queued2 <= queued1 + 64, "queued messages grew: {samples:#?}");
    assert!(memory2 <= memory1 + (1 << 20), "instance memory grew: {samples:#?}");

    let host = Arc::into_inner(host).unwrap();
    host.shutdown(T).await;
    // No audit record was dropped or throttled away, and the log is whole.
    let logs = captured_logs();
    assert!(!logs.contains("audit record lost"), "{logs}");
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(!text.contains("not recorded"), "audit records were throttled away");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    let records = airssys_osl::read_audit(&audit, None, &[]).unwrap();
    let count = |principal: &str, decision: &str| {
        records.iter().filter(|r| r.principal == principal && r.decision == decision).count()
    };
    assert_eq!(count("c", "crash") as u32, crashes);
    assert_eq!(count("c", "restart") as u32, crashes);
    assert_eq!(count("g", "deny") as u32, refusals);
}
