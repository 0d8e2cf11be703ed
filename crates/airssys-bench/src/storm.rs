//! The restart storm: one one-for-one supervisor with 1000 children that crash at random.
//!
//! A driver keeps [`IN_FLIGHT`] crashes going at once, each at a child picked at random: it
//! tells the child `Crash` and then `Next`. The crashed instance notes the time and fails;
//! the supervisor restarts the child at the same address with the same mailbox; the new
//! instance handles `Next` and reports the time from the crash. Two figures come out of one
//! run: the cost per restart under the storm (restarts per second in the unit) and the p99 of
//! crash → restarted child handling its next message.
//!
//! The baseline, in the same run, is the least a supervisor on tokio can do: 1000 tasks, each
//! reading its own channel; a crash ends the task, which hands its receiver back through a
//! `JoinSet`, and one supervising task spawns a new task on the same receiver. There is no
//! BEAM on this machine, so Erlang/OTP is a note, not a measured peer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use airssys_rt::{Actor, ActorRef, BoxError, ChildSpec, Context, Strategy, SupervisorSpec, System};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::Scale;
use crate::harness::median;
use crate::report::{Baseline, Figure};

/// Children under the one supervisor.
const CHILDREN: usize = 1000;
/// Crashes in progress at any moment (a tenth of the children).
const IN_FLIGHT: usize = 100;

const ERLANG_NOTE: &str = "no BEAM on this machine, so no measured Erlang/OTP figure; from \
    published figures (process spawn ~1-3 us, message ~0.8 us, peers.md), an OTP supervisor \
    restart (exit signal, spawn, proc_lib init ack) is a few microseconds, on the order of \
    1e5 restarts/s for one supervisor: an estimate, not a measurement";

/// What a storm child is told.
#[derive(Debug)]
enum Storm {
    /// Note the time and fail.
    Crash,
    /// Report the time since the noted crash, if there is one.
    Next,
}

/// When each child last crashed, in ns since `base` (+1; 0 when none is pending).
struct Crashes {
    base: Instant,
    at: Vec<AtomicU64>,
}

impl Crashes {
    fn new() -> Arc<Self> {
        Arc::new(Crashes {
            base: Instant::now(),
            at: (0..CHILDREN).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    fn crash(&self, child: usize) {
        let now = self.base.elapsed().as_nanos() as u64 + 1;
        self.at[child].store(now, Ordering::Relaxed);
    }

    /// The time since `child`'s pending crash, taking it.
    fn since(&self, child: usize) -> Option<Duration> {
        let at = self.at[child].swap(0, Ordering::Relaxed);
        (at != 0).then(|| self.base.elapsed().saturating_sub(Duration::from_nanos(at - 1)))
    }
}

#[derive(Debug)]
struct Crashed;

impl std::fmt::Display for Crashed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("crashed on purpose")
    }
}

impl std::error::Error for Crashed {}

/// A supervised child of the storm.
struct Child {
    id: usize,
    crashes: Arc<Crashes>,
    done: mpsc::UnboundedSender<Duration>,
}

impl Actor for Child {
    type Msg = Storm;
    async fn handle(&mut self, msg: Storm, _: &mut Context<Self>) -> Result<(), BoxError> {
        match msg {
            Storm::Crash => {
                self.crashes.crash(self.id);
                Err(Box::new(Crashed))
            }
            Storm::Next => {
                if let Some(took) = self.crashes.since(self.id) {
                    let _ = self.done.send(took);
                }
                Ok(())
            }
        }
    }
}

/// One storm sample: `restarts` crashes, [`IN_FLIGHT`] at a time, at random children.
/// Returns the elapsed time and each crash → next-message latency.
async fn drive<F, Fut>(
    restarts: u64,
    mut tell: F,
    done: &mut mpsc::UnboundedReceiver<Duration>,
) -> (Duration, Vec<Duration>)
where
    F: FnMut(usize, Storm) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut latencies = Vec::with_capacity(restarts as usize);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < restarts.min(IN_FLIGHT as u64) {
        let child = fastrand::usize(..CHILDREN);
        tell(child, Storm::Crash).await;
        tell(child, Storm::Next).await;
        sent += 1;
    }
    while (latencies.len() as u64) < restarts {
        let took = done.recv().await.expect("the storm's children report");
        latencies.push(took);
        if sent < restarts {
            let child = fastrand::usize(..CHILDREN);
            tell(child, Storm::Crash).await;
            tell(child, Storm::Next).await;
            sent += 1;
        }
    }
    (start.elapsed(), latencies)
}

fn p(latencies: &mut [Duration], q: f64) -> f64 {
    latencies.sort_unstable();
    let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
    latencies[i].as_nanos() as f64
}

/// Medians over samples of (ns per restart, p50 ns, p99 ns).
#[derive(Debug, Default)]
struct Summary {
    per_restart: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
}

impl Summary {
    fn add(&mut self, restarts: u64, (elapsed, mut latencies): (Duration, Vec<Duration>)) {
        self.per_restart.push(elapsed.as_nanos() as f64 / restarts as f64);
        self.p50.push(p(&mut latencies, 0.50));
        self.p99.push(p(&mut latencies, 0.99));
    }

    fn medians(self) -> (f64, f64, f64) {
        (median(self.per_restart), median(self.p50), median(self.p99))
    }
}

/// The airssys-rt side: a real supervisor and its 1000 children, kept for all samples.
struct Supervised {
    _system: System,
    children: Vec<ActorRef<Child>>,
    done: mpsc::UnboundedReceiver<Duration>,
}

async fn supervised() -> anyhow::Result<Supervised> {
    let system = System::new();
    let crashes = Crashes::new();
    let (tx, done) = mpsc::unbounded_channel();
    let mut spec =
        SupervisorSpec::new(Strategy::OneForOne).intensity(u32::MAX, Duration::from_secs(1));
    for id in 0..CHILDREN {
        let (crashes, tx) = (Arc::clone(&crashes), tx.clone());
        spec = spec.child(ChildSpec::actor(format!("c{id}"), move || Child {
            id,
            crashes: Arc::clone(&crashes),
            done: tx.clone(),
        }));
    }
    let sup = system.spawn_supervisor(spec).await?;
    let mut children = Vec::with_capacity(CHILDREN);
    for id in 0..CHILDREN {
        let child = sup.child::<Child>(&format!("c{id}")).await;
        children.push(child.ok_or_else(|| anyhow::anyhow!("child c{id} is missing"))?);
    }
    Ok(Supervised { _system: system, children, done })
}

/// The tokio side: 1000 tasks on their own receivers and one task that respawns them.
struct Respawned {
    senders: Vec<mpsc::UnboundedSender<Storm>>,
    done: mpsc::UnboundedReceiver<Duration>,
}

/// A child task: runs until told to crash, then hands its receiver back.
async fn task_child(
    id: usize,
    mut rx: mpsc::UnboundedReceiver<Storm>,
    crashes: Arc<Crashes>,
    done: mpsc::UnboundedSender<Duration>,
) -> Option<(usize, mpsc::UnboundedReceiver<Storm>)> {
    while let Some(msg) = rx.recv().await {
        match msg {
            Storm::Crash => {
                crashes.crash(id);
                return Some((id, rx));
            }
            Storm::Next => {
                if let Some(took) = crashes.since(id) {
                    let _ = done.send(took);
                }
            }
        }
    }
    None
}

fn respawned() -> Respawned {
    let crashes = Crashes::new();
    let (tx, done) = mpsc::unbounded_channel();
    let mut senders = Vec::with_capacity(CHILDREN);
    let mut set = JoinSet::new();
    for id in 0..CHILDREN {
        let (send, rx) = mpsc::unbounded_channel();
        senders.push(send);
        set.spawn(task_child(id, rx, Arc::clone(&crashes), tx.clone()));
    }
    tokio::spawn(async move {
        while let Some(ended) = set.join_next().await {
            if let Ok(Some((id, rx))) = ended {
                set.spawn(task_child(id, rx, Arc::clone(&crashes), tx.clone()));
            }
        }
    });
    Respawned { senders, done }
}

/// `rt.restart_storm`: ns per restart and p99 crash → next message, each against tokio.
pub fn restart_storm(rt: &Runtime, scale: Scale) -> anyhow::Result<Vec<Figure>> {
    let restarts = scale.round_trips;
    let mut ours = rt.block_on(supervised())?;
    let mut base = rt.block_on(async { respawned() });
    let (mut our_summary, mut base_summary) = (Summary::default(), Summary::default());
    // One warm-up storm each, then samples alternating between the two.
    for sample in 0..=scale.samples {
        let run = rt.block_on(drive(
            restarts,
            |child, msg| {
                let to = ours.children[child].clone();
                async move { to.tell(msg).await.expect("a supervised child takes messages") }
            },
            &mut ours.done,
        ));
        if sample > 0 {
            our_summary.add(restarts, run);
        }
        let run = rt.block_on(drive(
            restarts,
            |child, msg| {
                base.senders[child].send(msg).expect("a respawned task takes messages");
                async {}
            },
            &mut base.done,
        ));
        if sample > 0 {
            base_summary.add(restarts, run);
        }
    }
    let (per_restart, p50, p99) = our_summary.medians();
    let (base_per_restart, base_p50, base_p99) = base_summary.medians();
    let baseline = "tokio JoinSet respawning a task on its channel";
    let throughput = Figure {
        name: "rt.restart_storm_throughput".into(),
        value: per_restart,
        unit: format!("ns/restart ({:.0} restarts/s)", 1e9 / per_restart),
        baseline: Some(Baseline { name: baseline.into(), value: base_per_restart }),
        ratio: Some(per_restart / base_per_restart),
        target: "none set".into(),
        met: None,
        peers: Vec::new(),
        note: Some(format!(
            "1 supervisor, {CHILDREN} children, {IN_FLIGHT} crashes in flight; the baseline does \
             {:.0} restarts/s; Erlang/OTP: {ERLANG_NOTE}",
            1e9 / base_per_restart
        )),
    };
    let latency = Figure {
        name: "rt.restart_storm_p99".into(),
        value: p99,
        unit: format!("ns p99 (p50 {p50:.0})"),
        baseline: Some(Baseline { name: baseline.into(), value: base_p99 }),
        ratio: Some(p99 / base_p99),
        target: "none set".into(),
        met: None,
        peers: Vec::new(),
        note: Some(format!(
            "crash to the restarted child handling its next message; baseline p50 {base_p50:.0} ns"
        )),
    };
    Ok(vec![throughput, latency])
}
