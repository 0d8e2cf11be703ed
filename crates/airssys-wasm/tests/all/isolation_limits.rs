//! The threat model's items (`docs/security.md`) about the limits a hostile component must not
//! get past: its memory (all memories and tables together), its subscriptions, its open files
//! and sockets, the bytes queued in a mailbox, its output, and its storage writes (counted
//! against its rate). Each hostile guest is stopped at its limit with a typed error (or a
//! trap), and its neighbours keep working.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use airssys_wasm::{Grants, Host, OutputLimit, Payload, RequestError, SendError, codec};

use crate::util::{T, guest, raw, text};

/// A generous timeout, for what only a frozen host would miss.
const LONG: Duration = Duration::from_secs(30);

async fn ask(host: &Host, who: &str, what: &str) -> String {
    text(host.call(who, raw(what), T).await.unwrap())
}

fn denials(audit: &std::path::Path, who: &str) -> Vec<airssys_osl::AuditEntry> {
    airssys_osl::read_audit(audit, Some(who), &["deny"]).unwrap()
}

/// The memory limit is the component's: a guest that allocates past it through its memory
/// traps at the limit, its reported memory never goes past it, and a neighbour is
/// unaffected. (Several memories of one instance sharing the limit are tested on a real
/// store in the crate's `limiter` unit tests: a Rust guest has one memory.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_05_memory_limit_traps_the_component_at_its_total() {
    let limit = 24 << 20;
    let host = Host::builder()
        .component(guest("hog", test_programs::MISBEHAVE).max_memory(limit))
        .component(guest("neighbour", test_programs::COUNTER))
        .start()
        .await
        .unwrap();
    assert_eq!(ask(&host, "hog", "grow:8").await, "2048");
    let used = host.components().await[0].memory_bytes;
    assert!(used > 8 << 20 && used <= limit, "{used}");
    match host.call("hog", raw("grow:30"), T).await {
        Err(RequestError::ReceiverCrashed(reason)) => {
            assert!(reason.contains("memory limit"), "{reason}")
        }
        other => panic!("the hog was not trapped at its limit: {other:?}"),
    }
    assert_eq!(ask(&host, "neighbour", "x").await, "1");
    // Restarted, with a fresh budget.
    assert_eq!(ask(&host, "hog", "grow:8").await, "2048");
    assert_eq!(host.restarts("hog"), Some(1));
    host.shutdown(T).await;
}

/// A guest subscribing past its limit gets `not-permitted` (audited with the limit); what it
/// holds keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_06_subscribing_past_the_limit_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let grants = Grants { subscribe: vec!["more.#".into()], ..Grants::default() };
    let host = Host::builder()
        .audit(airssys_osl::AuditLog::file(&audit).unwrap())
        .component(guest("flood", test_programs::HOARDER).grants(grants).subscriptions(100))
        .start()
        .await
        .unwrap();
    let answer = ask(&host, "flood", "subscribe:150").await;
    // 0.2.0 names the limit: `too-many-subscriptions(100)`.
    assert!(
        answer.contains("subscribed 100, then") && answer.contains("TooManySubscriptions(100)"),
        "{answer}"
    );
    // Subscribing again to what it has is no new subscription.
    assert_eq!(ask(&host, "flood", "subscribe:100").await, "subscribed 100");
    assert_eq!(host.publish("more.42", raw("hi")).unwrap(), 1);
    host.shutdown(T).await;
    let refused = denials(&audit, "flood");
    assert!(refused.iter().any(|e| e.action == "limit" && e.rule.contains("subscriptions (100)")));
}

/// A component holding the maximum number of subscriptions that crashes and restarts over
/// and over does not stall its neighbour, and its subscriptions go with each instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_06_a_crash_loop_with_full_subscriptions_does_not_stall_a_neighbour() {
    let grants = Grants { subscribe: vec!["flood.#".into()], ..Grants::default() };
    let host = Arc::new(
        Host::builder()
            .intensity(100, Duration::from_secs(10))
            .component(
                guest("flood", test_programs::HOARDER)
                    .grants(grants)
                    .config("subscribe", "1024")
                    // `init` makes 1024 subscriptions: room for a loaded test machine.
                    .cpu_per_message(Duration::from_secs(10)),
            )
            .component(guest("neighbour", test_programs::COUNTER))
            .start()
            .await
            .unwrap(),
    );
    assert_eq!(host.publish("flood.1023", raw("x")).unwrap(), 1);
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let neighbour = {
        let (host, done, answered) = (Arc::clone(&host), Arc::clone(&done), Arc::clone(&answered));
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                // Generous: a neighbour frozen behind the crash loop would miss it.
                host.call("neighbour", raw("x"), LONG).await.expect("the neighbour answers");
                answered.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for round in 1..=5u32 {
        let trapped = host.call("flood", raw("trap"), LONG).await;
        assert!(matches!(trapped, Err(RequestError::ReceiverCrashed(_))), "{trapped:?}");
        // Back, with its 1024 subscriptions made again by `init`.
        assert_eq!(text(host.call("flood", raw("hello"), LONG).await.unwrap()), "ok");
        assert_eq!(host.restarts("flood"), Some(round));
    }
    done.store(true, Ordering::Relaxed);
    neighbour.await.unwrap();
    assert!(answered.load(Ordering::Relaxed) > 0);
    // The crashed instances' subscriptions are gone: one subscriber, the live instance.
    assert_eq!(host.publish("flood.7", raw("x")).unwrap(), 1);
    Arc::try_unwrap(host).expect("one owner").shutdown(T).await;
}

/// A component without a network grant cannot create a socket at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_08_without_a_network_grant_no_socket_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let host = Host::builder()
        .audit(airssys_osl::AuditLog::file(&audit).unwrap())
        .component(guest("nonet", test_programs::HOARDER))
        .start()
        .await
        .unwrap();
    let before = crate::util::open_fds();
    let answer = ask(&host, "nonet", "udp:50").await;
    assert!(answer.starts_with("bound 0, then \"PermissionDenied"), "{answer}");
    assert!(crate::util::open_fds() < before + 50);
    host.shutdown(T).await;
    let refused = denials(&audit, "nonet");
    assert!(refused.iter().any(|e| e.action == "net-udp" && e.resource == "udp socket"));
}

/// Files and sockets held open count against one limit per instance: a loop is stopped at
/// it, a neighbour's file read still works, and what is closed no longer counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_08_open_files_and_sockets_stop_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), "content").unwrap();
    let host = Host::builder()
        .component(
            guest("hoard", test_programs::HOARDER)
                .dir(dir.path(), "/data", false)
                .network(&[], &[], &["127.0.0.1:9"])
                .open_files(16),
        )
        .component(guest("reader", test_programs::MISBEHAVE).dir(dir.path(), "/data", false))
        .start()
        .await
        .unwrap();
    let opened = ask(&host, "hoard", "open:/data/f.txt:100").await;
    let count = |answer: &str| -> usize {
        answer.split([' ', ',']).nth(1).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
    };
    let files = count(&opened);
    assert!(opened.contains("then") && (8..16).contains(&files), "{opened}");
    assert_eq!(ask(&host, "reader", "read:/data/f.txt").await, "content");
    // Sockets count too: the files already fill the limit.
    assert!(ask(&host, "hoard", "udp:1").await.starts_with("bound 0, then"));
    assert_eq!(ask(&host, "hoard", "release").await, "released");
    let bound = ask(&host, "hoard", "udp:100").await;
    assert!(bound.contains("then") && (8..16).contains(&count(&bound)), "{bound}");
    assert_eq!(ask(&host, "reader", "read:/data/f.txt").await, "content");
    assert_eq!(ask(&host, "hoard", "release").await, "released");
    assert_eq!(ask(&host, "hoard", "open:/data/f.txt:5").await, "opened 5");
    host.shutdown(T).await;
}

/// A mailbox is bounded in bytes too: while its component is busy, a message that would take
/// it past its byte limit is refused with `mailbox-full`; once it drains, they go again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_w1_a_mailbox_is_bounded_in_bytes() {
    let host = Host::builder()
        .component(
            guest("target", test_programs::MISBEHAVE)
                .mailbox_bytes(1 << 20)
                // Its sleep counts as CPU time.
                .cpu_per_message(Duration::from_secs(10)),
        )
        .start()
        .await
        .unwrap();
    // While it sleeps, what is sent after queues behind.
    let busy = host.request("target", raw("sleep:1500"), T).unwrap();
    let bytes = |n: usize| Payload { codec: codec::RAW, bytes: vec![b'x'; n] };
    for _ in 0..3 {
        host.send("target", bytes(256 << 10)).unwrap();
    }
    // 768 KiB queued: 512 KiB more would pass 1 MiB, although the mailbox has room for
    // 1021 more messages.
    assert!(matches!(host.send("target", bytes(512 << 10)), Err(SendError::MailboxFull)));
    host.send("target", bytes(200 << 10)).unwrap();
    assert_eq!(text(busy.await.unwrap()), "slept");
    // Drained: the queued messages were handled, and there is room again.
    assert_eq!(ask(&host, "target", "hello").await, "ok");
    for _ in 0..4 {
        host.send("target", bytes(256 << 10)).unwrap();
    }
    host.shutdown(T).await;
}

/// Output over a component's budget (lines or bytes) is dropped and counted; the next line
/// kept says how many were dropped; a neighbour's budget is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_w4_output_over_the_budget_is_dropped_and_counted() {
    crate::util::install_log_capture();
    let lines = OutputLimit { lines_per_second: 20, burst_lines: 50, ..OutputLimit::default() };
    let bytes = OutputLimit { bytes_per_second: 4096, burst_bytes: 64 << 10, ..lines };
    let host = Host::builder()
        .component(guest("w4lines", test_programs::HOARDER).output(lines))
        .component(guest("w4bytes", test_programs::HOARDER).output(bytes))
        .component(guest("w4quiet", test_programs::HOARDER))
        .start()
        .await
        .unwrap();
    assert_eq!(ask(&host, "w4lines", "print:1000:10").await, "printed 1000");
    assert_eq!(ask(&host, "w4lines", "log:1000").await, "logged 1000");
    assert_eq!(ask(&host, "w4bytes", "print:100:4000").await, "printed 100");
    assert_eq!(ask(&host, "w4quiet", "print:100:10").await, "printed 100");
    let dropped = |name: &str, list: &[airssys_wasm::ComponentInfo]| {
        list.iter().find(|c| &*c.address == name).map(|c| c.output_dropped).unwrap()
    };
    let list = host.components().await;
    assert!(dropped("w4lines", &list) >= 1900, "{list:?}");
    assert!((50..100).contains(&dropped("w4bytes", &list)), "{list:?}");
    assert_eq!(dropped("w4quiet", &list), 0);
    // Once the budget refills, the next line kept is preceded by the count of the dropped.
    let mut said = false;
    for _ in 0..100 {
        ask(&host, "w4lines", "log:1").await;
        said = crate::util::captured_logs()
            .lines()
            .any(|l| l.contains("lines of output dropped") && l.contains("w4lines"));
        if said {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(said, "no record of the dropped lines");
    host.shutdown(T).await;
}

/// Storage writes count against the component's rate limit: past it, a write is refused
/// with `rate-limited` (nothing written), and writes go again as the bucket refills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_w5_storage_writes_count_against_the_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let quota = airssys_wasm::storage::Quota { bytes: 1 << 20, keys: 100 };
    let host = Host::builder()
        .data_dir(dir.path().join("data"))
        .component(guest("writer", test_programs::HOARDER).storage(quota).rate(2, 5))
        .start()
        .await
        .unwrap();
    let answer = ask(&host, "writer", "store:50").await;
    // 0.2.0 has a variant of its own for it: `storage-error::rate-limited`.
    assert!(answer.starts_with("stored 5, then") && answer.contains("RateLimited"), "{answer}");
    let storage = host.storage().unwrap();
    assert_eq!(storage.usage("writer").await.unwrap().keys, 5);
    let mut again = String::new();
    for _ in 0..100 {
        again = ask(&host, "writer", "store:1").await;
        if again == "stored 1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(again, "stored 1");
    host.shutdown(T).await;
}
