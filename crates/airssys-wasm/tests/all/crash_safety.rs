//! Host crash safety: a host process killed with SIGKILL in the middle of load (storage
//! writes, crashes and refusals, all audited) is started again from the same data directory
//! and audit log. Every acknowledged write is there, the audit log reads back (only a torn
//! last line may be lost, and it does not swallow the next host's first record), and the new
//! host works.

use std::io::{BufRead, Write as _};
use std::time::Duration;

use airssys_wasm::storage::Quota;
use airssys_wasm::{Grants, Host, HostBuilder, RequestError};

use crate::util::*;

const QUOTA: Quota = Quota { bytes: 64 << 20, keys: 1_000_000 };

fn builder(dir: &std::path::Path) -> HostBuilder {
    let limited = Grants { send: vec!["kv0".into()], ..Grants::default() };
    HostBuilder::default()
        .data_dir(dir.join("data"))
        .audit(airssys_osl::AuditLog::file(&dir.join("audit.jsonl")).unwrap())
        // Crashes come every 50 ms; the supervisor must keep restarting.
        .intensity(100_000, Duration::from_secs(1))
        .component(guest("kv0", test_programs::KV).storage(QUOTA))
        .component(guest("kv1", test_programs::KV).storage(QUOTA))
        .component(guest("c", test_programs::COUNTER))
        .component(guest("g", test_programs::RELAY).grants(limited))
}

async fn ask(host: &Host, who: &str, what: &str) -> String {
    text(host.call(who, raw(what), T).await.unwrap())
}

/// What the child acknowledged before it was killed.
#[derive(Default)]
struct Acked {
    /// (component, key, value) of acknowledged writes.
    writes: Vec<(String, String, String)>,
    /// The last acknowledged value of kv1's counter `n`.
    counter: i64,
    crashes: usize,
    refusals: usize,
}

impl Acked {
    fn read(&mut self, line: &str) {
        let words: Vec<&str> = line.split(' ').collect();
        match words[..] {
            ["acked", component, key, value] => {
                self.writes.push((component.into(), key.into(), value.into()));
            }
            ["counter", n] => self.counter = n.parse().unwrap(),
            ["crashed"] => self.crashes += 1,
            ["refused"] => self.refusals += 1,
            _ => {}
        }
    }
}

/// Whether each line of `text` is a JSON object, and the unterminated tail after the last
/// newline (a torn line; empty when the file ends with a newline).
fn lines_of(text: &str) -> (Vec<bool>, &str) {
    let (complete, tail) = text.rsplit_once('\n').map_or(("", text), |(c, t)| (c, t));
    let parsed = if complete.is_empty() {
        Vec::new()
    } else {
        complete.split('\n').map(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()).collect()
    };
    (parsed, tail)
}

/// See the module documentation.
#[test]
fn host_killed_mid_load_restarts_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_safety::crash_child", "--ignored", "--nocapture"])
        .env("AIRSSYS_CHILD", "1")
        .env("AIRSSYS_CRASH_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("child.stderr")).unwrap())
        .spawn()
        .unwrap();
    // A child that hangs before doing its share is killed after two minutes (its output
    // then ends, and the test fails below instead of hanging).
    let (loaded, watched) = std::sync::mpsc::channel::<()>();
    let pid = child.id().to_string();
    let watchdog = std::thread::spawn(move || {
        if watched.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
        }
    });
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Acked::default();
    while acked.writes.len() < 300 || acked.crashes < 5 || acked.counter < 50 {
        let Some(line) = lines.next() else { break };
        acked.read(&line.unwrap());
    }
    let _ = loaded.send(());
    watchdog.join().unwrap();
    child.kill().unwrap(); // SIGKILL, mid-load
    for line in lines.map_while(Result::ok) {
        acked.read(&line);
    }
    child.wait().unwrap();
    assert!(
        acked.writes.len() >= 300 && acked.crashes >= 5,
        "the child did too little: {}",
        std::fs::read_to_string(dir.path().join("child.stderr")).unwrap_or_default()
    );

    // The audit log as the killed host left it: every complete line a record; at most the
    // last one torn.
    let audit = dir.path().join("audit.jsonl");
    let before = std::fs::read_to_string(&audit).unwrap();
    let (parsed, tail) = lines_of(&before);
    assert!(parsed.iter().all(|ok| *ok), "a complete audit line is not JSON");
    let records = airssys_osl::read_audit(&audit, None, &[]).unwrap();
    assert_eq!(records.len(), parsed.len());
    let count = |records: &[airssys_osl::AuditEntry], who: &str, decision: &str| {
        records.iter().filter(|r| r.principal == who && r.decision == decision).count()
    };
    // A crash is answered to its caller just before it is audited: the last may be missing.
    assert!(count(&records, "c", "crash") + 1 >= acked.crashes, "crash records lost");
    assert!(count(&records, "g", "deny") + 1 >= acked.refusals, "refusal records lost");
    // Whatever the kill left, make the last line torn, as a power cut mid-write would: cut
    // inside a two-byte character, so the file is not valid UTF-8 any more.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&audit)
        .unwrap()
        .write_all(b"{\"time_ms\":1,\"op_id\":0,\"principal\":\"caf\xc3")
        .unwrap();
    let torn_before = usize::from(!tail.is_empty());
    let denials_before = count(&records, "g", "deny");

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let host = builder(dir.path())
            .component(guest("after", test_programs::COUNTER))
            .start()
            .await
            .unwrap();
        // Every acknowledged write is there, through the store and through the component.
        let store = host.storage().unwrap();
        for (component, key, value) in &acked.writes {
            let got = store.get(component, key).await.unwrap();
            assert_eq!(
                got.as_deref(),
                Some(value.as_bytes()),
                "acknowledged {component}/{key} lost"
            );
        }
        for (component, key, value) in acked.writes.iter().rev().take(20) {
            assert_eq!(ask(&host, component, &format!("get:{key}")).await, *value);
        }
        // The counter has every acknowledged increment, and at most the one in flight more.
        let n: i64 = ask(&host, "kv1", "get:n").await.parse().unwrap();
        assert!((acked.counter..=acked.counter + 1).contains(&n), "{n} after {}", acked.counter);

        // The new host works: it writes, crashes and restarts, refuses, and audits all of it.
        assert_eq!(ask(&host, "kv0", "set:after=yes").await, "ok");
        assert_eq!(ask(&host, "kv1", "incr:n:1").await, (n + 1).to_string());
        let crash = host.call("after", raw("crash"), T).await;
        assert!(matches!(crash, Err(RequestError::ReceiverCrashed(_))), "{crash:?}");
        assert_eq!(ask(&host, "after", "x").await, "1");
        assert_eq!(ask(&host, "g", "send-to:c:x").await, "error: SendError::NotPermitted");
        assert_eq!(ask(&host, "kv0", "get:after").await, "yes");
        host.shutdown(T).await;
    });

    // Both hosts' records read back; only the torn line is lost, and the new host's first
    // record (kv0's storage grant) was not appended to it.
    let after = String::from_utf8_lossy(&std::fs::read(&audit).unwrap()).into_owned();
    assert!(after.starts_with(&before), "the audit log was rewritten");
    let (parsed, tail) = lines_of(&after);
    assert_eq!(tail, "", "the new host left a torn line");
    let broken = parsed.iter().filter(|ok| !**ok).count();
    assert!(broken <= 1 + torn_before, "{broken} broken audit lines");
    let records = airssys_osl::read_audit(&audit, None, &[]).unwrap();
    assert_eq!(count(&records, "kv0", "grant"), 2, "a host's grant record was lost");
    assert_eq!(count(&records, "after", "crash"), 1);
    assert_eq!(count(&records, "after", "restart"), 1);
    assert_eq!(count(&records, "g", "deny"), denials_before + 1);
}

/// The child of `host_killed_mid_load_restarts_intact`: load until it is killed. Prints each
/// acknowledged write, counter value, crash and refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by host_killed_mid_load_restarts_intact"]
async fn crash_child() {
    if !in_child() {
        return;
    }
    let Some(dir) = std::env::var_os("AIRSSYS_CRASH_DIR") else { return };
    let dir = std::path::PathBuf::from(dir);
    let host = std::sync::Arc::new(builder(&dir).start().await.unwrap());
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    let writes = {
        let host = std::sync::Arc::clone(&host);
        tokio::spawn(async move {
            for i in 0u64.. {
                if ask(&host, "kv0", &format!("set:a{i}=v{i}")).await == "ok" {
                    say(format!("acked kv0 a{i} v{i}"));
                }
                if i % 2 == 0
                    && ask(&host, "kv1", &format!("batch:set b{i} x{i},set c{i} y{i}")).await
                        == "ok"
                {
                    say(format!("acked kv1 b{i} x{i}"));
                    say(format!("acked kv1 c{i} y{i}"));
                }
            }
        })
    };
    let counter = {
        let host = std::sync::Arc::clone(&host);
        tokio::spawn(async move {
            loop {
                if let Ok(n) = ask(&host, "kv1", "incr:n:1").await.parse::<i64>() {
                    say(format!("counter {n}"));
                }
            }
        })
    };
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if matches!(host.call("c", raw("crash"), T).await, Err(RequestError::ReceiverCrashed(_))) {
            say("crashed".into());
        }
        if ask(&host, "g", "send-to:kv1:x").await == "error: SendError::NotPermitted" {
            say("refused".into());
        }
        if writes.is_finished() || counter.is_finished() {
            break;
        }
    }
}
