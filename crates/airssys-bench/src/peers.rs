//! airssys-rt next to the peer actor libraries kameo and ractor: the same workload, the same
//! tokio runtime (2 workers), samples interleaved so that all three see the same machine.
//!
//! The baseline of each figure is the better of the two peers in this run; the target is to be
//! at least as good (ratio <= 1).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use airssys_rt::System;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::Scale;
use crate::report::{Baseline, Figure};

/// The peers' reply timeout: the same as airssys-rt's asks.
const TIMEOUT: Duration = crate::rt::ASK_TIMEOUT;

// ----- kameo -------------------------------------------------------------------------------

mod kameo_actors {
    use kameo::Actor;
    use kameo::message::{Context, Message};
    use tokio::sync::oneshot;

    /// Counts `Tick`s and says when it has seen `target` of them.
    #[derive(Actor)]
    pub struct Counter {
        pub seen: u64,
        pub target: u64,
        pub done: Option<oneshot::Sender<()>>,
    }

    pub struct Tick(pub u64);

    impl Message<Tick> for Counter {
        type Reply = ();
        async fn handle(&mut self, Tick(n): Tick, _: &mut Context<Self, ()>) {
            std::hint::black_box(n);
            self.seen += 1;
            if self.seen == self.target
                && let Some(done) = self.done.take()
            {
                let _ = done.send(());
            }
        }
    }

    /// Answers every `Ping` with its number.
    #[derive(Actor)]
    pub struct Echo;

    pub struct Ping(pub u64);

    impl Message<Ping> for Echo {
        type Reply = u64;
        async fn handle(&mut self, Ping(n): Ping, _: &mut Context<Self, u64>) -> u64 {
            n
        }
    }
}

// ----- ractor ------------------------------------------------------------------------------

mod ractor_actors {
    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
    use tokio::sync::oneshot;

    /// Counts messages and says when it has seen `target` of them.
    pub struct Counter;

    pub struct CounterState {
        seen: u64,
        target: u64,
        done: Option<oneshot::Sender<()>>,
    }

    impl Actor for Counter {
        type Msg = u64;
        type State = CounterState;
        type Arguments = (u64, oneshot::Sender<()>);
        async fn pre_start(
            &self,
            _: ActorRef<u64>,
            (target, done): Self::Arguments,
        ) -> Result<CounterState, ActorProcessingErr> {
            Ok(CounterState { seen: 0, target, done: Some(done) })
        }
        async fn handle(
            &self,
            _: ActorRef<u64>,
            _: u64,
            state: &mut CounterState,
        ) -> Result<(), ActorProcessingErr> {
            state.seen += 1;
            if state.seen == state.target
                && let Some(done) = state.done.take()
            {
                let _ = done.send(());
            }
            Ok(())
        }
    }

    /// Answers every request with its number.
    pub struct Echo;

    pub type EchoMsg = (u64, RpcReplyPort<u64>);

    impl Actor for Echo {
        type Msg = EchoMsg;
        type State = ();
        type Arguments = ();
        async fn pre_start(&self, _: ActorRef<EchoMsg>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
        async fn handle(
            &self,
            _: ActorRef<EchoMsg>,
            (n, reply): EchoMsg,
            _: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            let _ = reply.send(n);
            Ok(())
        }
    }
}

// ----- the three workloads, once per library ----------------------------------------------

/// Which library runs a sample.
#[derive(Debug, Clone, Copy)]
enum Lib {
    Airssys,
    Kameo,
    Ractor,
}

const LIBS: [Lib; 3] = [Lib::Airssys, Lib::Kameo, Lib::Ractor];

/// One task `tell`s `n` messages to a fresh counting actor; time until it handled them all.
async fn tell(lib: Lib, system: System, n: u64) -> Duration {
    let (done, finished) = oneshot::channel();
    match lib {
        Lib::Airssys => crate::rt::counted_tell(system, 1, n).await,
        Lib::Kameo => {
            use kameo::actor::Spawn;
            let counter = kameo_actors::Counter::spawn_with_mailbox(
                kameo_actors::Counter { seen: 0, target: n, done: Some(done) },
                kameo::mailbox::unbounded(),
            );
            let start = Instant::now();
            for i in 0..n {
                counter.tell(kameo_actors::Tick(i)).await.unwrap();
            }
            finished.await.unwrap();
            let elapsed = start.elapsed();
            counter.stop_gracefully().await.unwrap();
            counter.wait_for_shutdown().await;
            elapsed
        }
        Lib::Ractor => {
            let (counter, handle) =
                ractor::Actor::spawn(None, ractor_actors::Counter, (n, done)).await.unwrap();
            let start = Instant::now();
            for i in 0..n {
                counter.cast(i).unwrap();
            }
            finished.await.unwrap();
            let elapsed = start.elapsed();
            counter.stop(None);
            handle.await.unwrap();
            elapsed
        }
    }
}

/// One task asks a fresh echo actor `n` times in sequence, each with a 10 s reply timeout.
async fn ask(lib: Lib, system: System, n: u64) -> Duration {
    match lib {
        Lib::Airssys => crate::rt::asks(system, n).await,
        Lib::Kameo => {
            use kameo::actor::Spawn;
            let echo = kameo_actors::Echo::spawn_with_mailbox(
                kameo_actors::Echo,
                kameo::mailbox::unbounded(),
            );
            let start = Instant::now();
            for i in 0..n {
                let r = echo.ask(kameo_actors::Ping(i)).reply_timeout(TIMEOUT).await.unwrap();
                debug_assert_eq!(r, i);
            }
            let elapsed = start.elapsed();
            echo.stop_gracefully().await.unwrap();
            echo.wait_for_shutdown().await;
            elapsed
        }
        Lib::Ractor => {
            let (echo, handle) = ractor::Actor::spawn(None, ractor_actors::Echo, ()).await.unwrap();
            let start = Instant::now();
            for i in 0..n {
                let r = echo.call(|reply| (i, reply), Some(TIMEOUT)).await.unwrap();
                assert!(matches!(r, ractor::rpc::CallResult::Success(v) if v == i));
            }
            let elapsed = start.elapsed();
            echo.stop(None);
            handle.await.unwrap();
            elapsed
        }
    }
}

/// Per iteration: spawn an echo actor, ask it once, stop it and wait until it has exited.
async fn spawn(lib: Lib, system: System, n: u64) -> Duration {
    let start = Instant::now();
    match lib {
        Lib::Airssys => return crate::rt::spawns(system, n).await,
        Lib::Kameo => {
            use kameo::actor::Spawn;
            for i in 0..n {
                let echo = kameo_actors::Echo::spawn_with_mailbox(
                    kameo_actors::Echo,
                    kameo::mailbox::unbounded(),
                );
                echo.ask(kameo_actors::Ping(i)).reply_timeout(TIMEOUT).await.unwrap();
                echo.stop_gracefully().await.unwrap();
                echo.wait_for_shutdown().await;
            }
        }
        Lib::Ractor => {
            for i in 0..n {
                let (echo, handle) =
                    ractor::Actor::spawn(None, ractor_actors::Echo, ()).await.unwrap();
                echo.call(|reply| (i, reply), Some(TIMEOUT)).await.unwrap();
                echo.stop(None);
                handle.await.unwrap();
            }
        }
    }
    start.elapsed()
}

/// One workload for one library: returns the time of `n` operations.
type Workload = fn(Lib, System, u64) -> Pin<Box<dyn Future<Output = Duration> + Send>>;

/// Interleave samples of the three libraries (a different one first each round) and return
/// the median ns per operation of each, in `LIBS` order.
fn measure(rt: &Runtime, scale: Scale, ops: u64, work: Workload) -> anyhow::Result<[f64; 3]> {
    let system = rt.block_on(async { System::new() });
    for lib in LIBS {
        rt.block_on(rt.spawn(work(lib, system.clone(), ops / 10 + 1)))?;
    }
    let mut samples: [Vec<f64>; 3] = Default::default();
    for round in 0..scale.samples {
        for k in 0..3 {
            let i = (round + k) % 3;
            let d = rt.block_on(rt.spawn(work(LIBS[i], system.clone(), ops)))?;
            samples[i].push(d.as_nanos() as f64 / ops as f64);
        }
    }
    Ok(samples.map(crate::harness::median))
}

fn figure(name: &str, unit: &str, [ours, kameo, ractor]: [f64; 3], what: &str) -> Figure {
    let kameo = Baseline { name: format!("kameo 0.22 {what}"), value: kameo };
    let ractor = Baseline { name: format!("ractor 0.16 {what}"), value: ractor };
    let (best, other) = if kameo.value <= ractor.value { (kameo, ractor) } else { (ractor, kameo) };
    let mut f = Figure::vs(name, ours, unit, &best.name, best.value, 1.0);
    f.target = "ratio <= 1 (the better peer)".into();
    f.peers = vec![best, other];
    f
}

pub fn tell_throughput(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let v = measure(rt, scale, scale.messages, |l, s, n| Box::pin(tell(l, s, n)))?;
    Ok(figure("peers.tell_throughput", "ns/msg", v, "tell"))
}

pub fn ask_round_trip(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let v = measure(rt, scale, scale.round_trips, |l, s, n| Box::pin(ask(l, s, n)))?;
    Ok(figure("peers.ask_round_trip", "ns/ask", v, "ask"))
}

pub fn spawn_ask_stop(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let v = measure(rt, scale, scale.round_trips / 4, |l, s, n| Box::pin(spawn(l, s, n)))?;
    Ok(figure("peers.spawn_ask_stop", "ns/actor", v, "spawn+ask+stop"))
}
