//! §13 supervision checked against a small, independent model of the OTP rules: random
//! supervisors (strategy, restart types, intensity) get random sequences of child exits at
//! random times, and after every step the real supervisor must agree with the model on which
//! children exist, which run, how often each was started, and whether the supervisor gave up.

use std::time::Duration;

use airssys_rt::{ChildSpec, Restart, Strategy as Strat, SupervisorSpec, System};
use proptest::prelude::*;

use crate::util::*;

#[derive(Debug, Clone)]
struct ModelChild {
    id: String,
    restart: Restart,
    /// Incarnations of the current address (a child left stopped is closed; a later group
    /// restart gives it a fresh address, counting from 1 again).
    starts: u32,
    running: bool,
    closed: bool,
}

#[derive(Debug)]
struct Model {
    strategy: Strat,
    max: u32,
    period: Duration,
    children: Vec<ModelChild>,
    restarts: Vec<Duration>,
    alive: bool,
}

impl Model {
    fn exit(&mut self, i: usize, abnormal: bool, now: Duration) {
        self.children[i].running = false;
        let should = match self.children[i].restart {
            Restart::Permanent => true,
            Restart::Transient => abnormal,
            Restart::Temporary => false,
        };
        if !should {
            self.children[i].closed = true;
            if self.children[i].restart == Restart::Temporary {
                self.children.remove(i);
            }
            return;
        }
        self.restarts.retain(|&t| now - t < self.period);
        self.restarts.push(now);
        if self.restarts.len() > self.max as usize {
            self.alive = false;
            for c in &mut self.children {
                c.running = false;
            }
            return;
        }
        let group: Vec<usize> = match self.strategy {
            Strat::OneForOne => vec![i],
            Strat::OneForAll => (0..self.children.len()).collect(),
            Strat::RestForOne => (i..self.children.len()).collect(),
        };
        let failed_id = self.children[i].id.clone();
        for &j in &group {
            let c = &mut self.children[j];
            if c.id == failed_id || c.restart != Restart::Temporary {
                c.starts = if c.closed { 1 } else { c.starts + 1 };
                c.closed = false;
                c.running = true;
            } else {
                c.running = false; // temporary sibling: stopped and removed below
            }
        }
        let removed: Vec<String> = group
            .iter()
            .map(|&j| &self.children[j])
            .filter(|c| c.restart == Restart::Temporary && c.id != failed_id)
            .map(|c| c.id.clone())
            .collect();
        self.children.retain(|c| !removed.contains(&c.id));
    }
}

fn restart_type() -> impl Strategy<Value = Restart> {
    prop_oneof![Just(Restart::Permanent), Just(Restart::Transient), Just(Restart::Temporary)]
}

fn strategy() -> impl Strategy<Value = Strat> {
    prop_oneof![Just(Strat::OneForOne), Just(Strat::OneForAll), Just(Strat::RestForOne)]
}

async fn check(
    strat: Strat,
    types: Vec<Restart>,
    max: u32,
    period_s: u64,
    ops: Vec<(usize, bool, u64)>,
) {
    let system = System::new();
    let log = Log::new();
    let mut spec = SupervisorSpec::new(strat).intensity(max, Duration::from_secs(period_s));
    let mut model = Model {
        strategy: strat,
        max,
        period: Duration::from_secs(period_s),
        children: Vec::new(),
        restarts: Vec::new(),
        alive: true,
    };
    for (n, t) in types.iter().enumerate() {
        let id = format!("c{n}");
        let l = log.clone();
        let name = id.clone();
        spec = spec.child(ChildSpec::actor(id.clone(), move || Worker::new(&name, &l)).restart(*t));
        model.children.push(ModelChild {
            id,
            restart: *t,
            starts: 1,
            running: true,
            closed: false,
        });
    }
    let sup = system.spawn_supervisor(spec).await.unwrap();
    let origin = tokio::time::Instant::now();
    for (pick, abnormal, gap_ms) in ops {
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
        if !model.alive {
            break;
        }
        let running: Vec<usize> =
            (0..model.children.len()).filter(|&i| model.children[i].running).collect();
        if running.is_empty() {
            continue;
        }
        let i = running[pick % running.len()];
        let target = sup.child::<Worker>(&model.children[i].id).await.unwrap();
        let now = origin.elapsed();
        target.tell(if abnormal { WMsg::Panic("model") } else { WMsg::StopSelf }).await.unwrap();
        model.exit(i, abnormal, now);
        // Run everything to idle before time moves on.
        tokio::time::sleep(Duration::from_millis(1)).await;

        assert_eq!(sup.actor().is_alive(), model.alive, "supervisor liveness; model {model:?}");
        if !model.alive {
            break;
        }
        let real = sup.which_children().await.unwrap();
        let ids: Vec<&str> = real.iter().map(|c| &*c.id).collect();
        let want: Vec<&str> = model.children.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, want, "children; model {model:?}");
        for (c, m) in real.iter().zip(&model.children) {
            assert_eq!(c.running, m.running, "{} running; model {model:?}", m.id);
            if m.running {
                let w = c.handle.as_ref().unwrap().downcast::<Worker>().unwrap();
                assert_eq!(
                    w.ask(WMsg::Incarnation, T).await.unwrap(),
                    m.starts,
                    "{} starts; model {model:?}",
                    m.id
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn s13_supervisor_matches_otp_model(
        strat in strategy(),
        types in prop::collection::vec(restart_type(), 1..5),
        max in 0u32..4,
        period_s in 1u64..8,
        ops in prop::collection::vec((0usize..8, any::<bool>(), 0u64..3000), 1..12),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(check(strat, types, max, period_s, ops));
    }
}
