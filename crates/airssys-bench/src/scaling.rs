//! How airssys-wasm's costs grow: with the number of live components, with the payload size,
//! and what epoch-based CPU preemption costs a compute-bound guest. Each group returns
//! several figures, each with its same-run baseline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_wasm::{ComponentSpec, EngineConfig, Host, Payload, Source, codec};
use tokio::runtime::Runtime;
use wasmtime::component::Component;

use crate::Scale;
use crate::harness::percentile;
use crate::report::{Baseline, Figure};
use crate::wasm::{raw_calls_with, raw_engine_with, raw_round_robin, raw_text, text};

/// Messages the scaling figures send to one component in a row, and that the raw baseline
/// hands one instance per visit: both handle the same batch per visit.
const BURST: u64 = 16;

/// Component counts the scaling figures are taken at.
const COUNTS: [usize; 5] = [1, 10, 100, 1_000, 10_000];

const T: Duration = Duration::from_secs(120);

fn err(e: impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

/// Send `payload` to `name`, yielding while its mailbox is full.
async fn send(host: &Host, name: &str, payload: &Payload) -> anyhow::Result<()> {
    loop {
        match host.send(name, payload.clone()) {
            Ok(()) => return Ok(()),
            Err(airssys_wasm::SendError::MailboxFull) => tokio::task::yield_now().await,
            Err(e) => anyhow::bail!("send to {name} failed: {e:?}"),
        }
    }
}

/// Host → components: `m` 64-byte messages spread round-robin over `names`, [`BURST`] to one
/// component at a time, then one call to
/// each (concurrently) that returns once all its earlier messages were handled. Returns the
/// time per handled message and checks that every message was counted.
async fn spread(host: Arc<Host>, names: Arc<Vec<String>>, m: u64) -> anyhow::Result<f64> {
    let payload = Payload { codec: codec::RAW, bytes: vec![7u8; 64] };
    let before = counts(&host, &names).await?;
    let start = Instant::now();
    for i in 0..m {
        send(&host, &names[(i / BURST) as usize % names.len()], &payload).await?;
    }
    let after = counts(&host, &names).await?;
    let elapsed = start.elapsed();
    // Each `counts` call is itself counted by its component.
    let handled = after - before - names.len() as u64;
    anyhow::ensure!(handled == m, "{m} messages sent, {handled} handled");
    Ok(elapsed.as_nanos() as f64 / (m + names.len() as u64) as f64)
}

/// The sum of the counters' counts, one concurrent call to each.
async fn counts(host: &Arc<Host>, names: &[String]) -> anyhow::Result<u64> {
    let mut calls = tokio::task::JoinSet::new();
    for name in names {
        let (host, name) = (Arc::clone(host), name.clone());
        calls.spawn(async move { host.call(&name, raw_text("count"), T).await });
    }
    let mut sum = 0;
    while let Some(answer) = calls.join_next().await {
        sum += text(answer?.map_err(err)?).parse::<u64>()?;
    }
    Ok(sum)
}

/// Sequential host `call`s round-robin over `names`; p50 and p99 in ns.
async fn call_latency(
    host: Arc<Host>,
    names: Arc<Vec<String>>,
    n: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        host.call(&names[i % names.len()], raw_text("x"), T).await.map_err(err)?;
        times.push(start.elapsed().as_nanos() as f64);
    }
    Ok((percentile(times.clone(), 0.5), percentile(times, 0.99)))
}

/// Throughput and call latency at 1 to 10k live `counter` components in one host, and RSS per
/// idle component at 100, 1k and 10k (fresh child processes, raw instances as baseline).
pub fn components(rt: &Runtime, scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let max = *COUNTS.last().expect("counts");
    let messages = scale.messages.max(20 * max as u64);
    // Raw wasmtime over as many live instances, each count in its own pool, measured before
    // our host reserves its pool (two pools for 10k do not fit next to each other).
    let mut raws = Vec::new();
    for count in COUNTS {
        let (mut sends, mut calls) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let raw = rt.block_on(raw_round_robin(count, messages.min(200_000), BURST))?;
            sends.push(raw.per_message);
            calls.push(raw.call_p50);
        }
        raws.push((crate::harness::median(sends), crate::harness::median(calls)));
    }
    let bytes: Arc<[u8]> = std::fs::read(test_programs::COUNTER)?.into();
    let host = Arc::new(
        rt.block_on(
            Host::builder()
                .engine(EngineConfig {
                    pool_components: Some(max as u32 + 16),
                    ..Default::default()
                })
                .start(),
        )?,
    );
    let calls = if scale.samples < 20 { 2_000 } else { 10_000 };
    let mut names: Vec<String> = Vec::new();
    let mut figures = Vec::new();
    for (step, count) in COUNTS.into_iter().enumerate() {
        for i in names.len()..count {
            let name = format!("c{i}");
            let spec = ComponentSpec::new(name.as_str(), Source::Bytes(Arc::clone(&bytes)));
            rt.block_on(host.spawn(spec))?;
            names.push(name);
        }
        let shared = Arc::new(names.clone());
        let samples = scale.samples.min(5);
        let mut sends = Vec::new();
        let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
        rt.block_on(rt.spawn(spread(Arc::clone(&host), Arc::clone(&shared), messages / 10)))??;
        for _ in 0..samples {
            let job = spread(Arc::clone(&host), Arc::clone(&shared), messages);
            sends.push(rt.block_on(rt.spawn(job))??);
            let job = call_latency(Arc::clone(&host), Arc::clone(&shared), calls);
            let (p50, p99) = rt.block_on(rt.spawn(job))??;
            p50s.push(p50);
            p99s.push(p99);
        }
        let (raw_send, raw_call) = raws[step];
        let send = crate::harness::median(sends);
        let (p50, p99) = (crate::harness::median(p50s), crate::harness::median(p99s));
        let mut f = Figure::vs(
            &format!("wasm.scale_send_{count}_components"),
            send,
            "ns/msg",
            &format!("raw wasmtime, {count} instances, {BURST} per visit"),
            raw_send,
            3.0,
        );
        f.unit = format!("ns/msg (≈ {:.0}k msg/s)", 1e6 / send);
        figures.push(f);
        figures.push(Figure::at_most(
            &format!("wasm.scale_call_p50_{count}_components"),
            (p50, format!("ns (p99 {p99:.0})")),
            (&format!("raw wasmtime call p50, {count} instances"), raw_call),
            10_000.0,
            "p50 <= 10000 ns",
        ));
        crate::report::print_row(&figures[figures.len() - 2]);
        crate::report::print_row(&figures[figures.len() - 1]);
    }
    if let Ok(host) = Arc::try_unwrap(host) {
        rt.block_on(host.shutdown(Duration::from_secs(30)));
    }
    for count in [100, 1_000, 10_000] {
        let ours = crate::harness::probe("wasm", count)?;
        let base = crate::harness::probe("wasm-raw", count)?;
        let f = Figure::at_most(
            &format!("wasm.rss_per_component_{count}"),
            (ours, "bytes/component".into()),
            ("raw wasmtime instance after init", base),
            262_144.0,
            "<= 262144 bytes/component",
        );
        crate::report::print_row(&f);
        figures.push(f);
    }
    Ok(figures)
}

/// The payload figures' mailbox: bounds the bytes in flight (64 MiB at 1 MiB payloads).
const PAYLOAD_MAILBOX: usize = 64;

/// Payload sizes of the payload figures.
const SIZES: [usize; 5] = [64, 1 << 10, 16 << 10, 64 << 10, 1 << 20];

/// Host → component send of 64 B to 1 MiB payloads (the whole path: copy into the mailbox,
/// lowering into the guest's memory, the guest's handler) next to raw wasmtime calling the
/// same handler with the same payload; then how the cost grows from 64 KiB to 1 MiB.
pub fn payloads(rt: &Runtime, scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let host = Arc::new(
        rt.block_on(
            Host::builder()
                .component(
                    ComponentSpec::new("counter", Source::File(test_programs::COUNTER.into()))
                        .mailbox(PAYLOAD_MAILBOX),
                )
                .start(),
        )?,
    );
    let engine = raw_engine_with(true)?;
    let component = Component::from_file(&engine, test_programs::COUNTER)?;
    let names = Arc::new(vec!["counter".to_string()]);
    let mut figures = Vec::new();
    let (mut per_size, mut raw_per_size) = (Vec::new(), Vec::new());
    for size in SIZES {
        // About 64 MiB of payload per sample, at least 64 and at most the usual count.
        let n = ((64usize << 20) / size).clamp(64, scale.round_trips as usize) as u64;
        let payload = Payload { codec: codec::RAW, bytes: vec![7u8; size] };
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        for _ in 0..scale.samples.min(7) {
            let job = sized(Arc::clone(&host), Arc::clone(&names), payload.clone(), n);
            ours.push(rt.block_on(rt.spawn(job))??);
            let d = rt.block_on(raw_calls_with(&component, &engine, n, vec![7u8; size], true))?;
            base.push(d.as_nanos() as f64 / n as f64);
        }
        let (ours, base) = (crate::harness::median(ours), crate::harness::median(base));
        per_size.push(ours);
        raw_per_size.push(base);
        let f = Figure::vs(
            &format!("wasm.payload_send_{}", human(size)),
            ours,
            "ns/msg",
            "raw wasmtime handle-message, same payload",
            base,
            3.0,
        );
        crate::report::print_row(&f);
        figures.push(f);
    }
    if let Ok(host) = Arc::try_unwrap(host) {
        rt.block_on(host.shutdown(Duration::from_secs(5)));
    }
    // 64 KiB → 1 MiB is 16x the bytes. Both paths allocate a fresh payload per message, and
    // glibc serves allocations above its mmap threshold (128 KiB at first) with fresh pages,
    // so both grow faster than the bytes; the figure is how our growth compares with raw
    // wasmtime's over the same sizes (the part of the cost that is ours).
    let ours = per_size[4] / per_size[3];
    let raw = raw_per_size[4] / raw_per_size[3];
    let mut f = Figure::vs(
        "wasm.payload_growth_64k_to_1m",
        ours,
        "x the cost for 16x the bytes",
        "raw wasmtime's growth, same sizes",
        raw,
        1.25,
    );
    f.peers = vec![Baseline { name: "linear growth".into(), value: 16.0 }];
    crate::report::print_row(&f);
    figures.push(f);
    Ok(figures)
}

fn human(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{}m", s >> 20),
        s if s >= 1 << 10 => format!("{}k", s >> 10),
        s => format!("{s}b"),
    }
}

/// `n` sends of `payload` then one call; ns per message. Each send hands over its own copy
/// of the payload (made inside the timing, as the raw baseline's calls do); the sends go in
/// windows of the mailbox's size, each closed by a call (one call per 63 messages).
async fn sized(
    host: Arc<Host>,
    names: Arc<Vec<String>>,
    payload: Payload,
    n: u64,
) -> anyhow::Result<f64> {
    // In windows that fit the mailbox, each closed by a call that returns once the window
    // is handled: no send is ever refused, so each message is exactly one copy of the
    // payload (a retried send would make another).
    let window = PAYLOAD_MAILBOX as u64 - 1;
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let batch = window.min(n - sent);
        for _ in 0..batch {
            host.send(&names[0], payload.clone()).map_err(err)?;
        }
        sent += batch;
        if sent < n {
            host.call(&names[0], raw_text("count"), T).await.map_err(err)?;
        }
    }
    host.call(&names[0], raw_text("count"), T).await.map_err(err)?;
    Ok(start.elapsed().as_nanos() as f64 / n as f64)
}

/// A compute-bound guest (`burn:<n>` of the misbehave guest, about 10 ms per call) run by the
/// host with its CPU deadline armed (epoch interruption on, the ticker running), next to raw
/// wasmtime running the same handler on an engine without epoch interruption.
pub fn preemption(rt: &Runtime, scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let work = "burn:4000000";
    let host = rt.block_on(
        Host::builder()
            .component(
                ComponentSpec::new("burn", Source::File(test_programs::MISBEHAVE.into()))
                    .cpu_per_message(Duration::from_secs(30)),
            )
            .start(),
    )?;
    let off = raw_engine_with(false)?;
    let on = raw_engine_with(true)?;
    let off_component = Component::from_file(&off, test_programs::MISBEHAVE)?;
    let on_component = Component::from_file(&on, test_programs::MISBEHAVE)?;
    let calls = 10;
    let (mut ours, mut raw_off, mut raw_on) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..scale.samples.max(9) + 1 {
        let start = Instant::now();
        for _ in 0..calls {
            rt.block_on(host.call("burn", raw_text(work), T)).map_err(err)?;
        }
        let d = start.elapsed();
        let payload = work.as_bytes().to_vec();
        let b = rt.block_on(raw_calls_with(&off_component, &off, calls, payload.clone(), false))?;
        let e = rt.block_on(raw_calls_with(&on_component, &on, calls, payload, false))?;
        if round > 0 {
            ours.push(d.as_nanos() as f64 / calls as f64 / 1e3);
            raw_off.push(b.as_nanos() as f64 / calls as f64 / 1e3);
            raw_on.push(e.as_nanos() as f64 / calls as f64 / 1e3);
        }
    }
    rt.block_on(host.shutdown(Duration::from_secs(5)));
    let (ours, off, on) = (
        crate::harness::median(ours),
        crate::harness::median(raw_off),
        crate::harness::median(raw_on),
    );
    let mut f = Figure::vs(
        "wasm.epoch_preemption_overhead",
        ours,
        "µs/call (compute-bound)",
        "raw wasmtime, epoch interruption off",
        off,
        1.1,
    );
    f.target = "<= 10% over no preemption".into();
    f.peers = vec![
        Baseline { name: "raw wasmtime, epoch interruption off".into(), value: off },
        Baseline { name: "raw wasmtime, epoch interruption on".into(), value: on },
    ];
    Ok(vec![f, bystander(rt, scale)?])
}

/// `wasm.bystander_under_spinners`: a bystander's call round trip while as many spinning
/// guests as worker threads compute (each call of theirs runs until trapped at its budget,
/// and they are called again at once), against the same bystander alone in the same run.
/// Target: it keeps at least half its solo throughput (ratio <= 2 in time per call).
fn bystander(rt: &Runtime, _scale: Scale) -> anyhow::Result<Figure> {
    const SPINNERS: usize = 2;
    let mut builder = Host::builder()
        .component(ComponentSpec::new("bystander", Source::File(test_programs::ECHO.into())));
    for i in 0..SPINNERS {
        builder = builder.component(
            ComponentSpec::new(
                format!("spinner{i}"),
                Source::File(test_programs::MISBEHAVE.into()),
            )
            .cpu_per_message(Duration::from_millis(200)),
        );
    }
    let host = Arc::new(rt.block_on(builder.start())?);
    // A round lasts milliseconds, well within one spinner call (a 200 ms budget).
    let calls = 1000;
    let round = |host: &Host| {
        let start = Instant::now();
        for _ in 0..calls {
            rt.block_on(host.call("bystander", raw_text("ping"), T)).map_err(err)?;
        }
        anyhow::Ok(start.elapsed().as_nanos() as f64 / calls as f64)
    };
    let mut solo = Vec::new();
    for _ in 0..5 {
        solo.push(round(&host)?);
    }
    // The spinners: each is called again as soon as its call traps, until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinners: Vec<_> = (0..SPINNERS)
        .map(|i| {
            let (host, stop) = (Arc::clone(&host), Arc::clone(&stop));
            rt.spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = host.call(&format!("spinner{i}"), raw_text("spin"), T).await;
                }
            })
        })
        .collect();
    // Let the spinners get going.
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
    let mut loaded = Vec::new();
    for _ in 0..5 {
        loaded.push(round(&host)?);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for spinner in spinners {
        rt.block_on(spinner)?;
    }
    let (solo, loaded) = (crate::harness::median(solo), crate::harness::median(loaded));
    let mut f = Figure::vs(
        "wasm.bystander_under_spinners",
        loaded,
        "ns/call",
        "the same bystander alone",
        solo,
        2.0,
    );
    f.target = format!(">= 50% of solo throughput with {SPINNERS} spinners on 2 workers");
    f.note = Some(format!(
        "echo call round trip from block_on; {SPINNERS} misbehave guests spin (200 ms budget, \
         called again after each trap); solo {:.0} calls/s, loaded {:.0} calls/s",
        1e9 / solo,
        1e9 / loaded
    ));
    Ok(f)
}
