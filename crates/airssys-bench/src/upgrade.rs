//! Hot code upgrade against a plain restart of the same component, under the same steady
//! stream of calls from the host: the time from the operation's call to the first answer of
//! the new code (or new instance), the longest pause between two answers around it, and the
//! messages lost.
//!
//! The component is the `versioned` guest: an upgrade flips it between its `v1` and `v2`
//! builds, which hand their count over, so that an answer says which code gave it and a gap
//! in the count is a lost message. A restart starts the count again from 1.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airssys_wasm::{ComponentSpec, Host, Source, Upgrade};
use tokio::runtime::Runtime;

use crate::Scale;
use crate::harness::percentile;
use crate::report::Figure;
use crate::wasm::{raw_text, shut_down, text};

const T: Duration = Duration::from_secs(5);

/// When each answer came and what it said (`Err`: the call failed).
type Answers = Arc<Mutex<Vec<(Instant, Result<(String, u64), String>)>>>;

/// What one operation did to the stream.
struct Round {
    /// From the operation's start to the first answer of the new code or instance.
    time: f64,
    /// The longest time between two answers, from the last answer before the operation to
    /// the first answer after it.
    pause: f64,
    /// Calls that failed, and answers the count skipped.
    lost: u64,
}

/// Read the stream from `start` on: `fresh` says whether an answer is the new code's.
fn round(answers: &Answers, start: Instant, fresh: impl Fn(&str, u64) -> bool) -> Option<Round> {
    let answers = answers.lock().unwrap_or_else(|e| e.into_inner());
    let first_after = answers.iter().position(|(at, _)| *at >= start)?;
    let from = first_after.saturating_sub(1);
    let new = answers[first_after..]
        .iter()
        .position(|(_, a)| a.as_ref().is_ok_and(|(v, n)| fresh(v, *n)))?
        + first_after;
    let window = &answers[from..=new];
    // A pause in message handling: between two answers (a refused call is none).
    let answered: Vec<Instant> =
        window.iter().filter(|(_, a)| a.is_ok()).map(|(at, _)| *at).collect();
    let pause = answered
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_nanos() as f64)
        .fold(0.0, f64::max);
    let mut lost = window.iter().filter(|(_, a)| a.is_err()).count() as u64;
    let counts: Vec<u64> =
        window.iter().filter_map(|(_, a)| a.as_ref().ok().map(|a| a.1)).collect();
    // Across an upgrade the count goes on (handed over); a skipped number is a lost message.
    lost += counts.windows(2).map(|w| w[1].saturating_sub(w[0] + 1)).sum::<u64>();
    let time = answers[new].0.duration_since(start).as_nanos() as f64;
    Some(Round { time, pause, lost })
}

/// Forget the answers read (keeping the room they took): the record never grows past one
/// round, so that growing it (a copy of megabytes) never stalls the stream mid-round.
fn forget(answers: &Answers) {
    answers.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Flip the component between `v1` and `v2` `rounds` times, each upgrade followed by a
/// restart; what each did to the stream.
fn rounds(
    rt: &Runtime,
    host: &Host,
    answers: &Answers,
    rounds: usize,
) -> anyhow::Result<(Vec<Round>, Vec<Round>)> {
    let settle = || std::thread::sleep(Duration::from_millis(20));
    let (mut upgrades, mut restarts) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        settle();
        let (file, to) = if i % 2 == 0 {
            (test_programs::VERSIONED_TWO, "v2")
        } else {
            (test_programs::VERSIONED_ONE, "v1")
        };
        let start = Instant::now();
        let upgrade = Upgrade::new(Source::File(file.into())).grace(Duration::ZERO);
        rt.block_on(host.upgrade("counter", upgrade))?;
        settle();
        let upgraded = round(answers, start, |v, _| v == to);
        forget(answers);
        upgrades.push(upgraded.ok_or_else(|| anyhow::anyhow!("no answer from {to}"))?);

        settle();
        let start = Instant::now();
        rt.block_on(host.restart("counter"))?;
        settle();
        let restarted = round(answers, start, |_, n| n == 1);
        forget(answers);
        restarts.push(restarted.ok_or_else(|| anyhow::anyhow!("no answer after a restart"))?);
    }
    Ok((upgrades, restarts))
}

/// Figures `wasm.upgrade_*`: upgrade against restart, same component, same stream. First
/// each upgrade brings code the host has not compiled (a new version: it is compiled during
/// the upgrade, off the executor); then both versions stay compiled (two more components run
/// them), which leaves the swap alone.
pub fn figures(rt: &Runtime, scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let n = if scale.samples < 20 { 10 } else { 40 };
    let spec = |name: &str, file: &str| ComponentSpec::new(name, Source::File(file.into()));
    let start = Host::builder().component(spec("counter", test_programs::VERSIONED_ONE)).start();
    let host = Arc::new(rt.block_on(start)?);
    let answers: Answers = Arc::new(Mutex::new(Vec::with_capacity(1 << 16)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = {
        let (host, answers, stop) = (Arc::clone(&host), Arc::clone(&answers), Arc::clone(&stop));
        rt.spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = match host.call("counter", raw_text("tick"), T).await {
                    Ok(payload) => {
                        let said = text(payload);
                        let (version, n) = said.split_once(':').unwrap_or(("?", "0"));
                        Ok((version.to_owned(), n.parse().unwrap_or(0)))
                    }
                    Err(e) => Err(e.to_string()),
                };
                let mut answers = answers.lock().unwrap_or_else(|e| e.into_inner());
                // A run of refusals (the caller retries at once while a restart is under
                // way) is kept as its first: one call lost, the others retries of it.
                let retry = answer.is_err() && answers.last().is_some_and(|(_, a)| a.is_err());
                if !retry {
                    answers.push((Instant::now(), answer));
                }
            }
        })
    };
    let (compiled, restarts) = rounds(rt, &host, &answers, n)?;
    for (name, file) in
        [("keep1", test_programs::VERSIONED_ONE), ("keep2", test_programs::VERSIONED_TWO)]
    {
        rt.block_on(host.spawn(spec(name, file)))?;
    }
    let (swaps, more_restarts) = rounds(rt, &host, &answers, n)?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    rt.block_on(stream)?;
    shut_down(rt, host);

    let restarts: Vec<Round> = restarts.into_iter().chain(more_restarts).collect();
    let p50 =
        |rounds: &[Round], f: fn(&Round) -> f64| percentile(rounds.iter().map(f).collect(), 0.5);
    let lost = |rounds: &[Round]| rounds.iter().map(|r| r.lost).sum::<u64>() as f64;
    let restart_time = p50(&restarts, |r| r.time);
    // Every figure but the lost messages: against the restart time, the target.
    let vs_restart = |name: &str, value: f64, max_ratio: f64| {
        let base = "Host::restart to the new instance's answer";
        Figure::vs(name, value, "ns", base, restart_time, max_ratio)
    };
    let mut time = vs_restart("wasm.upgrade_time_p50", p50(&compiled, |r| r.time), f64::INFINITY);
    time.target = "none".into();
    time.met = None;
    time.note = Some(format!(
        "from Host::upgrade (new code: read, hashed, compiled; grace 0; state handed over) to \
         the first answer of the new code, under a stream of host calls; {n} upgrades, {} \
         restarts",
        restarts.len()
    ));
    let pause = vs_restart("wasm.upgrade_pause_p50", p50(&compiled, |r| r.pause), 1.0);
    let mut swap = vs_restart("wasm.upgrade_swap_pause_p50", p50(&swaps, |r| r.pause), 1.0);
    swap.note = Some(
        "the longest pause in message handling when both versions are compiled already \
         (the swap alone: hand-over, instantiate, init, take-over)"
            .into(),
    );
    let all: Vec<Round> = compiled.into_iter().chain(swaps).collect();
    let lost = Figure::at_most(
        "wasm.upgrade_lost_messages",
        (lost(&all), "messages".into()),
        ("calls refused during the restarts", lost(&restarts)),
        0.0,
        "0 lost",
    );
    Ok(vec![time, pause, swap, lost])
}
