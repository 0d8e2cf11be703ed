//! airssys-rt figures, each with its raw tokio baseline measured in the same run.

use std::time::{Duration, Instant};

use airssys_rt::{Actor, BoxError, Context, Reply, System};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use crate::Scale;
use crate::report::{Baseline, Figure};

pub(crate) const ASK_TIMEOUT: Duration = Duration::from_secs(10);

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
    let (ours, base) = crate::harness::paired(
        rt,
        scale,
        scale.messages,
        |n| rt.spawn(counted_tell(system.clone(), senders, n)),
        |n| rt.spawn(counted_mpsc(senders, n)),
    )?;
    Ok(Figure::vs(name, ours, "ns/msg", baseline, base, 1.5))
}

pub fn tell_throughput(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    tell_figure(rt, scale, 1, "rt.tell_throughput", "tokio mpsc unbounded send+recv")
}

pub fn fan_in(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
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

pub fn ask_round_trip(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let system = rt.block_on(async { System::new() });
    let (ours, base) = crate::harness::paired(
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

pub fn spawn_first_stop(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let system = rt.block_on(async { System::new() });
    let (ours, base) = crate::harness::paired(
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

// ----- churn -------------------------------------------------------------------------------

/// An idle session actor of the churn figure.
struct Session;

impl Actor for Session {
    type Msg = ();
    async fn handle(&mut self, _: (), _: &mut Context<Self>) -> Result<(), BoxError> {
        Ok(())
    }
}

/// ns per churn step (a child picked at random terminated, a new one started) in a dynamic
/// supervisor holding `live` children: what sessions that come and go, in any order, cost.
async fn churn_at(live: u32, steps: u32) -> anyhow::Result<f64> {
    let system = System::new();
    let sessions =
        system.spawn_dynamic_supervisor(airssys_rt::DynamicSpec::new(|_: u32| Session)).await?;
    let mut children = Vec::with_capacity(live as usize);
    for i in 0..live {
        children.push(sessions.start_child(i).await?);
    }
    // The same sequence of picks in every run.
    let mut pick = fastrand::Rng::with_seed(7);
    let start = Instant::now();
    for i in 0..steps {
        let ending = children.swap_remove(pick.usize(..children.len()));
        sessions.terminate_child(&ending).await?;
        children.push(sessions.start_child(live + i).await?);
    }
    let per = start.elapsed().as_nanos() as f64 / f64::from(steps);
    sessions.stop();
    sessions.wait_for_exit().await;
    Ok(per)
}

/// Churn at 100,000 live children against the same at 1,000 (issue 21: what a spawn or stop
/// costs must not grow with the number live).
pub fn churn(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let steps = if scale.samples < 20 { 2_000 } else { 10_000 };
    // A first run warms the allocator and the runtime up, for both measured ones.
    rt.block_on(churn_at(1_000, steps))?;
    let small = rt.block_on(churn_at(1_000, steps))?;
    let large = rt.block_on(churn_at(100_000, steps))?;
    let mut figure = Figure::vs(
        "rt.churn_stop_start_100k",
        large,
        "ns/step",
        "the same at 1,000 live",
        small,
        1.5,
    );
    figure.note = Some(
        "a dynamic supervisor: terminate a child picked at random, start a new one; per step"
            .into(),
    );
    Ok(figure)
}

// ----- memory ------------------------------------------------------------------------------

/// The memory probe of idle actors (`airssys`) or idle tokio tasks (`tokio`): RSS growth per
/// one, in bytes (run in a child process, see [`crate::harness::memory_probe`]).
pub fn idle_probe(kind: &str, count: usize) -> anyhow::Result<f64> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let system = System::new();
        // Touch the machinery once so that one-time allocations are not counted.
        let warm = system.spawn(Idle).unwrap();
        warm.stop();
        warm.wait_for_exit().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = crate::harness::rss_bytes()?;
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
        tokio::time::sleep(crate::harness::SETTLE).await;
        let after = crate::harness::rss_bytes()?;
        let per = (after.saturating_sub(before)) as f64 / count as f64;
        drop(keep_actors);
        drop(keep_tasks);
        anyhow::Ok(per)
    })
}

pub fn idle_memory(_rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let runs = 3;
    let ours = crate::harness::median(
        (0..runs)
            .map(|_| crate::harness::probe("airssys", scale.idle_actors))
            .collect::<Result<_, _>>()?,
    );
    let base = crate::harness::median(
        (0..runs)
            .map(|_| crate::harness::probe("tokio", scale.idle_actors))
            .collect::<Result<_, _>>()?,
    );
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
