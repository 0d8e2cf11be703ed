//! A component as an `airssys-rt` actor: it owns one `Store` and one instance, and handles its
//! messages one at a time. A trap crashes the actor; its supervisor restarts it in place with a
//! fresh instance from the same pre-instantiated component, keeping its address and mailbox.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use airssys_rt::{Actor, BoxError, Context, Down, ExitReason, ExitSignal};
use wasmtime::Store;

use crate::bindings::{Notice, RequestError};
use crate::engine::Engine;
use crate::envelope::{Delivery, Envelope};
use crate::guest::{Guest, GuestPre};
use crate::router::Router;
use crate::state::HostState;
use crate::trace::TraceContext;
use crate::types::Payload;
use crate::upgrade::{CodeSlot, StateFrom, Swapped, UpgradeOrder};

/// The text of a trap (the guest backtrace goes to the debug log), escaped: it may carry
/// text of the guest's, and it goes into logs, the audit log and dead letters.
fn trap_reason(address: &str, trap: &wasmtime::Error) -> String {
    tracing::debug!(component = address, error = ?trap, "guest trapped");
    trap_text(trap)
}

/// A trap's text: the trap itself, or the root cause of another error, escaped.
fn trap_text(trap: &wasmtime::Error) -> String {
    match trap.downcast_ref::<wasmtime::Trap>() {
        Some(t) => airssys_osl::escaped(&t.to_string()),
        None => airssys_osl::escaped(&trap.root_cause().to_string()),
    }
}

/// A message whose handler crashed the component. It is recorded, not retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The component that crashed.
    pub component: Arc<str>,
    /// Who sent the message.
    pub sender: Arc<str>,
    /// Its codec.
    pub codec: u32,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Why the handler crashed (the trap).
    pub reason: String,
}

/// A dead letter without its bytes ([`Host::recent_dead_letters`](crate::Host::recent_dead_letters)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterSummary {
    /// The component that crashed.
    pub component: Arc<str>,
    /// Who sent the message.
    pub sender: Arc<str>,
    /// Its codec.
    pub codec: u32,
    /// Its size in bytes.
    pub size: usize,
    /// Why the handler crashed (the trap).
    pub reason: String,
}

/// The dead-letter log of a host (bounded: the oldest letters go first), and how many
/// letters there were in all.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeadLetters(
    Arc<Mutex<std::collections::VecDeque<DeadLetter>>>,
    Arc<std::sync::atomic::AtomicU64>,
);

const DEAD_LETTER_CAPACITY: usize = 1024;

impl DeadLetters {
    fn push(&self, letter: DeadLetter) {
        tracing::warn!(component = %letter.component, sender = %letter.sender, reason = %letter.reason, "message crashed its handler; recorded as a dead letter");
        let mut log = crate::sync::lock(&self.0);
        if log.len() == DEAD_LETTER_CAPACITY {
            log.pop_front();
        }
        log.push_back(letter);
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Vec<DeadLetter> {
        crate::sync::lock(&self.0).iter().cloned().collect()
    }

    /// The last `n` letters, oldest first, without their bytes (only their size), and how
    /// many letters there were in all.
    pub(crate) fn recent(&self, n: usize) -> (Vec<DeadLetterSummary>, u64) {
        let log = crate::sync::lock(&self.0);
        let recent = log
            .iter()
            .skip(log.len().saturating_sub(n))
            .map(|l| DeadLetterSummary {
                component: Arc::clone(&l.component),
                sender: Arc::clone(&l.sender),
                codec: l.codec,
                size: l.bytes.len(),
                reason: l.reason.clone(),
            })
            .collect();
        (recent, self.1.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// The outcome of an address's first `init`, for whoever started it ([`Host::spawn`],
/// `HostBuilder::start`) to wait on without holding the supervisor, which started the actor
/// and moved on.
///
/// [`Host::spawn`]: crate::Host::spawn
#[derive(Debug, Default)]
pub(crate) struct FirstInit {
    done: std::sync::OnceLock<Result<(), String>>,
    notify: tokio::sync::Notify,
    /// The start it is counted in, if any (`start_progress.rs`).
    progress: std::sync::OnceLock<Arc<crate::StartProgress>>,
}

impl FirstInit {
    /// Record the outcome (only the first one counts); false if one was recorded before.
    fn report(&self, outcome: Result<(), String>) -> bool {
        let first = self.done.set(outcome).is_ok();
        if first {
            if let Some(progress) = self.progress.get() {
                progress.one_done();
            }
            self.notify.notify_waiters();
        }
        first
    }

    /// Count this instance's first `init` in `progress` when it finishes (set before the
    /// instance starts).
    pub(crate) fn count_in(&self, progress: &Arc<crate::StartProgress>) {
        let _ = self.progress.set(Arc::clone(progress));
    }

    /// Wait for the outcome.
    pub(crate) async fn wait(&self) -> Result<(), String> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(outcome) = self.done.get() {
                return outcome.clone();
            }
            notified.await;
        }
    }
}

/// What every incarnation of one component shares.
pub(crate) struct ComponentSetup {
    pub(crate) address: Arc<str>,
    pub(crate) engine: Engine,
    /// The code it runs (an upgrade replaces it).
    pub(crate) code: Arc<CodeSlot>,
    pub(crate) config: Arc<[(String, String)]>,
    pub(crate) router: Router,
    pub(crate) dead_letters: DeadLetters,
    pub(crate) cpu_per_message: Duration,
    pub(crate) fuel_per_message: Option<u64>,
    pub(crate) caps: Arc<crate::capability::Capabilities>,
    pub(crate) wasi: crate::capability::WasiGrants,
    pub(crate) max_memory_bytes: usize,
    pub(crate) shutdown_deadline: Duration,
    /// Wall-clock bound of a start (instantiate + `init`).
    pub(crate) init_timeout: Duration,
    /// The outcome of the first incarnation's `init`.
    pub(crate) first_init: Arc<FirstInit>,
    /// Bytes of linear memory of the live instance.
    pub(crate) memory: Arc<std::sync::atomic::AtomicUsize>,
    /// Its output budget (stdout, stderr, logging).
    pub(crate) output: Arc<crate::output::OutputBudget>,
    /// Its vital signs (handler time, traps, last crash, what it sends).
    pub(crate) vitals: Arc<crate::vitals::Vitals>,
    /// Where its handlers' spans go, if anywhere.
    pub(crate) spans: Option<Arc<dyn crate::spans::SpanSink>>,
    /// The connector of its outgoing HTTP requests (its grants and limits).
    pub(crate) outgoing: crate::outgoing::Outgoing,
}

/// The store and the instance of a running incarnation.
struct RunningInstance {
    store: Store<HostState>,
    guest: Guest,
}

/// The actor that runs one component instance. Created by its supervisor's child factory.
pub(crate) struct ComponentActor {
    setup: Arc<ComponentSetup>,
    live: Option<RunningInstance>,
    /// The store of an instance not made yet: `started` makes the store, the first envelope
    /// instantiates and runs `init` in it (so that no supervisor waits for an `init`).
    unstarted: Option<Store<HostState>>,
    /// The first `init` failed: the instance waits to be removed by whoever started it, and
    /// refuses what comes meanwhile.
    failed_first_start: bool,
    /// Instantiation and `init` are running (a kill may end them half-way).
    starting: bool,
}

impl Drop for ComponentActor {
    /// An incarnation that ends before its first `init` finished (stopped or killed first)
    /// tells whoever waits for that `init`, so that no spawn waits forever.
    fn drop(&mut self) {
        if self.unstarted.is_some() || self.starting {
            self.setup.first_init.report(Err("stopped before its init finished".into()));
        }
    }
}

impl std::fmt::Debug for ComponentActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentActor").field("address", &self.setup.address).finish()
    }
}

impl ComponentActor {
    pub(crate) fn new(setup: Arc<ComponentSetup>) -> Self {
        ComponentActor {
            setup,
            live: None,
            unstarted: None,
            failed_first_start: false,
            starting: false,
        }
    }

    /// Give the guest `budget` of CPU time (and its fuel, if metered) before its handler
    /// traps. Only ticks during which the guest runs count (`cpu_budget.rs`).
    fn arm(store: &mut Store<HostState>, budget: Duration, fuel: Option<u64>) {
        store.data_mut().cpu.arm(budget);
        store.set_epoch_deadline(1);
        if let Some(fuel) = fuel {
            // Only fails on an engine without fuel, which metered components never use.
            let _ = store.set_fuel(fuel);
        }
    }
}

/// An instantiation the engine's instance pool had no room for says what to raise, and so
/// does one the kernel refused memory mappings for; other failures are kept as they are.
fn pool_full(error: wasmtime::Error) -> BoxError {
    if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        return format!(
            "the engine's instance pool is full ({error}): stop components, or set [engine] \
             pool_components (EngineConfig::pool_components) higher"
        )
        .into();
    }
    // wasmtime passes the kernel's ENOMEM on as an I/O error or as its text.
    let out_of_mappings = error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.raw_os_error() == Some(ENOMEM))
            || cause.to_string().ends_with(&format!("(os error {ENOMEM})"))
    });
    if out_of_mappings {
        let maps = crate::engine::max_map_count().map_or("unknown".into(), |n| n.to_string());
        return format!(
            "the kernel refused memory for the instance ({error:#}): most often its limit on \
             memory mappings, vm.max_map_count (now {maps}); each live component takes about six, \
             and each slot of the instance pool two. Raise it (sysctl -w \
             vm.max_map_count=1048576) or stop components"
        )
        .into();
    }
    error.into()
}

/// `ENOMEM` on Linux.
const ENOMEM: i32 = 12;

/// Why the running instance handed no state over.
enum HandOverFailed {
    /// Its export is unusable or returned an error: the instance runs on.
    Refused(String),
    /// It trapped (the text): the instance crashed.
    Trapped(String),
}

/// How a partner's end reads to a guest.
fn exit_reason(reason: &ExitReason) -> crate::bindings::ExitReason {
    use crate::bindings::ExitReason as R;
    match reason {
        ExitReason::Normal => R::Normal,
        ExitReason::Shutdown | ExitReason::ShutdownWith(_) => R::Shutdown,
        ExitReason::Killed => R::Killed,
        ExitReason::NoProc => R::NoSuchComponent,
        // The reason's own text, not the runtime's wording around it.
        ExitReason::Error(why)
        | ExitReason::Panic(why)
        | ExitReason::StartFailed(why)
        | ExitReason::Custom(why) => R::Crashed(airssys_osl::escaped(why)),
        other => R::Crashed(airssys_osl::escaped(&other.to_string())),
    }
}

impl ComponentActor {
    /// Instantiate the instance and run its `init`, once per incarnation, bounded in wall-clock
    /// time by `limits.init_timeout` and in CPU time by the per-message budget. The first
    /// incarnation's outcome goes to [`FirstInit`]; its failure parks the actor (its starter
    /// removes it), a later incarnation's failure crashes it (a restart that failed, counted
    /// against the supervisor's intensity).
    async fn start(&mut self) -> Result<(), BoxError> {
        let Some(mut store) = self.unstarted.take() else { return Ok(()) };
        self.starting = true;
        let code = self.setup.code.current();
        // After an upgrade was rolled back: the state the old code handed over.
        let restore = self.setup.code.take_restore();
        let started = Self::instantiate(&self.setup, &mut store, &code.pre, restore).await;
        self.starting = false;
        let setup = &self.setup;
        match started {
            Ok(guest) => {
                self.live = Some(RunningInstance { store, guest });
                setup.first_init.report(Ok(()));
                Ok(())
            }
            Err(e) => {
                let reason = airssys_osl::escaped(&e.to_string());
                setup.vitals.crashed("init", crate::vitals::TrapCause::Other, &reason);
                setup.router.audit.lifecycle(&setup.address, "init", "crash", reason.clone());
                if setup.first_init.report(Err(reason.clone())) {
                    self.failed_first_start = true;
                    return Ok(());
                }
                Err(format!("start failed: {reason}").into())
            }
        }
    }

    /// Instantiate `pre` in `store`, run its `init` and, given a state, its `take-over`:
    /// bounded in wall-clock time by `limits.init_timeout` and in CPU time by the
    /// per-message budget.
    async fn instantiate(
        setup: &ComponentSetup,
        store: &mut Store<HostState>,
        pre: &GuestPre,
        state: Option<Payload>,
    ) -> Result<Guest, BoxError> {
        Self::arm(store, setup.cpu_per_message, setup.fuel_per_message);
        let meter = store.data().cpu.meter();
        let started = meter.wrap(async {
            let guest = pre.instantiate(store).await.map_err(pool_full)?;
            guest
                .init(store, &setup.config)
                .await?
                .map_err(|e| format!("init failed: {}", airssys_osl::Escaped(&e)))?;
            if let Some(state) = state
                && let Some(handover) = guest.handover(store)?
            {
                handover
                    .take_over(store, state)
                    .await?
                    .map_err(|e| format!("take-over failed: {}", airssys_osl::Escaped(&e)))?;
            }
            Ok::<_, BoxError>(guest)
        });
        let started = match tokio::time::timeout(setup.init_timeout, started).await {
            Ok(started) => started,
            Err(_) => Err(format!(
                "init did not finish within {:?} (limits.init_timeout)",
                setup.init_timeout
            )
            .into()),
        };
        store.data_mut().cpu.disarm();
        started
    }

    /// A store for a new instance of this component, its memory published in `memory`.
    fn new_store(
        &self,
        ctx: &mut Context<Self>,
        memory: Arc<std::sync::atomic::AtomicUsize>,
    ) -> Result<Store<HostState>, BoxError> {
        let setup = &self.setup;
        // One budget for every memory and table of the instance (counted from zero: a
        // fresh instance).
        let limits = crate::limiter::Limits::new(setup.max_memory_bytes, memory);
        // Deny by default: only the granted environment, directories and network.
        let wasi = crate::capability::wasi_ctx(
            &setup.address,
            &setup.wasi,
            &setup.router.audit,
            &setup.output,
        )?;
        let state = HostState::new(
            Arc::clone(&setup.address),
            Arc::clone(&setup.config),
            setup.router.clone(),
            limits,
            Arc::clone(&setup.caps),
            wasi,
            Arc::clone(&setup.output),
            Arc::clone(&setup.vitals),
            crate::cpu_budget::CpuBudget::new(
                setup.engine.ticks.clone(),
                setup.engine.compute_slots.clone(),
            ),
            Arc::new(ctx.link_ref()),
            setup.outgoing.clone(),
        );
        let mut store = Store::new(&setup.engine.inner, state);
        store.limiter(|s| &mut s.limits);
        // At every epoch tick: trap a handler past its CPU budget, otherwise yield the
        // worker thread so that other actors run while this guest computes.
        store.epoch_deadline_callback(|mut ctx| Ok(ctx.data_mut().cpu.on_tick()));
        Ok(store)
    }

    /// Carry out an upgrade, between two messages. The old instance hands its state over
    /// (when both codes have the `handover` exports); the new code is instantiated beside it
    /// and runs `init` (and `take-over`); only then does it replace the old instance, taking
    /// its links, monitors and subscriptions. Any failure before that leaves the old
    /// instance running and is told to the order's sender; a trap of the old instance in
    /// `hand-over` is its crash.
    async fn upgrade(
        &mut self,
        order: UpgradeOrder,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        let UpgradeOrder { code, grace, state, done } = order;
        let setup = Arc::clone(&self.setup);
        let audit = &setup.router.audit;
        let refuse = |done: tokio::sync::oneshot::Sender<_>, reason: String| {
            audit.lifecycle(&setup.address, "upgrade", "deny", reason.clone());
            let _ = done.send(Err(reason));
        };
        if self.live.is_none() {
            refuse(done, "it is not running".into());
            return Ok(());
        }
        let snapshot = match state {
            StateFrom::Given(state) => state,
            StateFrom::Running if code.pre.has_handover() => match self.hand_over().await {
                Ok(state) => state,
                Err(HandOverFailed::Refused(reason)) => {
                    refuse(done, reason);
                    return Ok(());
                }
                Err(HandOverFailed::Trapped(reason)) => {
                    refuse(done, format!("hand-over trapped: {reason}"));
                    return Err(format!("hand-over trapped: {reason}").into());
                }
            },
            StateFrom::Running => None,
        };
        let memory = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut store = match self.new_store(ctx, memory) {
            Ok(store) => store,
            Err(e) => {
                refuse(done, format!("no store for the new code: {e}"));
                return Ok(());
            }
        };
        let started = Self::instantiate(&setup, &mut store, &code.pre, snapshot.clone()).await;
        let Some(live) = self.live.as_mut() else {
            return Err("component instance missing".into());
        };
        let guest = match started {
            Ok(guest) => guest,
            Err(e) => {
                live.store.data().keep_shared(store.data_mut());
                refuse(done, airssys_osl::escaped(&e.to_string()));
                return Ok(());
            }
        };
        live.store.data_mut().pass_on(store.data_mut());
        store.data_mut().limits.publish_to(Arc::clone(&setup.memory));
        let old = setup.code.version();
        let change = format!("from {old} to {}", code.version);
        let rolled_back = setup.code.swapped(code, grace, snapshot.clone());
        // The old instance goes without `shutdown`: it is not stopping, its successor
        // carries on.
        self.live = Some(RunningInstance { store, guest });
        audit.lifecycle(&setup.address, "upgrade", "allow", change);
        let _ = done.send(Ok(Swapped { rolled_back, handed_over: snapshot }));
        Ok(())
    }

    /// The running instance's state, from its `hand-over` export (none if its code has no
    /// `handover`), under the per-message budget.
    async fn hand_over(&mut self) -> Result<Option<Payload>, HandOverFailed> {
        let Some(live) = self.live.as_mut() else { return Ok(None) };
        let handover = live.guest.handover(&mut live.store).map_err(|e| {
            HandOverFailed::Refused(format!("its running code's handover export is unusable: {e}"))
        })?;
        let Some(handover) = handover else { return Ok(None) };
        Self::arm(&mut live.store, self.setup.cpu_per_message, self.setup.fuel_per_message);
        let meter = live.store.data().cpu.meter();
        let handed = meter.wrap(handover.hand_over(&mut live.store)).await;
        live.store.data_mut().cpu.disarm();
        match handed {
            Ok(Ok(state)) => Ok(Some(state)),
            Ok(Err(e)) => Err(HandOverFailed::Refused(format!(
                "hand-over failed: {}",
                airssys_osl::Escaped(&e)
            ))),
            Err(trap) => Err(HandOverFailed::Trapped(self.trapped("hand-over", &trap))),
        }
    }

    /// Hand a notice to the guest's `handle-notice`, under the per-message budget; a trap
    /// crashes the component.
    async fn notify(&mut self, notice: Notice) -> Result<(), BoxError> {
        let Some(live) = self.live.as_mut() else { return Ok(()) };
        Self::arm(&mut live.store, self.setup.cpu_per_message, self.setup.fuel_per_message);
        let meter = live.store.data().cpu.meter();
        let done = meter.wrap(live.guest.handle_notice(&mut live.store, &notice)).await;
        live.store.data_mut().cpu.disarm();
        if let Err(trap) = done {
            let reason = self.trapped("handle-notice", &trap);
            return Err(format!("handle-notice trapped: {reason}").into());
        }
        Ok(())
    }

    /// An export trapped: the crash is audited and the instance, in an unknown state now,
    /// dropped at once. Returns the trap's text.
    fn trapped(&mut self, export: &'static str, trap: &wasmtime::Error) -> String {
        let reason = trap_reason(&self.setup.address, trap);
        self.crashed(export, crate::vitals::TrapCause::of(trap), reason)
    }

    /// The instance crashed in `export`: the crash is counted and audited, new code in its
    /// upgrade's grace window is rolled back, and the instance is dropped. Returns `reason`.
    fn crashed(
        &mut self,
        export: &'static str,
        cause: crate::vitals::TrapCause,
        reason: String,
    ) -> String {
        self.setup.vitals.crashed(export, cause, &reason);
        let audit = &self.setup.router.audit;
        audit.lifecycle(&self.setup.address, export, "crash", reason.clone());
        if let Some(back) = self.setup.code.crashed(&reason) {
            let why = format!("the new code crashed in its grace window; back to {back}");
            audit.lifecycle(&self.setup.address, "upgrade", "rollback", why);
        }
        self.live = None;
        reason
    }
}

/// The span a handler runs in (`spans.rs`): set as the instance's current trace while it
/// runs, and recorded when the host has a span sink and the trace is sampled.
struct HandlerSpan {
    /// The span the message (or request) came from, when recorded.
    recorded: Option<(Arc<dyn crate::spans::SpanSink>, TraceContext, std::time::SystemTime)>,
}

impl HandlerSpan {
    /// Start the handler's span, a child of `received` (none without a trace).
    fn begin(
        setup: &ComponentSetup,
        state: &mut HostState,
        received: Option<TraceContext>,
    ) -> Self {
        let span = received.as_ref().map(TraceContext::child);
        state.trace = span;
        let sampled = received.filter(|t| t.flags & 1 == 1);
        let recorded = setup.spans.clone().zip(sampled).zip(span).map(|((sink, from), span)| {
            state.span_log = Some(crate::spans::SpanLog::new(span));
            (sink, from, std::time::SystemTime::now())
        });
        HandlerSpan { recorded }
    }

    /// The handler returned: record its span (and the spans its guest opened).
    fn end(
        self,
        setup: &ComponentSetup,
        state: &mut HostState,
        name: &'static str,
        peer: &Arc<str>,
        error: impl FnOnce() -> Option<String>,
    ) {
        let context = state.trace.take();
        let log = state.span_log.take();
        let (Some((sink, received, start)), Some(context)) = (self.recorded, context) else {
            return;
        };
        let (events, own) = log.map(|l| l.finish(&setup.address)).unwrap_or_default();
        for guest_span in own {
            sink.record(guest_span);
        }
        sink.record(crate::spans::SpanRecord {
            name: name.into(),
            context,
            parent: Some(received.span_id),
            component: Arc::clone(&setup.address),
            peer: Arc::clone(peer),
            start,
            end: std::time::SystemTime::now(),
            error: error(),
            events,
        });
    }
}

impl ComponentActor {
    /// Call `handle-message` with `message` (its trace filled in here), in a span of its own
    /// (a child of the message's, which the guest sees and what it sends carries), under the
    /// CPU budget. A trap is the instance's crash: the message becomes a dead letter and
    /// the trap's text is returned as the error.
    async fn call_handler(
        &mut self,
        sender: Arc<str>,
        mut message: crate::types::Message,
        trace: Option<TraceContext>,
    ) -> Result<Result<Option<Payload>, String>, String> {
        let Some(live) = self.live.as_mut() else {
            return Err("component instance missing".into());
        };
        let span = HandlerSpan::begin(&self.setup, live.store.data_mut(), trace);
        message.trace = live.store.data().trace.as_ref().map(ToString::to_string);
        Self::arm(&mut live.store, self.setup.cpu_per_message, self.setup.fuel_per_message);
        let meter = live.store.data().cpu.meter();
        let started = crate::vitals::now();
        let outcome = meter.wrap(live.guest.handle_message(&mut live.store, &message)).await;
        self.setup.vitals.handled_in(crate::vitals::since(started));
        live.store.data_mut().cpu.disarm();
        let error = || match &outcome {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("handler error: {}", airssys_osl::Escaped(e))),
            Err(trap) => Some(format!("trapped: {}", trap_text(trap))),
        };
        span.end(&self.setup, live.store.data_mut(), "handle-message", &sender, error);
        match outcome {
            Ok(result) => Ok(result),
            Err(trap) => {
                let reason = self.trapped("handle-message", &trap);
                self.setup.dead_letters.push(DeadLetter {
                    component: Arc::clone(&self.setup.address),
                    sender,
                    codec: message.payload.codec,
                    bytes: message.payload.bytes,
                    reason: reason.clone(),
                });
                Err(reason)
            }
        }
    }

    /// Serve one HTTP request: a `wasi:http/proxy` instance's `incoming-handler` gets it as
    /// it is; a component of our own world gets it as a message (`http_codec.rs`). Either
    /// runs under the CPU budget. The handler has the route's time limit to its response's
    /// head, counted from when it starts; after the head, the response body must move at
    /// least once per time limit, or its connection is ended (so that the guest's next write
    /// fails) and the guest gets one more time limit to return. A trap, or a handler past
    /// those limits (its instance is stopped mid-call), crashes the component; the client
    /// gets a `500` (or, past its own time limit, a `503` from the listener).
    async fn serve_http(
        &mut self,
        exchange: crate::envelope::HttpExchange,
    ) -> Result<(), BoxError> {
        use crate::envelope::HttpExchange;
        use crate::http_codec::text;
        use std::sync::atomic::{AtomicBool, Ordering};
        use wasmtime_wasi_http::WasiHttpView as _;
        let HttpExchange { request, respond, limit, stall, queued } = exchange;
        drop(queued);
        if respond.is_closed() {
            // Its client is gone, or the listener answered `503` while it waited.
            return Ok(());
        }
        let Some(live) = self.live.as_mut() else {
            return Err("component instance missing".into());
        };
        let start = tokio::time::Instant::now();
        if !matches!(live.guest, Guest::Proxy(_)) {
            let exchange = HttpExchange {
                request,
                respond,
                limit,
                stall,
                queued: crate::envelope::Queued::none(),
            };
            let message = crate::envelope::received(
                crate::http_codec::SENDER,
                crate::http_codec::request_message(&exchange).into(),
                None,
                None,
                None,
            );
            let handled = self.call_handler(crate::http_codec::sender(), message, None);
            let outcome = match tokio::time::timeout_at(start + limit, handled).await {
                Ok(outcome) => outcome,
                Err(_) => Err(self.overran("handle-message")),
            };
            return match outcome {
                Ok(answer) => {
                    let response =
                        crate::http_codec::response_of(answer.map_err(RequestError::HandlerError));
                    let _ = exchange.respond.send(Ok(response));
                    Ok(())
                }
                Err(reason) => {
                    let crashed = text(500, format!("the component crashed: {reason}"));
                    let _ = exchange.respond.send(Ok(crashed));
                    Err(reason.into())
                }
            };
        }
        let (parts, body) = request.into_parts();
        let request = hyper::Request::from_parts(parts, http_body_util::Full::new(body));
        let scheme = wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http;
        let head = Arc::new(AtomicBool::new(false));
        let data = live.store.data_mut();
        let incoming = match data.http().new_incoming_request(scheme, request) {
            Ok(incoming) => incoming,
            Err(e) => {
                // The listener checked the request; the instance may hold too many resources.
                let _ =
                    respond.send(Ok(text(500, format!("the request cannot be handed over: {e}"))));
                return Ok(());
            }
        };
        let set = Arc::clone(&head);
        let out = data.http().new_response_outparam_from_callback(move |response| {
            set.store(true, Ordering::Release);
            let _ = respond.send(response);
        });
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                // Its request goes with the outparam's callback (the sender, dropped: a `500`).
                let _ = data.table_mut().delete(incoming);
                tracing::warn!(component = %self.setup.address, error = %e, "an HTTP request could not be handed to the component");
                return Ok(());
            }
        };
        Self::arm(&mut live.store, self.setup.cpu_per_message, self.setup.fuel_per_message);
        let meter = live.store.data().cpu.meter();
        let started = crate::vitals::now();
        let outcome = {
            let call = meter.wrap(live.guest.handle_http(&mut live.store, incoming, out));
            Self::within_http_limits(call, &head, &stall, start, limit).await
        };
        self.setup.vitals.handled_in(crate::vitals::since(started));
        match outcome {
            Some(Some(Ok(()))) | Some(None) => {
                if let Some(live) = self.live.as_mut() {
                    live.store.data_mut().cpu.disarm();
                }
                Ok(())
            }
            Some(Some(Err(trap))) => {
                if let Some(live) = self.live.as_mut() {
                    live.store.data_mut().cpu.disarm();
                }
                let reason = self.trapped("incoming-handler", &trap);
                Err(format!("incoming-handler trapped: {reason}").into())
            }
            None => Err(self.overran("incoming-handler").into()),
        }
    }

    /// Wait for an HTTP handler's call within its limits (`serve_http`); `None` when it ran
    /// past them (the call is abandoned).
    async fn within_http_limits<T>(
        call: impl Future<Output = T>,
        head: &std::sync::atomic::AtomicBool,
        stall: &crate::envelope::HttpStall,
        start: tokio::time::Instant,
        limit: Duration,
    ) -> Option<T> {
        use std::sync::atomic::Ordering;
        let mut call = std::pin::pin!(call);
        let mut ended: Option<tokio::time::Instant> = None;
        loop {
            let headed = head.load(Ordering::Acquire);
            let until = match ended {
                Some(at) => at + limit,
                None if headed => stall.last_moved().max(start) + limit,
                None => start + limit,
            };
            match tokio::time::timeout_at(until, &mut call).await {
                Ok(done) => return Some(done),
                Err(_) if !head.load(Ordering::Acquire) || ended.is_some() => return None,
                Err(_) => {
                    // Moved (or sent its head) meanwhile: the window starts again.
                    let now = tokio::time::Instant::now();
                    if headed && stall.last_moved().max(start) + limit > now {
                        continue;
                    }
                    if !headed {
                        continue;
                    }
                    stall.abort();
                    ended = Some(now);
                }
            }
        }
    }

    /// A handler ran past its HTTP request's time limit: its call was abandoned mid-way, so
    /// its instance is dropped (the component crashes and is restarted; new code in its
    /// upgrade's grace window is rolled back, as for a trap). Returns why.
    fn overran(&mut self, export: &'static str) -> String {
        let reason = "the HTTP request ran past its time limit".to_owned();
        self.crashed(export, crate::vitals::TrapCause::Other, reason)
    }

    /// Run a `wasi:cli/command` component's `run`, once, when it starts, under the CPU
    /// budget: success stops it normally; failure or a trap crashes it.
    async fn run_command(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let Some(live) = self.live.as_mut() else { return Ok(()) };
        if !matches!(live.guest, Guest::Command(_)) {
            return Ok(());
        }
        Self::arm(&mut live.store, self.setup.cpu_per_message, self.setup.fuel_per_message);
        let meter = live.store.data().cpu.meter();
        let ran = meter.wrap(live.guest.run(&mut live.store)).await;
        live.store.data_mut().cpu.disarm();
        let audit = &self.setup.router.audit;
        match ran {
            Some(Ok(true)) | None => {
                audit.lifecycle(&self.setup.address, "run", "exit", String::from("success"));
                ctx.stop();
                Ok(())
            }
            Some(Ok(false)) => {
                audit.lifecycle(&self.setup.address, "run", "exit", String::from("failure"));
                Err("run ended in failure".into())
            }
            Some(Err(trap)) => {
                let reason = self.trapped("run", &trap);
                Err(format!("run trapped: {reason}").into())
            }
        }
    }
}

impl Actor for ComponentActor {
    type Msg = Envelope;

    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        // Trapping exits is what gets a component its graceful stop from its supervisor (as a
        // gen_server with a `terminate`): its `shutdown` export runs. An exit signal it gets
        // otherwise ends it (`handle_exit`).
        ctx.trap_exits(true);
        let setup = &self.setup;
        if ctx.incarnation() > 1 {
            setup.router.audit.lifecycle(
                &setup.address,
                "restart",
                "restart",
                format!("incarnation {}", ctx.incarnation()),
            );
        }
        let store = self.new_store(ctx, Arc::clone(&self.setup.memory))?;
        self.unstarted = Some(store);
        // Instantiate and `init` in this actor's own task, as its first envelope, not in this
        // hook (its supervisor waits for the hook): a slow or hostile `init` holds nobody but
        // this component. Messages that come meanwhile wait in its mailbox.
        ctx.myself().tell_unbounded(Envelope(Delivery::Start));
        Ok(())
    }

    async fn handle(
        &mut self,
        envelope: Envelope,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if self.live.is_none() && !self.failed_first_start {
            self.start().await?;
        }
        if self.failed_first_start {
            // Waiting to be removed: a caller learns at once that nothing will answer.
            match envelope.0 {
                Delivery::Message { reply: Some(reply), .. } => {
                    let _ = reply.send(Err(RequestError::Refused(
                        crate::bindings::SendError::TargetStopped,
                    )));
                }
                Delivery::Upgrade => {
                    if let Some(order) = self.setup.code.take_order() {
                        let _ = order.done.send(Err("its first init failed".into()));
                    }
                }
                Delivery::Http(exchange) => {
                    let refused = crate::http_codec::text(503, "the component did not start");
                    let _ = exchange.respond.send(Ok(refused));
                }
                _ => {}
            }
            return Ok(());
        }
        let Some(live) = self.live.as_mut() else {
            return Err("component instance missing".into());
        };
        let (sender, payload, reply, correlation, topic, trace) = match envelope.0 {
            Delivery::Message { sender, payload, reply, correlation, topic, trace, queued } => {
                // Out of the mailbox: its bytes no longer count against it.
                drop(queued);
                (sender, payload, reply, correlation, topic, trace)
            }
            Delivery::Start => return self.run_command(ctx).await,
            Delivery::Http(exchange) => return self.serve_http(exchange).await,
            Delivery::Upgrade => {
                return match self.setup.code.take_order() {
                    Some(order) => self.upgrade(order, ctx).await,
                    None => Ok(()),
                };
            }
            Delivery::Callback { id, outcome, instance, trace } => {
                if !live.store.data().made_request(&instance) {
                    tracing::debug!(
                        component = %self.setup.address,
                        id,
                        "dropped the callback of a request made by an earlier instance"
                    );
                    return Ok(());
                }
                // In a span of its own, a child of the span that made the request.
                let span = HandlerSpan::begin(&self.setup, live.store.data_mut(), trace);
                Self::arm(&mut live.store, self.setup.cpu_per_message, self.setup.fuel_per_message);
                let outcome = outcome.as_ref().map(Option::as_ref);
                let meter = live.store.data().cpu.meter();
                self.setup.vitals.called_back();
                let call = live.guest.handle_callback(&mut live.store, id, outcome);
                let done = meter.wrap(call).await;
                live.store.data_mut().cpu.disarm();
                let error = || done.as_ref().err().map(|t| format!("trapped: {}", trap_text(t)));
                let peer = Arc::clone(&self.setup.address);
                span.end(&self.setup, live.store.data_mut(), "handle-callback", &peer, error);
                return match done {
                    Ok(()) => Ok(()),
                    Err(trap) => {
                        let reason = self.trapped("handle-callback", &trap);
                        Err(format!("handle-callback trapped: {reason}").into())
                    }
                };
            }
        };
        let message =
            crate::envelope::received(&sender, payload, correlation, topic.as_deref(), None);
        match self.call_handler(sender, message, trace).await {
            Ok(result) => {
                if let Some(reply) = reply {
                    let _ = reply.send(result.map_err(RequestError::HandlerError));
                }
                Ok(())
            }
            Err(reason) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(RequestError::ReceiverCrashed(reason.clone())));
                }
                Err(reason.into())
            }
        }
    }

    /// An exit signal from a component this instance linked to is a notice to a guest that
    /// traps exits. Otherwise (or from anyone else: its supervisor, an `exit` sent to it) any
    /// reason but `Normal` stops it gracefully with that reason.
    async fn handle_exit(
        &mut self,
        signal: ExitSignal,
        ctx: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        if let Some(live) = self.live.as_mut() {
            let relations = &mut live.store.data_mut().relations;
            let from = signal.from.id();
            // Unlinked by the guest: a signal of the link that was already on its way has no
            // effect after `unlink` returned (as in Erlang).
            if relations.unlinked.remove(&from) {
                return Ok(());
            }
            // A link this instance made, or one another component made to it (links go both
            // ways): components are registered under their addresses.
            let partner = relations.links.remove(&from).or_else(|| {
                signal
                    .from
                    .name()
                    .filter(|name| self.setup.router.single(name).is_ok_and(|a| a.is_some()))
            });
            if let Some(partner) = partner.filter(|_| relations.traps_exits) {
                let notice = Notice::Exit(crate::bindings::ExitNotice {
                    partner: partner.to_string(),
                    reason: exit_reason(&signal.reason),
                });
                return self.notify(notice).await;
            }
        }
        if signal.reason != ExitReason::Normal {
            ctx.stop_with(signal.reason);
        }
        Ok(())
    }

    /// A monitor this instance made fired: a notice to the guest.
    async fn handle_down(&mut self, down: Down, _ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let Some(live) = self.live.as_mut() else { return Ok(()) };
        let Some((monitor, target)) = live.store.data_mut().relations.fired(down.monitor) else {
            return Ok(());
        };
        let notice = Notice::Down(crate::bindings::DownNotice {
            monitor,
            target: target.to_string(),
            reason: exit_reason(&down.reason),
        });
        self.notify(notice).await
    }

    async fn stopping(&mut self, reason: &ExitReason, _ctx: &mut Context<Self>) {
        let Some(mut live) = self.live.take() else {
            return;
        };
        Self::arm(&mut live.store, self.setup.shutdown_deadline, self.setup.fuel_per_message);
        let meter = live.store.data().cpu.meter();
        let graceful = meter.wrap(live.guest.shutdown(&mut live.store));
        match tokio::time::timeout(self.setup.shutdown_deadline, graceful).await {
            Ok(Ok(())) => {}
            Ok(Err(trap)) => {
                let error = airssys_osl::escaped(&trap.to_string());
                tracing::warn!(component = %self.setup.address, %error, "shutdown trapped")
            }
            Err(_) => {
                tracing::warn!(component = %self.setup.address, "shutdown did not finish in time")
            }
        }
        tracing::debug!(component = %self.setup.address, %reason, "component stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_refused_memory_names_the_mapping_limit() {
        let refused = wasmtime::Error::from(std::io::Error::from_raw_os_error(ENOMEM))
            .context("failed to allocate a memory");
        let told = pool_full(refused).to_string();
        assert!(told.contains("vm.max_map_count") && told.contains("sysctl"), "{told}");
        let other = pool_full(wasmtime::Error::msg("something else")).to_string();
        assert_eq!(other, "something else");
    }
}
