//! A scriptable test actor: its messages are closures run in its handler, and its hooks log
//! what they see, so that one actor type serves the OTP-semantics tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use airssys_rt::{Actor, BoxError, Context, Down, ExitReason, ExitSignal, Reply};
use tokio::sync::oneshot;

use crate::util::Log;

type Step = Box<dyn FnOnce(&mut Context<Probe>) -> Result<(), BoxError> + Send>;
type OnDown = Box<dyn FnMut(&Down, &mut Context<Probe>) + Send>;
type OnExit = Box<dyn FnMut(&ExitSignal, &mut Context<Probe>) + Send>;

pub enum PMsg {
    /// Run this closure in the handler.
    Run(Step),
    /// Wait (awaiting) until the sender fires, then run the closure.
    After(oneshot::Receiver<()>, Step),
    /// Block the worker thread (no await point) for this long: a busy handler.
    Spin(std::time::Duration),
    /// Count one handled message.
    Tick,
    /// Panic while holding this reply unanswered.
    PanicHolding(Reply<u64>),
    /// Drop this reply unanswered and go on.
    DropReply(Reply<u64>),
    /// Answer with the input.
    Echo(u64, Reply<u64>),
}

pub struct Probe {
    pub name: &'static str,
    pub log: Log,
    pub trap: bool,
    pub ticks: Arc<AtomicU64>,
    pub on_start: Option<Step>,
    pub on_down: Option<OnDown>,
    pub on_exit: Option<OnExit>,
}

impl Probe {
    pub fn new(name: &'static str, log: &Log) -> Self {
        Probe {
            name,
            log: log.clone(),
            trap: false,
            ticks: Arc::new(AtomicU64::new(0)),
            on_start: None,
            on_down: None,
            on_exit: None,
        }
    }

    pub fn trapping(mut self) -> Self {
        self.trap = true;
        self
    }

    pub fn on_start(
        mut self,
        f: impl FnOnce(&mut Context<Probe>) -> Result<(), BoxError> + Send + 'static,
    ) -> Self {
        self.on_start = Some(Box::new(f));
        self
    }

    pub fn on_down(mut self, f: impl FnMut(&Down, &mut Context<Probe>) + Send + 'static) -> Self {
        self.on_down = Some(Box::new(f));
        self
    }

    pub fn on_exit(
        mut self,
        f: impl FnMut(&ExitSignal, &mut Context<Probe>) + Send + 'static,
    ) -> Self {
        self.on_exit = Some(Box::new(f));
        self
    }
}

/// A `Run` message.
pub fn run(f: impl FnOnce(&mut Context<Probe>) -> Result<(), BoxError> + Send + 'static) -> PMsg {
    PMsg::Run(Box::new(f))
}

impl Actor for Probe {
    type Msg = PMsg;

    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.trap_exits(self.trap);
        self.log.push(format!("{}:started", self.name));
        match self.on_start.take() {
            Some(f) => f(ctx),
            None => Ok(()),
        }
    }

    async fn handle(&mut self, msg: PMsg, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        match msg {
            PMsg::Run(f) => f(ctx)?,
            PMsg::After(rx, f) => {
                let _ = rx.await;
                f(ctx)?
            }
            PMsg::Spin(d) => std::thread::sleep(d),
            PMsg::Tick => {
                self.ticks.fetch_add(1, Ordering::SeqCst);
            }
            PMsg::PanicHolding(r) => {
                let _held = r;
                panic!("crashed holding a reply");
            }
            PMsg::DropReply(r) => drop(r),
            PMsg::Echo(n, r) => {
                let _ = r.send(n);
            }
        }
        Ok(())
    }

    async fn handle_down(&mut self, down: Down, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let name = down.name.as_deref().unwrap_or("-");
        self.log.push(format!("{}:down({name}, {})", self.name, down.reason));
        if let Some(f) = &mut self.on_down {
            f(&down, ctx);
        }
        Ok(())
    }

    async fn handle_exit(
        &mut self,
        signal: ExitSignal,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        self.log.push(format!("{}:exit-signal({})", self.name, signal.reason));
        if let Some(f) = &mut self.on_exit {
            f(&signal, ctx);
        }
        Ok(())
    }

    async fn stopping(&mut self, reason: &ExitReason, _ctx: &mut Context<Self>) {
        self.log.push(format!("{}:stopping({reason})", self.name));
    }
}
