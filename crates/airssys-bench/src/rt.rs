//! airssys-rt figures, each with its raw tokio baseline measured in the same run.

use std::time::{Duration, Instant};

use airssys_rt::{Actor, BoxError, Context, Reply, System};
use anyhow::Context as _;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use crate::Scale;
use crate::report::{Baseline, Figure};

/// One figure and how to produce it.
pub struct Suite {
    pub name: &'static str,
    pub run: fn(&Runtime, Scale) -> anyhow::Result<Figure>,
}

pub const SUITES: &[Suite] = &[
    Suite { name: "rt.tell_throughput", run: tell_throughput },
    Suite { name: "rt.ask_round_trip", run: ask_round_trip },
    Suite { name: "rt.spawn_first_message_stop", run: spawn_first_stop },
    Suite { name: "rt.fan_in_8_senders", run: fan_in },
    Suite { name: "rt.idle_actor_memory_100k", run: idle_memory },
    Suite { name: "peers.tell_throughput", run: crate::peers::tell_throughput },
    Suite { name: "peers.ask_round_trip", run: crate::peers::ask_round_trip },
    Suite { name: "peers.spawn_ask_stop", run: crate::peers::spawn_ask_stop },
    Suite { name: "wasm.host_to_component_send", run: crate::wasm::host_to_component },
    Suite { name: "wasm.component_to_component_send", run: crate::wasm::component_to_component },
    Suite { name: "wasm.call_round_trip_p50", run: crate::wasm::call_round_trip },
    Suite { name: "wasm.request_callback_p50", run: crate::wasm::request_callback },
    Suite { name: "wasm.spawn_p50", run: crate::wasm::spawn },
    Suite { name: "wasm.restart_p50", run: crate::wasm::restart },
    Suite { name: "wasm.operator_restart_p50", run: crate::wasm::operator_restart },
    Suite { name: "wasm.idle_component_rss_10k", run: crate::wasm::idle_memory },
    Suite { name: "wasm.send_security_overhead", run: crate::wasm::security_overhead },
    Suite { name: "wasm.storage_get", run: crate::storage::guest_get },
    Suite { name: "wasm.storage_set", run: crate::storage::guest_set },
    Suite { name: "wasm.storage_writes_1_component", run: crate::storage::writes_1 },
    Suite { name: "wasm.storage_writes_8_components", run: crate::storage::writes_8 },
    Suite { name: "osl.file_read_4k", run: crate::osl::file_read },
    Suite { name: "osl.spawn_true", run: crate::osl::spawn_true },
];

/// Several figures produced by one run (a cost measured at several sizes).
pub struct Group {
    pub name: &'static str,
    pub run: fn(&Runtime, Scale) -> anyhow::Result<Vec<Figure>>,
}

pub const GROUPS: &[Group] = &[
    Group { name: "rt.restart_storm", run: crate::storm::restart_storm },
    Group { name: "wasm.scale_components", run: crate::scaling::components },
    Group { name: "wasm.payload_sizes", run: crate::scaling::payloads },
    Group { name: "wasm.epoch_preemption", run: crate::scaling::preemption },
    Group { name: "wasm.publish_fan_out", run: crate::publish::fan_out },
];

pub fn names() -> Vec<&'static str> {
    SUITES.iter().map(|s| s.name).chain(GROUPS.iter().map(|g| g.name)).collect()
}

pub(crate) const ASK_TIMEOUT: Duration = Duration::from_secs(10);

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Run `sample` `samples` times alternating with `baseline`, so that both see the same machine
/// conditions; return the medians in ns per operation.
fn paired(
    rt: &Runtime,
    scale: Scale,
    ops: u64,
    sample: impl Fn(u64) -> tokio::task::JoinHandle<Duration>,
    baseline: impl Fn(u64) -> tokio::task::JoinHandle<Duration>,
) -> anyhow::Result<(f64, f64)> {
    // Warm up both paths once.
    rt.block_on(sample(ops / 10 + 1))?;
    rt.block_on(baseline(ops / 10 + 1))?;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..scale.samples {
        ours.push(rt.block_on(sample(ops))?.as_nanos() as f64 / ops as f64);
        base.push(rt.block_on(baseline(ops))?.as_nanos() as f64 / ops as f64);
    }
    Ok((median(ours), median(base)))
}

// ----- actors used by the figures ---------------------------------------------------------

/// Counts messages and says when it has seen `target` of them.
struct Counter {
    seen: u64,
    target: u64,
    done: Option<oneshot::Sender<()>>,
}

impl Actor for Counter {
    type Msg = u64;
    async fn handle(&mut self, _msg: u64, _: &mut Context<Self>) -> Result<(), BoxError> {
        self.seen += 1;
        if self.seen == self.target
            && let Some(done) = self.done.take()
        {
            let _ = done.send(());
        }
        Ok(())
    }
}

/// Answers every request with its input.
struct Echo;

impl Actor for Echo {
    type Msg = (u64, Reply<u64>);
    async fn handle(
        &mut self,
        (n, reply): Self::Msg,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        let _ = reply.send(n);
        Ok(())
    }
}

/// An actor that does nothing: the memory figure spawns 100k of them.
struct Idle;

impl Actor for Idle {
    type Msg = ();
    async fn handle(&mut self, _: (), _: &mut Context<Self>) -> Result<(), BoxError> {
        Ok(())
    }
}

// ----- tell --------------------------------------------------------------------------------

pub(crate) async fn counted_tell(system: System, senders: u64, n: u64) -> Duration {
    {
        let (done, finished) = oneshot::channel();
        let target = n / senders * senders;
        let counter = system.spawn(Counter { seen: 0, target, done: Some(done) }).unwrap();
        let start = Instant::now();
        for _ in 0..senders {
            let c = counter.clone();
            tokio::spawn(async move {
                for i in 0..n / senders {
                    c.tell(i).await.unwrap();
                }
            });
        }
        finished.await.unwrap();
        let elapsed = start.elapsed();
        counter.stop();
        counter.wait_for_exit().await;
        elapsed
    }
}

async fn counted_mpsc(senders: u64, n: u64) -> Duration {
    {
        let target = n / senders * senders;
        let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
        let (done, finished) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut seen = 0;
            while rx.recv().await.is_some() {
                seen += 1;
                if seen == target {
                    let _ = done.send(());
                    break;
                }
            }
        });
        let start = Instant::now();
        for _ in 0..senders {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..n / senders {
                    tx.send(i).unwrap();
                }
            });
        }
        finished.await.unwrap();
        start.elapsed()
    }
}

/// `senders` tasks tell one actor, against the same over one tokio channel.
fn tell_figure(
    rt: &Runtime,
    scale: Scale,
    senders: u64,
    name: &str,
    baseline: &str,
) -> anyhow::Result<Figure> {
    let system = rt.block_on(async { System::new() });
    let (ours, base) = paired(
        rt,
        scale,
        scale.messages,
        |n| rt.spawn(counted_tell(system.clone(), senders, n)),
        |n| rt.spawn(counted_mpsc(senders, n)),
    )?;
    Ok(Figure::vs(name, ours, "ns/msg", baseline, base, 1.5))
}

fn tell_throughput(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    tell_figure(rt, scale, 1, "rt.tell_throughput", "tokio mpsc unbounded send+recv")
}

fn fan_in(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    tell_figure(rt, scale, 8, "rt.fan_in_8_senders", "tokio mpsc, 8 senders")
}

// ----- ask ---------------------------------------------------------------------------------

/// One task asks a fresh echo actor `n` times in sequence, each with a 10 s timeout.
pub(crate) async fn asks(system: System, n: u64) -> Duration {
    let echo = system.spawn(Echo).unwrap();
    let start = Instant::now();
    for i in 0..n {
        let r = echo.ask(|reply| (i, reply), ASK_TIMEOUT).await.unwrap();
        debug_assert_eq!(r, i);
    }
    let elapsed = start.elapsed();
    echo.stop();
    echo.wait_for_exit().await;
    elapsed
}

/// `n` times: spawn an echo actor, ask it once, stop it and wait until it has exited.
pub(crate) async fn spawns(system: System, n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        let echo = system.spawn(Echo).unwrap();
        echo.ask(|reply| (i, reply), ASK_TIMEOUT).await.unwrap();
        echo.stop();
        echo.wait_for_exit().await;
    }
    start.elapsed()
}

fn ask_round_trip(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let system = rt.block_on(async { System::new() });
    let (ours, base) = paired(
        rt,
        scale,
        scale.round_trips,
        |n| rt.spawn(asks(system.clone(), n)),
        |n| {
            rt.spawn(async move {
                let (tx, mut rx) = mpsc::unbounded_channel::<(u64, oneshot::Sender<u64>)>();
                tokio::spawn(async move {
                    while let Some((i, reply)) = rx.recv().await {
                        let _ = reply.send(i);
                    }
                });
                let start = Instant::now();
                for i in 0..n {
                    let (rtx, rrx) = oneshot::channel();
                    tx.send((i, rtx)).unwrap();
                    rrx.await.unwrap();
                }
                start.elapsed()
            })
        },
    )?;
    Ok(Figure::vs(
        "rt.ask_round_trip",
        ours,
        "ns/ask",
        "tokio mpsc + oneshot round trip",
        base,
        2.0,
    ))
}

// ----- spawn -------------------------------------------------------------------------------

fn spawn_first_stop(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let system = rt.block_on(async { System::new() });
    let (ours, base) = paired(
        rt,
        scale,
        scale.round_trips,
        |n| rt.spawn(spawns(system.clone(), n)),
        |n| {
            rt.spawn(async move {
                let start = Instant::now();
                for i in 0..n {
                    let (tx, rx) = oneshot::channel::<u64>();
                    let (rtx, rrx) = oneshot::channel::<u64>();
                    let task = tokio::spawn(async move {
                        if let Ok(v) = rx.await {
                            let _ = rtx.send(v);
                        }
                    });
                    tx.send(i).unwrap();
                    rrx.await.unwrap();
                    task.await.unwrap();
                }
                start.elapsed()
            })
        },
    )?;
    Ok(Figure::vs(
        "rt.spawn_first_message_stop",
        ours,
        "ns/actor",
        "tokio::spawn + oneshot message + join",
        base,
        3.0,
    ))
}

// ----- memory ------------------------------------------------------------------------------

pub fn rss_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").context("reading /proc/self/statm")?;
    let pages: u64 =
        statm.split_whitespace().nth(1).context("malformed /proc/self/statm")?.parse()?;
    Ok(pages * 4096)
}

/// Runs in a child process: spawn `count` idle actors (or raw tokio tasks), report RSS growth
/// per actor in bytes on stdout.
pub fn memory_probe(kind: &str, count: usize) -> anyhow::Result<()> {
    if kind.starts_with("wasm") {
        let per = crate::wasm::memory_probe(kind, count)?;
        #[allow(clippy::print_stdout, reason = "the probe reports to its parent on stdout")]
        {
            println!("{per}");
        }
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let per = rt.block_on(async move {
        let system = System::new();
        // Touch the machinery once so that one-time allocations are not counted.
        let warm = system.spawn(Idle).unwrap();
        warm.stop();
        warm.wait_for_exit().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = rss_bytes()?;
        let mut keep_actors = Vec::new();
        let mut keep_tasks = Vec::new();
        match kind {
            "airssys" => {
                keep_actors.reserve(count);
                for _ in 0..count {
                    keep_actors.push(system.spawn(Idle).unwrap());
                }
            }
            "tokio" => {
                keep_tasks.reserve(count);
                for _ in 0..count {
                    let (tx, rx) = oneshot::channel::<()>();
                    tokio::spawn(async move {
                        let _ = rx.await;
                    });
                    keep_tasks.push(tx);
                }
            }
            other => anyhow::bail!("unknown memory probe {other:?}"),
        }
        // Let every task run once and park.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = rss_bytes()?;
        let per = (after.saturating_sub(before)) as f64 / count as f64;
        drop(keep_actors);
        drop(keep_tasks);
        anyhow::Ok(per)
    })?;
    #[allow(clippy::print_stdout, reason = "the probe reports to its parent on stdout")]
    {
        println!("{per}");
    }
    Ok(())
}

pub fn probe(kind: &str, count: usize) -> anyhow::Result<f64> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["--memory-probe", kind, &count.to_string()])
        .output()
        .context("starting the memory probe")?;
    anyhow::ensure!(
        out.status.success(),
        "memory probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

fn idle_memory(_rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let runs = 3;
    let ours =
        median((0..runs).map(|_| probe("airssys", scale.idle_actors)).collect::<Result<_, _>>()?);
    let base =
        median((0..runs).map(|_| probe("tokio", scale.idle_actors)).collect::<Result<_, _>>()?);
    Ok(Figure {
        name: "rt.idle_actor_memory_100k".into(),
        value: ours,
        unit: "bytes/actor".into(),
        baseline: Some(Baseline { name: "idle tokio task holding a oneshot".into(), value: base }),
        ratio: Some(ours / base),
        target: "<= 1024 bytes/actor".into(),
        met: Some(ours <= 1024.0),
        peers: Vec::new(),
        note: None,
    })
}
