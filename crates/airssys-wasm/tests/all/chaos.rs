//! Chaos: fourteen components calling each other (host → guest calls and requests, guest →
//! guest calls and requests, storage writes) while a driver crashes them at random (traps, CPU
//! and memory limit hits, forced stops and restarts). Invariants checked at the end: every
//! request got exactly one outcome and none waited past its timeout; every acknowledged
//! storage write is there; every crash cost exactly one restart and a nested supervisor gives
//! up exactly when its intensity is exceeded; no pending request, queued message or instance
//! memory is left over, and the process's memory is back where it was.
//!
//! It runs in a child process of its own, so that its memory is not mixed with other tests'.
//! `AIRSSYS_CHAOS_SECS` (default 15) sets how long the driver runs, `AIRSSYS_CHAOS_SEED` the
//! seed (printed, so that a failing run can be repeated).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airssys_rt::Strategy;
use airssys_wasm::storage::Quota;
use airssys_wasm::{
    ComponentSpec, ComponentState, Host, HostBuilder, Payload, RequestError, Supervision, TreeChild,
};

use crate::util::*;

const ECHOS: [&str; 2] = ["e0", "e1"];
const COUNTERS: [&str; 3] = ["c0", "c1", "c2"];
/// The misbehaving component: slow answers, CPU and memory limit hits.
const SLOW: &str = "m0";
const KVS: [&str; 2] = ["kv0", "kv1"];
/// Relays and their targets. Only `r3` is restarted by the driver.
const RELAYS: [(&str, &str); 4] = [("r0", "e0"), ("r1", "c0"), ("r2", SLOW), ("r3", "kv1")];
/// A counter under a nested supervisor of intensity 2 (in a minute).
const FRAGILE: &str = "fragile";
const FRAGILE_INTENSITY: u32 = 2;
/// The root supervisor's intensity; the driver stays under it.
const ROOT_INTENSITY: (u32, Duration) = (200, Duration::from_secs(10));
/// How many requests a relay may have pending.
const PENDING: u32 = 64;
/// How long past its timeout a call may take before it counts as hung (CI machines are slow
/// and busy).
const SLACK: Duration = Duration::from_secs(3);
// The slow component's CPU deadline. Its `sleep:<ms>` handlers (at most 120 ms) count against
// it too (the deadline is wall time in the handler), so it leaves room for a loaded machine:
// a sleep that overran it would be a crash nobody asked for, and break the exact counts.
const CPU: Duration = Duration::from_millis(600);
const MEMORY: usize = 8 << 20;

fn spec(name: &str) -> ComponentSpec {
    match name {
        n if ECHOS.contains(&n) => guest(n, test_programs::ECHO),
        n if COUNTERS.contains(&n) || n == FRAGILE => guest(n, test_programs::COUNTER),
        SLOW => guest(SLOW, test_programs::MISBEHAVE).cpu_per_message(CPU).max_memory(MEMORY),
        n if KVS.contains(&n) => {
            guest(n, test_programs::KV).storage(Quota { bytes: 256 << 20, keys: 1_000_000 })
        }
        n => {
            let (_, target) = RELAYS.iter().find(|(r, _)| *r == n).expect("a relay");
            relay(n).config("target", *target).pending_requests(PENDING)
        }
    }
}

fn all_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = ECHOS.to_vec();
    names.extend(COUNTERS);
    names.push(SLOW);
    names.extend(KVS);
    names.extend(RELAYS.iter().map(|(r, _)| *r));
    names
}

/// What the driver may stop and restart (relays other than `r3` keep their outcomes).
fn restartable() -> Vec<&'static str> {
    let mut names: Vec<&str> = ECHOS.to_vec();
    names.extend(COUNTERS);
    names.push(SLOW);
    names.extend(KVS);
    names
}

type Answer = Result<Option<Payload>, RequestError>;

fn kind(answer: &Answer) -> &'static str {
    match answer {
        Ok(_) => "response",
        Err(RequestError::Timeout) => "timeout",
        Err(RequestError::ReceiverCrashed(_)) => "receiver-crashed",
        Err(RequestError::Refused(_)) => "refused",
        Err(RequestError::HandlerError(_)) => "handler-error",
    }
}

fn body(answer: &Answer) -> Option<String> {
    match answer {
        Ok(Some(p)) => Some(String::from_utf8_lossy(&p.bytes).into_owned()),
        _ => None,
    }
}

/// A tagged guest request: which relay made it, in which of its epochs, and what its target
/// answers when it answers.
struct Tagged {
    relay: &'static str,
    epoch: u32,
    /// False when the host's call to the relay timed out: the request may not exist.
    issued: bool,
    expect: Expect,
}

enum Expect {
    /// The echo of this text.
    Echo(String),
    /// A counter value.
    Number,
    /// `slept`.
    Slept,
    /// `ok`, which acknowledges this write to `kv1`.
    Write(String),
}

#[derive(Default)]
struct Book {
    /// Outcomes by operation and kind.
    outcomes: BTreeMap<String, u64>,
    /// Acknowledged writes: (component, key, value).
    acked: Vec<(String, String, String)>,
    tags: HashMap<String, Tagged>,
    /// Lines taken from the relays.
    taken: Vec<String>,
    /// Crashes the driver caused, per component, since it was last (re)spawned.
    crashes: HashMap<String, u32>,
    /// Components whose crash count is not known exactly (a crash call timed out).
    uncertain: HashSet<String>,
    /// When the driver crashed something under the root supervisor.
    crash_times: Vec<Instant>,
    /// Crashes seen by their caller as traps.
    traps: u32,
    /// Crash calls that timed out (the crash may have happened later).
    maybe_traps: u32,
    /// Nested supervisor give-ups observed.
    give_ups: u32,
    /// Driver actions by name.
    actions: BTreeMap<&'static str, u32>,
}

struct Chaos {
    host: Host,
    book: Mutex<Book>,
    /// Per relay: even while it runs, odd while the driver restarts it.
    epochs: HashMap<&'static str, AtomicU32>,
    end: Instant,
}

impl Chaos {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap()
    }

    fn count(&self, op: &str, what: &str) {
        *self.book().outcomes.entry(format!("{op} {what}")).or_default() += 1;
    }

    /// A call that must have its outcome within its timeout plus slack.
    async fn call(&self, op: &str, target: &str, text: &str, timeout: Duration) -> Answer {
        let started = Instant::now();
        let answer =
            match tokio::time::timeout(timeout + SLACK, self.host.call(target, raw(text), timeout))
                .await
            {
                Ok(answer) => answer,
                Err(_) => panic!("{op} to {target} ({text:?}) hung past {timeout:?} + {SLACK:?}"),
            };
        // A timeout is reported at the timeout, not much later.
        if matches!(answer, Err(RequestError::Timeout)) {
            assert!(started.elapsed() < timeout + SLACK, "{op} timed out late");
        }
        match &answer {
            Err(RequestError::Refused(why)) => self.count(op, &format!("refused {why:?}")),
            _ => self.count(op, kind(&answer)),
        }
        answer
    }

    fn epoch(&self, relay: &str) -> u32 {
        self.epochs[relay].load(Ordering::SeqCst)
    }
}

/// One traffic worker: host → guest calls and requests, guest → guest calls and requests
/// through the relays, storage writes, fire-and-forget sends.
async fn worker(chaos: Arc<Chaos>, w: u64, seed: u64) {
    let mut rng = Rng::new(seed ^ (w + 1).wrapping_mul(0x1234_5678_9abc_def1));
    let mut n = 0u64;
    while Instant::now() < chaos.end {
        n += 1;
        let id = format!("w{w}n{n}");
        let pick =
            |rng: &mut Rng, names: &[&'static str]| names[rng.below(names.len() as u64) as usize];
        match rng.below(100) {
            0..20 => {
                let target = pick(&mut rng, &ECHOS);
                let answer = chaos.call("echo-call", target, &id, Duration::from_secs(1)).await;
                if let Some(got) = body(&answer) {
                    assert_eq!(got, id, "an echo answered someone else's call");
                }
            }
            20..30 => {
                let target = pick(&mut rng, &[ECHOS[0], ECHOS[1], COUNTERS[1], COUNTERS[2]]);
                let timeout = Duration::from_millis(500);
                match chaos.host.request(target, raw(&id), timeout) {
                    Err(_) => chaos.count("host-request", "refused"),
                    Ok(pending) => {
                        let answer = tokio::time::timeout(timeout + SLACK, pending)
                            .await
                            .unwrap_or_else(|_| panic!("host request {id} hung"));
                        chaos.count("host-request", kind(&answer));
                        if let (Some(got), true) = (body(&answer), target.starts_with('e')) {
                            assert_eq!(got, id, "an echo answered someone else's request");
                        }
                    }
                }
            }
            30..40 => {
                let target = pick(&mut rng, &COUNTERS);
                let answer = chaos.call("counter-call", target, "n", Duration::from_secs(1)).await;
                if let Some(got) = body(&answer) {
                    assert!(got.parse::<u64>().is_ok(), "{got}");
                }
            }
            40..55 => {
                // A guest → guest call (1 s timeout inside the relay).
                let (relay, target) = RELAYS[rng.below(3) as usize];
                let text = match target {
                    SLOW => format!("sleep:{}", 20 + rng.below(100)),
                    _ => id.clone(),
                };
                let answer = chaos
                    .call("relay-call", relay, &format!("call:{text}"), Duration::from_secs(3))
                    .await;
                let Some(got) = body(&answer) else { continue };
                let inner = match got.as_str() {
                    "error: timeout" => "timeout",
                    g if g.starts_with("error: RequestError::ReceiverCrashed") => {
                        "receiver-crashed"
                    }
                    g if g.starts_with("error: RequestError::Refused") => "refused",
                    g if g.starts_with("error:") => panic!("unexpected outcome of a call: {g}"),
                    g => {
                        match target {
                            SLOW => assert_eq!(g, "slept"),
                            "c0" => assert!(g.parse::<u64>().is_ok(), "{g}"),
                            _ => assert_eq!(g, id, "a guest call got someone else's answer"),
                        }
                        "response"
                    }
                };
                chaos.count("guest-call", inner);
            }
            55..75 => {
                // A guest → guest request; its outcome comes back tagged.
                let (relay, target) = RELAYS[rng.below(4) as usize];
                let ms = 50 + rng.below(950);
                let (text, expect) = match target {
                    "e0" => (id.clone(), Expect::Echo(id.clone())),
                    "c0" => ("n".into(), Expect::Number),
                    SLOW => (format!("sleep:{}", 10 + rng.below(60)), Expect::Slept),
                    _ => (format!("set:g{id}=x"), Expect::Write(format!("g{id}"))),
                };
                let before = chaos.epoch(relay);
                let answer = chaos
                    .call(
                        "relay-req",
                        relay,
                        &format!("req:{ms}:{id}:{text}"),
                        Duration::from_secs(2),
                    )
                    .await;
                let after = chaos.epoch(relay);
                let got = body(&answer).unwrap_or_default();
                if got.starts_with("error:") {
                    chaos.count("guest-request", "refused");
                    continue;
                }
                let issued = got.starts_with("requested ");
                let timed_out = matches!(answer, Err(RequestError::Timeout));
                if issued || timed_out {
                    // An epoch that changed under the call: the relay was restarted, and
                    // the request (if any) may have gone with it.
                    let epoch =
                        if before == after && before.is_multiple_of(2) { before } else { u32::MAX };
                    let tagged = Tagged { relay, epoch, issued, expect };
                    chaos.book().tags.insert(id.clone(), tagged);
                }
            }
            75..85 => {
                let target = pick(&mut rng, &KVS);
                let (key, value) = (format!("h{id}"), format!("v{n}"));
                let answer = chaos
                    .call("kv-write", target, &format!("set:{key}={value}"), Duration::from_secs(2))
                    .await;
                match body(&answer).as_deref() {
                    Some("ok") => chaos.book().acked.push((target.into(), key, value)),
                    Some(other) => panic!("a storage write failed: {other}"),
                    None => {}
                }
            }
            85..90 => {
                let target = pick(&mut rng, &[ECHOS[0], ECHOS[1], COUNTERS[2]]);
                let sent = chaos.host.send(target, raw(&id));
                chaos.count("send", if sent.is_ok() { "queued" } else { "refused" });
            }
            90..95 => {
                let (relay, _) = RELAYS[rng.below(4) as usize];
                take(&chaos, relay).await;
            }
            _ => {
                let ms = 20 + rng.below(100);
                let timeout = Duration::from_millis(60 + rng.below(140));
                let answer = chaos.call("slow-call", SLOW, &format!("sleep:{ms}"), timeout).await;
                if let Some(got) = body(&answer) {
                    assert_eq!(got, "slept");
                }
            }
        }
    }
}

/// Collect a relay's tagged outcomes.
async fn take(chaos: &Chaos, relay: &str) {
    let answer = chaos.call("take", relay, "take", Duration::from_secs(3)).await;
    if let Some(lines) = body(&answer) {
        chaos.book().taken.extend(lines.lines().filter(|l| !l.is_empty()).map(str::to_owned));
    }
}

/// The crash count of `name` is now known to be `crashes` more.
fn crashed(chaos: &Chaos, name: &str, answer: &Answer) {
    let mut book = chaos.book();
    match answer {
        Err(RequestError::ReceiverCrashed(reason)) => {
            // "Stopped before answering" would be a stop, not a trap.
            assert!(!reason.contains("stopped before answering"), "{name}: {reason}");
            *book.crashes.entry(name.into()).or_default() += 1;
            book.crash_times.push(Instant::now());
            book.traps += 1;
        }
        Err(RequestError::Timeout) => {
            book.uncertain.insert(name.into());
            book.crash_times.push(Instant::now());
            book.maybe_traps += 1;
        }
        Err(RequestError::Refused(_)) => {}
        other => panic!("{name} survived what should have crashed it: {other:?}"),
    }
}

/// Poll until the condition holds (or about three seconds passed); true if it did.
macro_rules! eventually {
    ($condition:expr) => {{
        let mut held = false;
        for _ in 0..300 {
            if $condition {
                held = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        held
    }};
}

/// The driver: at random intervals, a trap, a CPU or memory limit hit, a forced stop or
/// restart, or a crash of the component under the nested supervisor.
async fn driver(chaos: Arc<Chaos>, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut fragile_crashes = 0u32;
    while Instant::now() < chaos.end {
        tokio::time::sleep(Duration::from_millis(40 + rng.below(120))).await;
        // Stay within the root supervisor's intensity (with room to spare).
        let recent = {
            let book = chaos.book();
            book.crash_times.iter().filter(|t| t.elapsed() < ROOT_INTENSITY.1).count() as u32
        };
        let may_crash = recent < ROOT_INTENSITY.0 * 3 / 4;
        let t = Duration::from_secs(2);
        let action = rng.below(100);
        let name: &'static str = match action {
            0..55 if !may_crash => "pause",
            0..25 => {
                let c = COUNTERS[rng.below(3) as usize];
                let answer = chaos.call("driver", c, "crash", t).await;
                crashed(&chaos, c, &answer);
                "trap"
            }
            25..35 => {
                let answer = chaos.call("driver", SLOW, "spin", t).await;
                crashed(&chaos, SLOW, &answer);
                "cpu-limit"
            }
            35..45 => {
                let answer = chaos.call("driver", SLOW, "grow:16", t).await;
                crashed(&chaos, SLOW, &answer);
                "memory-limit"
            }
            45..55 => {
                let kv = KVS[rng.below(2) as usize];
                let answer = chaos.call("driver", kv, "crash", t).await;
                crashed(&chaos, kv, &answer);
                "trap"
            }
            55..65 => {
                let names = restartable();
                let target = names[rng.below(names.len() as u64) as usize];
                chaos.host.restart(target).await.unwrap();
                let mut book = chaos.book();
                book.crashes.remove(target);
                book.uncertain.remove(target);
                "restart"
            }
            65..73 => {
                let names = restartable();
                let target = names[rng.below(names.len() as u64) as usize];
                chaos.host.stop(target).await.unwrap();
                tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
                chaos.host.spawn(spec(target)).await.unwrap();
                let mut book = chaos.book();
                book.crashes.remove(target);
                book.uncertain.remove(target);
                "stop-and-spawn"
            }
            73..78 => {
                let epoch = &chaos.epochs["r3"];
                epoch.fetch_add(1, Ordering::SeqCst);
                chaos.host.restart("r3").await.unwrap();
                epoch.fetch_add(1, Ordering::SeqCst);
                "restart-relay"
            }
            78..88 if may_crash => {
                // The nested supervisor allows FRAGILE_INTENSITY restarts; one more crash
                // and it gives up, and the root starts it (and a fresh FRAGILE) again.
                let answer = chaos.call("driver", FRAGILE, "crash", t).await;
                assert!(matches!(answer, Err(RequestError::ReceiverCrashed(_))), "{answer:?}");
                fragile_crashes += 1;
                chaos.book().crash_times.push(Instant::now());
                let host = &chaos.host;
                if fragile_crashes <= FRAGILE_INTENSITY {
                    let want = Some(fragile_crashes);
                    let ok = eventually!(host.restarts(FRAGILE) == want);
                    assert!(ok, "{FRAGILE}: restarts {:?}, want {want:?}", host.restarts(FRAGILE));
                } else {
                    // A new supervisor with a new child: no restarts, a fresh count.
                    let ok = eventually!({
                        host.restarts(FRAGILE) == Some(0)
                            && host.call(FRAGILE, raw("x"), T).await.is_ok()
                    });
                    assert!(ok, "the nested supervisor was not started again");
                    let count = text(host.call(FRAGILE, raw("x"), T).await.unwrap());
                    assert_eq!(count, "2", "{FRAGILE} kept its state across its supervisor");
                    fragile_crashes = 0;
                    chaos.book().give_ups += 1;
                }
                "nested-crash"
            }
            _ => "pause",
        };
        *chaos.book().actions.entry(name).or_default() += 1;
    }
}

/// Memory of each component's live instance.
async fn memory(host: &Host) -> HashMap<String, usize> {
    host.components().await.into_iter().map(|c| (c.address.to_string(), c.memory_bytes)).collect()
}

/// See the module documentation.
#[test]
fn every_request_gets_one_outcome_under_chaos() {
    let seed = std::env::var("AIRSSYS_CHAOS_SEED").unwrap_or_else(|_| "24680".into());
    let secs = secs_from_env("AIRSSYS_CHAOS_SECS", 15).as_secs().to_string();
    eprintln!("chaos: seed {seed}, {secs} s (AIRSSYS_CHAOS_SEED, AIRSSYS_CHAOS_SECS)");
    let output = run_child_test(
        "chaos::chaos_child",
        &[("AIRSSYS_CHAOS_SEED", seed), ("AIRSSYS_CHAOS_SECS", secs)],
    );
    for line in output.lines().filter_map(|l| l.find("chaos: ").map(|at| &l[at..])) {
        eprintln!("{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a child process by every_request_gets_one_outcome_under_chaos"]
async fn chaos_child() {
    if !in_child() {
        return;
    }
    let seed: u64 = std::env::var("AIRSSYS_CHAOS_SEED").unwrap().parse().unwrap();
    let duration = secs_from_env("AIRSSYS_CHAOS_SECS", 15);
    let dir = tempfile::tempdir().unwrap();
    let tree = Supervision {
        strategy: Strategy::OneForOne,
        intensity: Some(ROOT_INTENSITY),
        children: vec![TreeChild::Supervisor(
            "fragile-sup".into(),
            Supervision {
                strategy: Strategy::OneForOne,
                intensity: Some((FRAGILE_INTENSITY, Duration::from_secs(60))),
                children: vec![TreeChild::Component(FRAGILE.into())],
            },
        )],
    };
    let mut builder = HostBuilder::default().data_dir(dir.path()).supervision(tree);
    for name in all_names().into_iter().chain([FRAGILE]) {
        builder = builder.component(spec(name));
    }
    let host = builder.start().await.unwrap();

    // Warm up: every component handles a message, then the baseline is taken.
    for name in all_names() {
        let warm = if name.starts_with('r') { "self" } else { "get:warm" };
        host.call(name, raw(warm), T).await.unwrap();
    }
    let components = host.components().await;
    let baseline_memory = memory(&host).await;
    let started = Instant::now();
    let chaos = Arc::new(Chaos {
        host,
        book: Mutex::default(),
        epochs: RELAYS.iter().map(|(r, _)| (*r, AtomicU32::new(0))).collect(),
        end: started + duration,
    });

    let mut tasks = Vec::new();
    for w in 0..4 {
        tasks.push(tokio::spawn(worker(Arc::clone(&chaos), w, seed)));
    }
    tasks.push(tokio::spawn(driver(Arc::clone(&chaos), seed)));
    // The process's memory once the allocator and the instance pool are warm.
    tokio::time::sleep(duration / 4).await;
    let rss_warm = rss_bytes();
    for task in tasks {
        task.await.unwrap();
    }
    let chaos_time = started.elapsed();

    // Every tagged request has had its timeout (at most a second) by now; collect them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let host = &chaos.host;
    for (relay, _) in RELAYS {
        let drained = eventually!(text(host.call(relay, raw("pending"), T).await.unwrap()) == "0");
        assert!(drained, "{relay} still has requests pending long after their timeouts");
        take(&chaos, relay).await;
        let stray = text(host.call(relay, raw("callbacks"), T).await.unwrap());
        assert_eq!(stray, "", "{relay} got callbacks for requests it did not make");
    }

    let mut book = std::mem::take(&mut *chaos.book.lock().unwrap());
    let book = &mut book;

    // Exactly one outcome per request: none twice, none unknown, none missing.
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut guest_outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for line in &book.taken {
        let (tag, outcome) = line.split_once(' ').unwrap_or((line, ""));
        let count = seen.entry(tag.to_owned()).or_default();
        *count += 1;
        assert_eq!(*count, 1, "request {tag} was answered twice: {line}");
        let tagged =
            book.tags.get(tag).unwrap_or_else(|| panic!("an outcome for no request: {line}"));
        let what = match outcome.split_once(':').map_or(outcome, |(k, _)| k) {
            "ok" => "response",
            "timeout" => "timeout",
            "crashed" => "receiver-crashed",
            _ if outcome.starts_with("error:RequestError::Refused") => "refused",
            _ => panic!("unexpected outcome {line}"),
        };
        *guest_outcomes.entry(format!("guest-request {what}")).or_default() += 1;
        if let Some(got) = outcome.strip_prefix("ok:") {
            match &tagged.expect {
                Expect::Echo(want) => assert_eq!(got, want, "{line}"),
                Expect::Number => assert!(got.parse::<u64>().is_ok(), "{line}"),
                Expect::Slept => assert_eq!(got, "slept", "{line}"),
                Expect::Write(key) => {
                    assert_eq!(got, "ok", "{line}");
                    book.acked.push(("kv1".into(), key.clone(), "x".into()));
                }
            }
        }
    }
    let mut lost_with_relay = 0;
    for (tag, tagged) in &book.tags {
        let current = tagged.epoch == chaos.epoch(tagged.relay);
        if tagged.issued && current {
            assert!(seen.contains_key(tag), "request {tag} of {} got no outcome", tagged.relay);
        } else if !seen.contains_key(tag) {
            lost_with_relay += 1;
        }
    }
    book.outcomes.extend(guest_outcomes);

    // Every acknowledged write is there, through the store and through the component.
    let store = host.storage().unwrap();
    for (component, key, value) in &book.acked {
        let got = store.get(component, key).await.unwrap();
        assert_eq!(
            got.as_deref(),
            Some(value.as_bytes()),
            "acknowledged write {component}/{key} lost"
        );
    }
    for (component, key, value) in book.acked.iter().rev().take(20) {
        assert_eq!(
            text(host.call(component, raw(&format!("get:{key}")), T).await.unwrap()),
            *value
        );
    }

    // One restart per crash, no more; the root supervisor never gave up (it was kept within
    // its intensity), the nested one did each time its intensity was exceeded.
    let letters = host.dead_letters();
    for (name, crashes) in &book.crashes {
        if !book.uncertain.contains(name) {
            assert_eq!(host.restarts(name), Some(*crashes), "restarts of {name}");
        }
    }
    let fragile_letters = letters.iter().filter(|l| &*l.component == FRAGILE).count() as u32;
    let traps = book.traps + fragile_letters;
    let letters_total = letters.len() as u32;
    // Every trap left its message as a dead letter (the log keeps the last 1024).
    if traps + book.maybe_traps < 1024 {
        assert!(
            (traps..=traps + book.maybe_traps).contains(&letters_total),
            "{letters_total} dead letters for {traps} traps ({} uncertain)",
            book.maybe_traps
        );
    }
    let worst_window = book
        .crash_times
        .iter()
        .map(|t| {
            book.crash_times.iter().filter(|u| **u >= *t && **u - *t < ROOT_INTENSITY.1).count()
        })
        .max()
        .unwrap_or(0);
    assert!(worst_window as u32 <= ROOT_INTENSITY.0);

    // Back to the baseline: the same components, all running, nothing queued, instance
    // memory as after the warm-up, every relay able to make its full quota of requests.
    let after = host.components().await;
    let names = |c: &[airssys_wasm::ComponentInfo]| {
        let mut n: Vec<String> = c.iter().map(|c| c.address.to_string()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&after), names(&components));
    for c in &after {
        assert_eq!(c.state, ComponentState::Running, "{}", c.address);
        assert_eq!(c.mailbox_len, 0, "{}", c.address);
        if let Some(&base) = baseline_memory.get(&*c.address) {
            assert!(
                c.memory_bytes <= base + (2 << 20),
                "{}: {} bytes of memory, {base} at the start",
                c.address,
                c.memory_bytes
            );
        }
    }
    for (relay, _) in RELAYS {
        let all = text(
            host.call(relay, raw(&format!("request-many:{PENDING}:5000:n")), T).await.unwrap(),
        );
        assert_eq!(
            all,
            format!("requested {PENDING}, refused 0"),
            "{relay} leaked pending requests"
        );
    }
    let rss_end = rss_bytes();
    let summary = format!(
        "chaos: {:.1} s, {} requests, {} tagged guest requests ({lost_with_relay} went with a restarted relay), {} acknowledged writes, {} traps, {} nested give-ups, {} dead letters; rss {} MiB warm, {} MiB at the end",
        chaos_time.as_secs_f64(),
        book.outcomes.values().sum::<u64>(),
        book.tags.len(),
        book.acked.len(),
        traps,
        book.give_ups,
        letters_total,
        rss_warm >> 20,
        rss_end >> 20,
    );
    eprintln!("{summary}");
    eprintln!("chaos: driver actions {:?}", book.actions);
    eprintln!("chaos: outcomes {:?}", book.outcomes);
    assert!(
        rss_end <= rss_warm + (64 << 20),
        "memory grew from {} MiB to {} MiB",
        rss_warm >> 20,
        rss_end >> 20
    );
    // Enough happened for the run to mean something.
    assert!(book.traps > 0 && book.tags.len() > 10 && !book.acked.is_empty());
}
