//! The same figures for guests written in Rust, Python (componentize-py) and JavaScript
//! (componentize-js): a host → component call, a spawn of code already compiled, a restart
//! after a trap, and the RSS of an idle component, each against the Rust guest's figure in
//! the same run. The Python and JavaScript guests are the test probes (`echo:x` is answered
//! with `x`, `crash` traps, `count` is 1 in a fresh instance); the Rust figures use `echo`
//! (call, spawn, memory) and `counter` (restart: `crash`, then `tick` answers 1). No targets:
//! the figures say what choosing a language costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_wasm::{ComponentSpec, EngineConfig, Host, Source};
use tokio::runtime::Runtime;

use crate::Scale;
use crate::report::{Baseline, Figure};
use crate::wasm::{raw_text, shut_down, text, timed_spawns};

const T: Duration = Duration::from_secs(30);

/// One language's guest and the messages that exercise it.
struct Guest {
    language: &'static str,
    /// Answers `echo` with `echoed`; spawned and kept idle.
    path: &'static str,
    echo: &'static str,
    echoed: &'static str,
    /// Trapped by `crash`; a fresh instance answers `fresh` with `"1"`.
    restarting: &'static str,
    fresh: &'static str,
}

const GUESTS: [Guest; 3] = [
    Guest {
        language: "rust",
        path: test_programs::ECHO,
        echo: "x",
        echoed: "x",
        restarting: test_programs::COUNTER,
        fresh: "tick",
    },
    Guest {
        language: "python",
        path: test_programs::PYTHON_PROBE,
        echo: "echo:x",
        echoed: "x",
        restarting: test_programs::PYTHON_PROBE,
        fresh: "count",
    },
    Guest {
        language: "javascript",
        path: test_programs::JS_PROBE,
        echo: "echo:x",
        echoed: "x",
        restarting: test_programs::JS_PROBE,
        fresh: "count",
    },
];

/// Compiled Python and JavaScript guests take seconds to compile: kept between runs in the
/// workspace's `target/` (and shared with the memory probes' child processes).
fn engine() -> EngineConfig {
    let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-cache");
    EngineConfig { cache_dir: Some(cache), ..EngineConfig::default() }
}

fn bytes(path: &str) -> anyhow::Result<Arc<[u8]>> {
    Ok(std::fs::read(path)?.into())
}

/// p50 and p99 of host → component calls, timed one by one in a runtime task.
fn call_times(rt: &Runtime, guest: &Guest, n: usize) -> anyhow::Result<Vec<f64>> {
    let spec = ComponentSpec::new("guest", Source::Bytes(bytes(guest.path)?));
    let host = Arc::new(rt.block_on(Host::builder().engine(engine()).component(spec).start())?);
    let driver = Arc::clone(&host);
    let (echo, echoed) = (guest.echo, guest.echoed);
    let times = rt.block_on(rt.spawn(async move {
        let mut times = Vec::with_capacity(n);
        for i in 0..n + 50 {
            let start = Instant::now();
            let answer = driver.call("guest", raw_text(echo), T).await;
            let elapsed = start.elapsed().as_nanos() as f64;
            anyhow::ensure!(text(answer.clone().unwrap_or(None)) == echoed, "{answer:?}");
            if i >= 50 {
                times.push(elapsed);
            }
        }
        anyhow::Ok(times)
    }))??;
    shut_down(rt, host);
    Ok(times)
}

/// Spawns of code the host has already compiled, each returning once `init` has run.
fn spawn_times(rt: &Runtime, guest: &Guest, n: usize) -> anyhow::Result<Vec<f64>> {
    let bytes = bytes(guest.path)?;
    let source = || Source::Bytes(Arc::clone(&bytes));
    let warm = ComponentSpec::new("warm", source());
    let host = Arc::new(rt.block_on(Host::builder().engine(engine()).component(warm).start())?);
    let specs = (0..n).map(|i| ComponentSpec::new(format!("c{i}"), source())).collect();
    let times = timed_spawns(rt, &host, specs)?;
    shut_down(rt, host);
    Ok(times)
}

/// A call that traps the guest, then the next call, answered by the fresh instance.
fn restart_times(rt: &Runtime, guest: &Guest, n: usize) -> anyhow::Result<Vec<f64>> {
    let spec = ComponentSpec::new("guest", Source::Bytes(bytes(guest.restarting)?));
    let host = Host::builder()
        .engine(engine())
        .intensity(u32::MAX, Duration::from_secs(1))
        .component(spec)
        .start();
    let host = Arc::new(rt.block_on(host)?);
    let driver = Arc::clone(&host);
    let fresh = guest.fresh;
    let times = rt.block_on(rt.spawn(async move {
        let mut times = Vec::with_capacity(n);
        for i in 0..n + 5 {
            let start = Instant::now();
            let crashed = driver.call("guest", raw_text("crash"), T).await;
            anyhow::ensure!(
                matches!(crashed, Err(airssys_wasm::RequestError::ReceiverCrashed(_))),
                "the crash message did not crash: {crashed:?}"
            );
            let answer = driver.call("guest", raw_text(fresh), T).await;
            let elapsed = start.elapsed().as_nanos() as f64;
            anyhow::ensure!(text(answer.clone().unwrap_or(None)) == "1", "{answer:?}");
            if i >= 5 {
                times.push(elapsed);
            }
        }
        anyhow::Ok(times)
    }))??;
    shut_down(rt, host);
    Ok(times)
}

/// Runs in a child process (`--memory-probe language-<language> COUNT`): `count` idle
/// components of that language's guest; the RSS growth per component in bytes.
pub fn memory_probe(kind: &str, count: usize) -> anyhow::Result<f64> {
    let language = kind.strip_prefix("language-").unwrap_or(kind);
    let guest = GUESTS
        .iter()
        .find(|g| g.language == language)
        .ok_or_else(|| anyhow::anyhow!("unknown language {language:?}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let bytes = bytes(guest.path)?;
    rt.block_on(async move {
        let spec = |name: String| ComponentSpec::new(name, Source::Bytes(Arc::clone(&bytes)));
        let host = Host::builder().engine(engine()).component(spec("warm".into())).start().await?;
        tokio::time::sleep(crate::harness::SETTLE).await;
        let before = crate::harness::rss_bytes()?;
        for i in 0..count {
            host.spawn(spec(format!("c{i}"))).await?;
        }
        tokio::time::sleep(crate::harness::SETTLE).await;
        let after = crate::harness::rss_bytes()?;
        let live = host.components().await.len();
        anyhow::ensure!(live == count + 1, "only {live} components are live");
        host.shutdown(Duration::from_secs(5)).await;
        Ok(after.saturating_sub(before) as f64 / count as f64)
    })
}

/// A figure for `language` against the Rust one, no target.
fn against_rust(name: String, value: f64, unit: String, rust: f64) -> Figure {
    Figure {
        name,
        value,
        unit,
        baseline: Some(Baseline { name: "the Rust guest, same run".into(), value: rust }),
        ratio: Some(value / rust),
        target: "none (what the language costs)".into(),
        met: None,
        peers: Vec::new(),
        note: None,
    }
}

/// Every figure for every language; each non-Rust one against the Rust one.
pub fn figures(rt: &Runtime, scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let quick = scale.samples < 20;
    let (calls, spawns, restarts, idle) =
        if quick { (2_000, 50, 50, 20) } else { (10_000, 200, 200, 50) };
    let p50 = |v: Vec<f64>| crate::harness::percentile(v, 0.5);
    let p99 = |v: &[f64]| crate::harness::percentile(v.to_vec(), 0.99);
    let mut rust = None;
    let mut figures = Vec::new();
    for guest in &GUESTS {
        let call = call_times(rt, guest, calls)?;
        let spawn = spawn_times(rt, guest, spawns)?;
        let restart = restart_times(rt, guest, restarts)?;
        let rss = crate::harness::probe(&format!("language-{}", guest.language), idle)?;
        let measured = [
            ("call_p50", p99(&call), p50(call), "ns"),
            ("spawn_p50", p99(&spawn), p50(spawn), "ns"),
            ("restart_p50", p99(&restart), p50(restart), "ns"),
            ("idle_rss", rss, rss, "bytes/component"),
        ];
        let Some(base) = &rust else {
            rust = Some(measured.map(|(_, _, value, _)| value));
            continue;
        };
        for ((what, p99, value, unit), rust) in measured.into_iter().zip(base) {
            let unit = if unit == "ns" { format!("ns (p99 {p99:.0})") } else { unit.into() };
            let name = format!("wasm.language.{}.{what}", guest.language);
            figures.push(against_rust(name, value, unit, *rust));
        }
    }
    Ok(figures)
}
