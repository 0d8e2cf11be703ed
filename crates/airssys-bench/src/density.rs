//! What the dense memory layout (issue 21: a pool of 100,000 components fits in the address
//! space, and guest code checks bounds) costs against wasmtime's default wide layout, in the
//! same run, alternating: host → component sends and host calls, each on a host of each
//! layout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_wasm::{ComponentSpec, EngineConfig, Host, MemoryLayout, Source};
use tokio::runtime::Runtime;

use crate::Scale;
use crate::report::Figure;
use crate::wasm::{host_sends, raw_text};

/// A host of `layout` (a pool of 1,000, as by default) running the counter and the echo.
fn host(rt: &Runtime, layout: MemoryLayout) -> anyhow::Result<Arc<Host>> {
    let engine = EngineConfig { memory_layout: layout, ..Default::default() };
    let started = rt.block_on(
        Host::builder()
            .engine(engine)
            .component(ComponentSpec::new("counter", Source::File(test_programs::COUNTER.into())))
            .component(ComponentSpec::new("echo", Source::File(test_programs::ECHO.into())))
            .start(),
    )?;
    Ok(Arc::new(started))
}

/// p50 of `n` host calls to the echo, in ns.
async fn call_p50(host: Arc<Host>, n: u64) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let start = Instant::now();
        host.call("echo", raw_text("x"), Duration::from_secs(10))
            .await
            .map_err(|e| anyhow::anyhow!("call failed: {e:?}"))?;
        times.push(start.elapsed().as_nanos() as f64);
    }
    Ok(crate::harness::percentile(times, 0.5))
}

/// Dense against wide: send throughput (target: at most 10 % slower) and call p50.
pub fn figures(rt: &Runtime, scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let (dense, wide) = (host(rt, MemoryLayout::Dense)?, host(rt, MemoryLayout::Wide)?);
    let n = scale.round_trips;
    let calls = n.min(20_000);
    // Warm both up.
    for h in [&dense, &wide] {
        rt.block_on(rt.spawn(host_sends(Arc::clone(h), n / 10 + 1)))??;
    }
    let (mut sends, mut sends_wide, mut p50s, mut p50s_wide) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..scale.samples {
        let d = rt.block_on(rt.spawn(host_sends(Arc::clone(&dense), n)))??;
        sends.push(d.as_nanos() as f64 / n as f64);
        let d = rt.block_on(rt.spawn(host_sends(Arc::clone(&wide), n)))??;
        sends_wide.push(d.as_nanos() as f64 / n as f64);
        p50s.push(rt.block_on(rt.spawn(call_p50(Arc::clone(&dense), calls)))??);
        p50s_wide.push(rt.block_on(rt.spawn(call_p50(Arc::clone(&wide), calls)))??);
    }
    crate::wasm::shut_down(rt, dense);
    crate::wasm::shut_down(rt, wide);
    let send = Figure::vs(
        "wasm.dense_layout_send",
        crate::harness::median(sends),
        "ns/msg (host to counter)",
        "the same on a wide-layout host",
        crate::harness::median(sends_wide),
        1.1,
    );
    let mut call = Figure::vs(
        "wasm.dense_layout_call_p50",
        crate::harness::median(p50s),
        "ns (host call to echo)",
        "the same on a wide-layout host",
        crate::harness::median(p50s_wide),
        1.1,
    );
    call.target = "ratio <= 1.1".into();
    Ok(vec![send, call])
}

/// Where spawn times are taken: the spawns just before each of these live counts.
const MARKS: [usize; 3] = [1_000, 10_000, 100_000];

/// Spawns timed at each mark.
const WINDOW: usize = 500;

/// Runs in a child process: `count` live idle echo components in one pool of that size (the
/// dense layout, as `Auto` picks for it). Prints the RSS growth per component, then the
/// spawn p50 and p99 (ns) over the [`WINDOW`] spawns before each mark of [`MARKS`] the count
/// reaches.
pub fn live_probe(count: usize) -> anyhow::Result<Vec<f64>> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let slots = u32::try_from(count + 16)?;
    rt.block_on(async move {
        let bytes: Arc<[u8]> = std::fs::read(test_programs::ECHO)?.into();
        let spec = |name: String| ComponentSpec::new(name, Source::Bytes(Arc::clone(&bytes)));
        let engine = EngineConfig { pool_components: Some(slots), ..Default::default() };
        let host = Host::builder().engine(engine).component(spec("warm".into())).start().await?;
        anyhow::ensure!(
            host.is_pooling(),
            "the pool for {slots} components was refused (see the warning: vm.max_map_count?)"
        );
        tokio::time::sleep(crate::harness::SETTLE).await;
        let before = crate::harness::rss_bytes()?;
        let mut times = Vec::with_capacity(count);
        for i in 0..count {
            let start = Instant::now();
            host.spawn(spec(format!("c{i}"))).await?;
            times.push(start.elapsed().as_nanos() as f64);
        }
        tokio::time::sleep(crate::harness::SETTLE).await;
        let after = crate::harness::rss_bytes()?;
        let mut out = vec![after.saturating_sub(before) as f64 / count as f64];
        for mark in MARKS.into_iter().filter(|m| *m <= count) {
            let window = times[mark - WINDOW.min(mark)..mark].to_vec();
            out.push(crate::harness::percentile(window.clone(), 0.5));
            out.push(crate::harness::percentile(window, 0.99));
        }
        // Shutting 100,000 components down takes a while, and the process ends anyway.
        std::mem::forget(host);
        Ok(out)
    })
}

/// Live idle components at 100,000 (RSS each, target ≤ 32 KiB) and spawn p50/p99 at 1k,
/// 10k and 100k live (target: p50 and p99 at 100k within 1.5x of those at 1k), measured in
/// a child process. Needs `vm.max_map_count` above 900,000 (each execution stack of the
/// pool is two mappings, and each live component about six more); below it the group fails
/// and says what to set.
pub fn live(_rt: &Runtime, _scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let count = 100_000;
    let maps = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|t| t.trim().parse::<usize>().ok())
        .unwrap_or(0);
    // The pool's stacks take two mappings each, and each live component about six more.
    let needed = 9 * count;
    anyhow::ensure!(
        maps > needed,
        "vm.max_map_count is {maps}: 100,000 live components need about {needed} (sysctl -w \
         vm.max_map_count=1048576)"
    );
    let got = crate::harness::probe_all("density", count)?;
    anyhow::ensure!(got.len() == 7, "the probe printed {got:?}");
    let rss = Figure {
        name: "wasm.live_100k_rss".into(),
        value: got[0],
        unit: "bytes/component (100,000 live idle echo components)".into(),
        baseline: None,
        ratio: None,
        target: "<= 32768 bytes/component".into(),
        met: Some(got[0] <= 32_768.0),
        peers: Vec::new(),
        note: Some(format!("vm.max_map_count {maps}")),
    };
    let mut figures = vec![rss];
    for (i, stat) in ["p50", "p99"].iter().enumerate() {
        let at = |mark: usize| got[1 + 2 * mark + i];
        figures.push(Figure::vs(
            &format!("wasm.spawn_{stat}_at_100k_live"),
            at(2),
            "ns",
            &format!("spawn {stat} at 1k live (10k: {:.0} ns)", at(1)),
            at(0),
            1.5,
        ));
    }
    Ok(figures)
}
