//! A supervision tree in action: a crash and an in-place restart, a rest-for-one cascade, a
//! restart-intensity escalation to the parent supervisor, and a graceful shutdown.
//!
//! Run it with `cargo run -p airssys-rt --example supervision_tree`.
//!
//! ```text
//! root (one-for-one, at most 3 restarts in 5 s)
//! ├── store                        a permanent worker
//! └── pipeline (rest-for-one, at most 2 restarts in 10 s)
//!     ├── reader
//!     ├── parser
//!     └── writer
//! ```

#![allow(clippy::print_stdout, reason = "an example prints what happens")]

use std::time::Duration;

use airssys_rt::{
    Actor, ActorRef, BoxError, ChildSpec, Context, ExitReason, Reply, Strategy, SupervisorRef,
    SupervisorSpec, System,
};

/// A worker that reports its lifecycle and can be told to crash.
struct Worker {
    name: &'static str,
    handled: u32,
}

enum Msg {
    Work(&'static str),
    Crash(&'static str),
    Status(Reply<(u32, u32)>),
}

impl Actor for Worker {
    type Msg = Msg;

    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        println!("  [{:>8}] started (incarnation {})", self.name, ctx.incarnation());
        Ok(())
    }

    async fn handle(&mut self, msg: Msg, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        match msg {
            Msg::Work(what) => {
                self.handled += 1;
                println!("  [{:>8}] handled {what:?}", self.name);
            }
            Msg::Crash(why) => panic!("{why}"),
            Msg::Status(reply) => {
                let _ = reply.send((ctx.incarnation(), self.handled));
            }
        }
        Ok(())
    }

    async fn stopping(&mut self, reason: &ExitReason, _ctx: &mut Context<Self>) {
        println!("  [{:>8}] stopping: {reason}", self.name);
    }
}

fn worker(name: &'static str) -> ChildSpec {
    ChildSpec::actor(name, move || Worker { name, handled: 0 })
}

async fn incarnation(w: &ActorRef<Worker>) -> u32 {
    w.ask(Msg::Status, Duration::from_secs(1)).await.map(|(i, _)| i).unwrap_or(0)
}

async fn show(pipeline: &SupervisorRef) {
    let mut line = String::from("  pipeline children:");
    for id in ["reader", "parser", "writer"] {
        if let Some(w) = pipeline.child::<Worker>(id).await {
            line.push_str(&format!(" {id}#{}", incarnation(&w).await));
        }
    }
    println!("{line}");
}

/// Let restarts triggered by a crash settle before printing.
async fn pause() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A crash is reported to the supervisor (and printed by the worker's `stopping` hook) with
    // the panic text as its exit reason; the default hook's report would only repeat it.
    std::panic::set_hook(Box::new(|_| {}));
    let system = System::new();

    println!("1. start the tree (children start in order)");
    let pipeline_spec = SupervisorSpec::new(Strategy::RestForOne)
        .intensity(2, Duration::from_secs(10))
        .child(worker("reader"))
        .child(worker("parser"))
        .child(worker("writer"));
    let root = system
        .spawn_supervisor(
            SupervisorSpec::new(Strategy::OneForOne)
                .intensity(3, Duration::from_secs(5))
                .child(worker("store"))
                .child(ChildSpec::supervisor("pipeline", pipeline_spec)),
        )
        .await?;
    let store = root.child::<Worker>("store").await.ok_or("no store")?;

    println!("\n2. a crash and an in-place restart: same address, queued messages kept");
    store.tell(Msg::Work("job-1")).await?;
    store.tell(Msg::Crash("disk full")).await?;
    store.tell(Msg::Work("job-2 (sent before the restart)")).await?;
    pause().await;
    let (inc, handled) = store.ask(Msg::Status, Duration::from_secs(1)).await?;
    println!("  store is on incarnation {inc}; the new instance handled {handled} message(s)");

    println!("\n3. rest-for-one: parser crashes, so parser and writer restart; reader does not");
    let pipeline = SupervisorRef::from(
        root.child::<airssys_rt::supervisor::Supervisor>("pipeline").await.ok_or("no pipeline")?,
    );
    show(&pipeline).await;
    let parser = pipeline.child::<Worker>("parser").await.ok_or("no parser")?;
    parser.tell(Msg::Crash("malformed input")).await?;
    pause().await;
    show(&pipeline).await;

    println!("\n4. intensity: the reader crashes twice more; that is 3 restarts in 10 s, one more");
    println!("   than the pipeline allows, so it stops its children and fails to root,");
    println!("   which restarts the pipeline with fresh children");
    let reader = pipeline.child::<Worker>("reader").await.ok_or("no reader")?;
    for why in ["bad sector", "bad sector again"] {
        reader.tell(Msg::Crash(why)).await?;
        pause().await;
    }
    let restarts = pipeline.actor().metrics().restarts;
    println!("  the pipeline supervisor was restarted in place by root {restarts} time(s)");
    show(&pipeline).await;

    println!("\n5. graceful shutdown (reverse start order)");
    let report = system.shutdown(Duration::from_secs(5)).await;
    println!(
        "  stopped {} top-level tree(s) in {:?}; killed: {}",
        report.stopped,
        report.elapsed,
        report.killed.len()
    );
    Ok(())
}
