//! Shared test actors and helpers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use airssys_rt::{Actor, BoxError, Context, Down, ExitReason, ExitSignal, Reply};

/// A shared, ordered event log that test actors write to.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn count(&self, s: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|e| *e == s).count()
    }
}

/// A general-purpose test actor that logs its lifecycle.
pub struct Worker {
    pub name: String,
    pub log: Log,
    pub trap_exits: bool,
    pub fail_start: bool,
    pub seen: Vec<u64>,
}

impl Worker {
    pub fn new(name: &str, log: &Log) -> Self {
        Worker {
            name: name.to_owned(),
            log: log.clone(),
            trap_exits: false,
            fail_start: false,
            seen: Vec::new(),
        }
    }

    /// A worker that traps exits: its supervisor stops it gracefully (stop hooks run).
    pub fn trapping(name: &str, log: &Log) -> Self {
        let mut w = Self::new(name, log);
        w.trap_exits = true;
        w
    }
}

#[derive(Debug)]
pub enum WMsg {
    /// Record a number (ordering tests).
    Num(u64),
    /// Write a line to the log.
    Note(String),
    /// Panic with this text.
    Panic(&'static str),
    /// Return an error with this text.
    Fail(&'static str),
    /// Sleep (in tokio time) then log "<name>:slept".
    Sleep(Duration),
    /// Reply with the numbers seen so far.
    Seen(Reply<Vec<u64>>),
    /// Reply with the incarnation number.
    Incarnation(Reply<u32>),
    /// Reply with the input.
    Echo(u64, Reply<u64>),
    /// Sleep, then reply with the input (a request in progress across an await).
    SlowEcho(u64, Duration, Reply<u64>),
    /// Hold the reply and never answer (drop it when the actor stops).
    Swallow(Reply<u64>),
    /// Stop itself.
    StopSelf,
}

impl Actor for Worker {
    type Msg = WMsg;

    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.trap_exits(self.trap_exits);
        self.log.push(format!("{}:started", self.name));
        if self.fail_start {
            return Err("refusing to start".into());
        }
        Ok(())
    }

    async fn handle(&mut self, msg: WMsg, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        match msg {
            WMsg::Num(n) => self.seen.push(n),
            WMsg::Note(s) => self.log.push(format!("{}:{s}", self.name)),
            WMsg::Panic(text) => panic!("{text}"),
            WMsg::Fail(text) => return Err(text.into()),
            WMsg::Sleep(d) => {
                tokio::time::sleep(d).await;
                self.log.push(format!("{}:slept", self.name));
            }
            WMsg::Seen(r) => {
                let _ = r.send(self.seen.clone());
            }
            WMsg::Incarnation(r) => {
                let _ = r.send(ctx.incarnation());
            }
            WMsg::Echo(n, r) => {
                let _ = r.send(n);
            }
            WMsg::SlowEcho(n, d, r) => {
                tokio::time::sleep(d).await;
                let _ = r.send(n);
            }
            WMsg::Swallow(r) => {
                std::mem::forget(r);
            }
            WMsg::StopSelf => ctx.stop(),
        }
        Ok(())
    }

    async fn handle_exit(
        &mut self,
        s: ExitSignal,
        _ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        self.log.push(format!("{}:exit-signal({})", self.name, s.reason));
        Ok(())
    }

    async fn handle_down(&mut self, d: Down, _ctx: &mut Context<Self>) -> Result<(), BoxError> {
        self.log.push(format!("{}:down({})", self.name, d.reason));
        Ok(())
    }

    async fn stopping(&mut self, reason: &ExitReason, _ctx: &mut Context<Self>) {
        self.log.push(format!("{}:stopping({reason})", self.name));
    }

    async fn stopped(self, _reason: &ExitReason) {
        self.log.push(format!("{}:stopped", self.name));
    }
}

pub const T: Duration = Duration::from_secs(5);

/// Let spawned tasks run until everything is idle (works with paused time too).
pub async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}
