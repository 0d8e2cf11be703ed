//! The per-store state of a component instance and the host functions it imports.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::current::airssys::component::{
    config, links, logging, messaging, process, storage, types,
};
use crate::bindings::{Level, LinkError, Payload, RequestError, SendError, TopicError};
use crate::capability::{Capabilities, Refusal};
use crate::envelope::{Delivery, Envelope};
use crate::limiter::Limits;
use crate::router::{self, Router};
use crate::topics::Topics;
use crate::trace::TraceContext;

/// How many WASI resources (streams, sockets, files, ...) one instance may hold.
const MAX_RESOURCES: usize = 4096;

use crate::router::MAX_CALL_TIMEOUT;

/// The data of a component instance's store: what the host keeps per instance (its
/// address, grants, limits, WASI context). Host functions an embedder adds
/// ([`HostBuilder::linker`](crate::HostBuilder::linker)) get it as their store's data.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// `wasi:http`: its context, and the connector of its outgoing requests (its grants).
    http: wasmtime_wasi_http::WasiHttpCtx,
    outgoing: crate::outgoing::Outgoing,
    pub(crate) address: Arc<str>,
    config: Arc<[(String, String)]>,
    router: Router,
    pub(crate) limits: Limits,
    /// The CPU budget of the guest call now running (checked at every epoch tick).
    pub(crate) cpu: crate::cpu_budget::CpuBudget,
    requests: Requests,
    subscriptions: Subscriptions,
    pub(crate) caps: Arc<Capabilities>,
    output: Arc<crate::output::OutputBudget>,
    /// The address's vital signs (its call round trips).
    vitals: Arc<crate::vitals::Vitals>,
    /// What this instance sent, by target.
    sent: crate::vitals::Sent,
    /// The links and monitors this instance made.
    pub(crate) relations: Relations,
    /// The span of the handler running now: what it sends carries it as the parent.
    pub(crate) trace: Option<TraceContext>,
    /// What the guest logs while its handler's span is recorded, and the spans of its own
    /// it opens (`spans.rs`).
    pub(crate) span_log: Option<crate::spans::SpanLog>,
}

/// The links and monitors an instance made, by the partner's identity, so that a notice
/// can name the partner's address; they go with the instance (the runtime drops its links
/// and monitors when the incarnation ends).
pub(crate) struct Relations {
    me: Arc<dyn OwnActor>,
    /// Linked components, by actor id.
    pub(crate) links: HashMap<airssys_rt::ActorId, Arc<str>>,
    /// Monitors, by the id the guest got (the monitor's number).
    pub(crate) monitors: HashMap<u64, (airssys_rt::MonitorRef, Arc<str>)>,
    /// Whether the guest traps exits (`links.trap-exits`).
    pub(crate) traps_exits: bool,
    /// Partners the guest unlinked, until an exit signal of theirs (already on its way when
    /// `unlink` returned) has been dropped, or the guest links to them again.
    pub(crate) unlinked: std::collections::HashSet<airssys_rt::ActorId>,
}

/// The instance's own actor: the owner of the links and monitors its guest makes, and the
/// mailbox its callbacks go to. Implemented for the running incarnation's
/// [`LinkRef`](airssys_rt::LinkRef), so that the instance's state, below the actor, need
/// not know the actor's type.
pub(crate) trait OwnActor: Send + Sync {
    /// Its id.
    fn id(&self) -> airssys_rt::ActorId;
    /// Link with `other`.
    fn link(&self, other: &airssys_rt::ActorHandle);
    /// Remove the link with `other`, both ways.
    fn unlink(&self, other: &airssys_rt::ActorHandle);
    /// Monitor `other`.
    fn monitor(&self, other: &airssys_rt::ActorHandle) -> airssys_rt::MonitorRef;
    /// Remove a monitor and any of its notices still queued; false if it had fired.
    fn demonitor_flush(&self, monitor: airssys_rt::MonitorRef) -> bool;
    /// Queue an envelope for itself whatever its mailbox's capacity (a callback).
    fn tell_unbounded(&self, envelope: Envelope) -> bool;
}

impl<A: airssys_rt::Actor<Msg = Envelope>> OwnActor for airssys_rt::LinkRef<A> {
    fn id(&self) -> airssys_rt::ActorId {
        airssys_rt::LinkRef::id(self)
    }

    fn link(&self, other: &airssys_rt::ActorHandle) {
        airssys_rt::LinkRef::link(self, other);
    }

    fn unlink(&self, other: &airssys_rt::ActorHandle) {
        airssys_rt::LinkRef::unlink(self, other);
    }

    fn monitor(&self, other: &airssys_rt::ActorHandle) -> airssys_rt::MonitorRef {
        airssys_rt::LinkRef::monitor(self, other)
    }

    fn demonitor_flush(&self, monitor: airssys_rt::MonitorRef) -> bool {
        airssys_rt::LinkRef::demonitor_flush(self, monitor)
    }

    fn tell_unbounded(&self, envelope: Envelope) -> bool {
        self.actor().tell_unbounded(envelope)
    }
}

/// How many links and monitors one instance may hold at once (each takes room in its
/// partner's runtime cell).
const MAX_RELATIONS: usize = 1024;

impl Relations {
    /// The guest's id of a monitor that fired, and its target; removed (monitors fire once).
    pub(crate) fn fired(&mut self, monitor: airssys_rt::MonitorRef) -> Option<(u64, Arc<str>)> {
        let id = monitor.as_u64();
        self.monitors.remove(&id).map(|(_, target)| (id, target))
    }
}

/// The topic subscriptions this instance made; they go with it.
struct Subscriptions {
    ids: std::collections::HashSet<u64>,
    topics: Arc<Topics>,
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.topics.remove(self.ids.drain());
    }
}

/// The requests this instance made that have not called back yet. When the instance goes
/// (crash or stop), they go with it: no callback reaches a later instance.
#[derive(Default)]
struct Requests {
    next: u64,
    pending: Arc<PendingRequests>,
}

pub(crate) use crate::envelope::PendingRequests;

impl HostState {
    /// Whether `instance` (from a callback) is this instance, the one that made the request.
    pub(crate) fn made_request(&self, instance: &std::sync::Weak<PendingRequests>) -> bool {
        std::ptr::eq(instance.as_ptr(), Arc::as_ptr(&self.requests.pending))
    }

    #[allow(clippy::too_many_arguments, reason = "one per part of the state, all required")]
    pub(crate) fn new(
        address: Arc<str>,
        config: Arc<[(String, String)]>,
        router: Router,
        limits: Limits,
        caps: Arc<Capabilities>,
        wasi: WasiCtx,
        output: Arc<crate::output::OutputBudget>,
        vitals: Arc<crate::vitals::Vitals>,
        cpu: crate::cpu_budget::CpuBudget,
        me: Arc<dyn OwnActor>,
        outgoing: crate::outgoing::Outgoing,
    ) -> Self {
        let requests = Requests::default();
        vitals.watch_pending(&requests.pending);
        HostState {
            wasi,
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            outgoing,
            table: {
                // Bounds what a guest can hold open (sockets, streams, files).
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_RESOURCES);
                table
            },
            address,
            config,
            limits,
            cpu,
            subscriptions: Subscriptions {
                ids: std::collections::HashSet::new(),
                topics: Arc::clone(&router.topics),
            },
            router,
            requests,
            caps,
            output,
            sent: crate::vitals::Sent::new(Arc::clone(&vitals)),
            vitals,
            relations: Relations {
                me,
                links: HashMap::new(),
                monitors: HashMap::new(),
                traps_exits: false,
                unlinked: std::collections::HashSet::new(),
            },
            trace: None,
            span_log: None,
        }
    }
}

impl HostState {
    /// The instance's WASI resource table.
    pub(crate) fn table_mut(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// The component's capabilities and limits.
    pub(crate) fn caps(&self) -> &Capabilities {
        &self.caps
    }

    /// Audit a refusal of this component's, and log it, both within its audit budget (a
    /// guest can cause refusals at will; the budget keeps it from flooding the logs).
    pub(crate) fn audit_denial(
        &self,
        operation: &'static str,
        action: airssys_osl::Action,
        resource: &str,
        rule: &str,
    ) {
        if self.router.audit.denial(&self.address, operation, action, resource, rule) {
            let (resource, rule) = (airssys_osl::Escaped(resource), airssys_osl::Escaped(rule));
            tracing::warn!(component = %self.address, operation, %action, %resource, %rule, "refused");
        }
    }

    /// Log and audit a refused capability.
    fn refused(&self, what: &'static str, target: &str, refusal: &Refusal) {
        use airssys_osl::Action;
        let (action, rule) = match refusal {
            Refusal::RateLimited => (Action::Limit, "message rate"),
            Refusal::NotPermitted => (
                match what {
                    "send" => Action::MessageSend,
                    "run" => Action::ProcessSpawn,
                    "publish" => Action::TopicPublish,
                    "subscribe" => Action::TopicSubscribe,
                    _ => Action::MessageRequest,
                },
                "not granted",
            ),
        };
        self.audit_denial(what, action, target, rule);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wasmtime_wasi_http::WasiHttpView for HostState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}

impl types::Host for HostState {}

impl messaging::Host for HostState {
    fn send(&mut self, target: String, payload: Payload) -> Result<(), SendError> {
        self.caps.may_send(&target).inspect_err(|r| self.refused("send", &target, r))?;
        self.router.send(&self.address, &target, payload, self.child_trace())?;
        self.sent.count(&target);
        Ok(())
    }

    fn request(
        &mut self,
        target: String,
        payload: Payload,
        timeout_ms: u32,
    ) -> Result<u64, SendError> {
        self.caps.may_request(&target).inspect_err(|r| self.refused("request", &target, r))?;
        if let Some(limit) = self.caps.pending_requests {
            let pending = crate::sync::lock(&self.requests.pending).len();
            if pending >= limit as usize {
                let rule = format!("pending requests ({limit})");
                self.audit_denial("request", airssys_osl::Action::Limit, &target, &rule);
                return Err(SendError::TooManyRequests);
            }
        }
        let payload = crate::envelope::SharedPayload::from(payload);
        let route = self.router.route_request(&self.address, &target, &payload)?;
        // Callbacks go to this component's own actor (kept, not looked up in the registry).
        let me = Arc::clone(&self.relations.me);
        let timeout = Duration::from_millis(u64::from(timeout_ms)).min(MAX_CALL_TIMEOUT);
        let id = self.requests.next + 1;
        let trace = self.child_trace();
        let stamp = router::Stamp { correlation: id, trace };
        // Pending before it is queued: its outcome may come before it is queued here.
        crate::sync::lock(&self.requests.pending).insert(id);
        let instance = Arc::downgrade(&self.requests.pending);
        let (router, requester) = (self.router.clone(), Arc::clone(&self.address));
        // No task waits for the outcome: the responder's answer (on its own thread), the
        // deadline reaper's timeout or the responder's loss goes straight into this
        // component's mailbox as a callback, past a bounded mailbox's capacity (a callback
        // may not be lost). Callbacks queued at once are as many as the requests made (at
        // most `limits.pending_requests` when that is set), as with one task per request
        // before; their payloads are not counted in the mailbox's bytes. A request to
        // another host is answered the same way, by its response or its timeout.
        let to = target.clone();
        let on_outcome = move |outcome: crate::envelope::Answer| {
            let Some(pending) = instance.upgrade() else { return };
            // Exactly one of: `cancel` took the id out (no callback comes), or this does.
            if !crate::sync::lock(&pending).remove(&id) {
                return;
            }
            drop(pending);
            let outcome = router.check_response(&requester, &to, outcome);
            me.tell_unbounded(Envelope(Delivery::Callback { id, outcome, instance, trace }));
        };
        // Queued now (so it keeps its place among this sender's messages), or refused now.
        let queued = match route {
            router::RequestRoute::Here(admitted) => {
                router::start_ask(admitted, &self.address, payload, stamp, timeout).map(|answer| {
                    answer.forward(move |outcome| on_outcome(router::answer_of(outcome)));
                })
            }
            router::RequestRoute::Remote => self.router.request_remote(
                &self.address,
                &target,
                payload,
                stamp,
                timeout,
                Box::new(on_outcome),
            ),
        };
        if let Err(refused) = queued {
            crate::sync::lock(&self.requests.pending).remove(&id);
            return Err(refused);
        }
        self.requests.next = id;
        self.sent.count(&target);
        Ok(id)
    }

    fn publish(&mut self, topic: String, payload: Payload) -> Result<u32, TopicError> {
        if let Err(refusal) = self.caps.may_publish(&topic) {
            self.refused("publish", &topic, &refusal);
            return Err(match refusal {
                Refusal::NotPermitted => TopicError::NotPermitted,
                Refusal::RateLimited => TopicError::RateLimited,
            });
        }
        let trace = self.child_trace();
        self.router.publish(&self.address, &topic, payload, trace).map_err(TopicError::Invalid)
    }

    fn subscribe(&mut self, pattern: String) -> Result<(), TopicError> {
        airssys_rt::pubsub::Pattern::parse(&pattern)
            .map_err(|e| TopicError::Invalid(e.to_string()))?;
        if !self.caps.may_subscribe(&pattern) {
            self.refused("subscribe", &pattern, &Refusal::NotPermitted);
            return Err(TopicError::NotPermitted);
        }
        let limit = self.caps.max_subscriptions;
        if self.subscriptions.ids.len() >= limit as usize
            && !self.router.topics.has(&self.address, &pattern)
        {
            let rule = format!("subscriptions ({limit})");
            self.audit_denial("subscribe", airssys_osl::Action::Limit, &pattern, &rule);
            return Err(TopicError::TooManySubscriptions(limit));
        }
        let (id, _) =
            self.router.topics.subscribe(&self.address, &pattern).map_err(TopicError::Invalid)?;
        self.subscriptions.ids.insert(id);
        Ok(())
    }

    fn unsubscribe(&mut self, pattern: String) -> bool {
        match self.router.topics.unsubscribe(&self.address, &pattern) {
            Some(id) => {
                self.subscriptions.ids.remove(&id);
                true
            }
            None => false,
        }
    }

    fn cancel(&mut self, id: u64) -> bool {
        crate::sync::lock(&self.requests.pending).remove(&id)
    }

    async fn call(
        &mut self,
        target: String,
        payload: Payload,
        timeout_ms: u32,
    ) -> Result<Option<Payload>, RequestError> {
        if let Err(refusal) = self.caps.may_request(&target) {
            self.refused("call", &target, &refusal);
            return Err(RequestError::Refused(refusal.into()));
        }
        let timeout = Duration::from_millis(u64::from(timeout_ms)).min(MAX_CALL_TIMEOUT);
        // A call has an id of its own too (its receiver sees it as the correlation), from
        // the same sequence as requests.
        self.requests.next += 1;
        let stamp = router::Stamp { correlation: self.requests.next, trace: self.child_trace() };
        // The wait for the answer is not this guest's CPU time: the call is not polled
        // meanwhile, so no tick is counted (`cpu_budget.rs`).
        let started = crate::vitals::now();
        let answer = self.router.call(&self.address, &target, payload, stamp, timeout).await;
        if !matches!(answer, Err(RequestError::Refused(_))) {
            self.sent.count(&target);
            self.vitals.called_in(crate::vitals::since(started));
        }
        answer
    }

    fn self_address(&mut self) -> String {
        self.address.to_string()
    }
}

/// An upgrade moves what belongs to the address, not to the code, from the old instance's
/// state to the new one's.
impl HostState {
    /// Give `successor` (the new code's instance, its `init` run) this instance's links,
    /// monitors and subscriptions, merged with those its `init` made. The requests this
    /// instance made stay with it: their outcomes are dropped, never given to the new code.
    pub(crate) fn pass_on(&mut self, successor: &mut HostState) {
        let mine = &mut self.relations;
        let theirs = &mut successor.relations;
        theirs.links.extend(mine.links.drain());
        theirs.monitors.extend(mine.monitors.drain());
        // A partner the new code linked to again is no longer one whose exit is ignored.
        let unlinked = mine.unlinked.drain().filter(|id| !theirs.links.contains_key(id));
        theirs.unlinked.extend(unlinked.collect::<Vec<_>>());
        theirs.traps_exits |= mine.traps_exits;
        successor.subscriptions.ids.extend(self.subscriptions.ids.drain());
    }

    /// The new code's instance is dropped (its upgrade failed): what its `init` made goes
    /// with it, but what it shares with this one stays. Subscribing again to a pattern gives
    /// the same subscription; the links and monitors it made (held by the actor, which
    /// outlives the instance) are undone.
    pub(crate) fn keep_shared(&self, failed: &mut HostState) {
        failed.subscriptions.ids.retain(|id| !self.subscriptions.ids.contains(id));
        let relations = &mut failed.relations;
        for (id, address) in relations.links.drain() {
            if self.relations.links.contains_key(&id) {
                continue;
            }
            if let Ok(Some(actor)) = self.router.single(&address) {
                relations.me.unlink(&actor.handle());
            }
        }
        for (id, (monitor, _)) in relations.monitors.drain() {
            if !self.relations.monitors.contains_key(&id) {
                relations.me.demonitor_flush(monitor);
            }
        }
    }
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState").field("address", &self.address).finish_non_exhaustive()
    }
}

impl HostState {
    /// The address of the component this instance runs (a pool member's is `name/i`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The trace context of what the running handler sends: its own span, as the parent.
    fn child_trace(&self) -> Option<TraceContext> {
        // A span of the guest's own, when it opened one (`spans.rs`).
        self.span_log.as_ref().map(crate::spans::SpanLog::current).or(self.trace)
    }

    /// The one component at `target`, for a link or monitor.
    fn partner(
        &self,
        operation: &'static str,
        target: &str,
    ) -> Result<airssys_rt::ActorHandle, LinkError> {
        if !self.caps.may_link(target) {
            self.audit_denial(operation, airssys_osl::Action::MessageSend, target, "not granted");
            return Err(LinkError::NotPermitted);
        }
        let relations = &self.relations;
        if relations.links.len() + relations.monitors.len() >= MAX_RELATIONS {
            let rule = format!("links and monitors ({MAX_RELATIONS})");
            self.audit_denial(operation, airssys_osl::Action::Limit, target, &rule);
            return Err(LinkError::NotPermitted);
        }
        match self.router.single(target) {
            Ok(Some(actor)) => Ok(actor.handle()),
            Ok(None) => Err(LinkError::UnknownTarget(target.to_owned())),
            Err(router::NotOne::Pool) => Err(LinkError::Pool(target.to_owned())),
        }
    }
}

impl links::Host for HostState {
    fn link(&mut self, target: String) -> Result<(), LinkError> {
        let partner = self.partner("link", &target)?;
        if partner.id() == self.relations.me.id() {
            return Ok(());
        }
        // Known before the link is made: an exit from it (even at once, if it is gone)
        // names its address.
        self.relations.unlinked.remove(&partner.id());
        self.relations.links.insert(partner.id(), target.into());
        self.relations.me.link(&partner);
        Ok(())
    }

    fn unlink(&mut self, target: String) -> bool {
        let Ok(Some(actor)) = self.router.single(&target) else { return false };
        let partner = actor.handle();
        if self.relations.links.remove(&partner.id()).is_none() {
            return false;
        }
        self.relations.me.unlink(&partner);
        // Bounded: past it, a late exit signal of an unlinked partner is taken as a link's.
        if self.relations.unlinked.len() < 4 * MAX_RELATIONS {
            self.relations.unlinked.insert(partner.id());
        }
        true
    }

    fn monitor(&mut self, target: String) -> Result<u64, LinkError> {
        let partner = self.partner("monitor", &target)?;
        let monitor = self.relations.me.monitor(&partner);
        let id = monitor.as_u64();
        self.relations.monitors.insert(id, (monitor, target.into()));
        Ok(id)
    }

    fn demonitor(&mut self, id: u64) -> bool {
        match self.relations.monitors.remove(&id) {
            // Flushed: no notice for it comes after this returns, even one already queued.
            Some((monitor, _)) => self.relations.me.demonitor_flush(monitor),
            None => false,
        }
    }

    fn trap_exits(&mut self, trap: bool) {
        self.relations.traps_exits = trap;
    }
}

impl logging::Host for HostState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        let component = &*self.address;
        let len = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if !self.output.admit(component, len) {
            return;
        }
        let level_name = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.output.keep(level_name, &message);
        if let Some(log) = self.span_log.as_mut() {
            let event = crate::spans::SpanEvent {
                time: std::time::SystemTime::now(),
                level: level_name,
                message: message.clone(),
                fields: fields.clone(),
            };
            log.line(&self.address, event);
        }
        // Guest text: escaped, so that it cannot end the log line and forge another (the
        // fields are shown with `Debug`, which escapes them).
        let message = airssys_osl::Escaped(&message);
        match level {
            Level::Trace => tracing::trace!(component, ?fields, "{message}"),
            Level::Debug => tracing::debug!(component, ?fields, "{message}"),
            Level::Info => tracing::info!(component, ?fields, "{message}"),
            Level::Warn => tracing::warn!(component, ?fields, "{message}"),
            Level::Error => tracing::error!(component, ?fields, "{message}"),
        }
    }
}

impl process::Host for HostState {
    async fn run(
        &mut self,
        command: String,
        args: Vec<String>,
        timeout_ms: u32,
    ) -> Result<process::Output, process::ProcessError> {
        use process::ProcessError;
        let program = match self.caps.may_run(&command, &args) {
            Ok((program, name)) => (program.to_owned(), name.to_owned()),
            Err(refusal) => {
                let line = crate::process::command_line(&command, &args);
                self.refused("run", &line, &refusal);
                return Err(match refusal {
                    Refusal::NotPermitted => ProcessError::NotPermitted,
                    Refusal::RateLimited => ProcessError::RateLimited,
                });
            }
        };
        let Some(commands) = &self.caps.commands else { return Err(ProcessError::NotPermitted) };
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let principal = airssys_osl::Principal::new(Arc::clone(&self.address));
        // The wait for the command is not this guest's CPU time (`cpu_budget.rs`).
        let result = commands.run(&principal, (&program.0, &program.1), args, timeout).await;
        match result {
            Ok(run) => Ok(process::Output {
                exit_code: run.exit.code,
                signal: run.exit.signal,
                timed_out: run.exit.timed_out,
                stdout: run.exit.stdout,
                stderr: run.exit.stderr,
                truncated: run.truncated,
            }),
            Err(error) => {
                let (command, error) = (airssys_osl::Escaped(&command), error.to_string());
                let error = airssys_osl::Escaped(&error);
                tracing::warn!(component = %self.address, %command, %error, "command failed");
                Err(ProcessError::Failed(error.to_string()))
            }
        }
    }
}

impl From<crate::storage::StorageError> for storage::StorageError {
    fn from(e: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError as E;
        match e {
            E::InvalidKey(text) => storage::StorageError::InvalidKey(text),
            E::ValueTooLarge(n) => storage::StorageError::ValueTooLarge(n),
            E::QuotaExceeded(text) => storage::StorageError::QuotaExceeded(text),
            E::NotACounter(text) => storage::StorageError::NotACounter(text),
            other => storage::StorageError::Unavailable(other.to_string()),
        }
    }
}

impl HostState {
    /// The component's storage, or `not-permitted` (audited) without a grant.
    fn store(
        &self,
        operation: &'static str,
    ) -> Result<crate::storage::Grant, storage::StorageError> {
        match &self.caps.storage {
            Some(grant) => Ok(grant.clone()),
            None => {
                self.audit_denial(
                    operation,
                    airssys_osl::Action::Storage,
                    "storage",
                    "not granted",
                );
                Err(storage::StorageError::NotPermitted)
            }
        }
    }

    /// Wait for storage work, which is not this guest's CPU time; a quota refusal is audited.
    async fn stored<T>(
        &mut self,
        work: impl Future<Output = Result<T, crate::storage::StorageError>>,
    ) -> Result<T, storage::StorageError> {
        let result = work.await;
        if let Err(crate::storage::StorageError::QuotaExceeded(why)) = &result {
            self.audit_denial("storage", airssys_osl::Action::Limit, "storage quota", why);
        }
        result.map_err(Into::into)
    }

    /// Apply writes to the component's store.
    async fn store_write(
        &mut self,
        operation: &'static str,
        writes: Vec<crate::storage::Write>,
    ) -> Result<Vec<crate::storage::Written>, storage::StorageError> {
        let grant = self.store(operation)?;
        // A write costs the host an fsync: it counts against the message rate.
        if let Err(refusal) = self.caps.may_write_storage() {
            self.refused(operation, "storage", &refusal);
            return Err(storage::StorageError::RateLimited);
        }
        self.stored(grant.storage.write(&grant.scope, grant.quota, writes)).await
    }
}

impl storage::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, storage::StorageError> {
        let grant = self.store("get")?;
        self.stored(grant.storage.get(&grant.scope, &key)).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), storage::StorageError> {
        self.store_write("set", vec![crate::storage::Write::Set(key, value)]).await?;
        Ok(())
    }

    async fn delete(&mut self, key: String) -> Result<bool, storage::StorageError> {
        let done = self.store_write("delete", vec![crate::storage::Write::Delete(key)]).await?;
        Ok(matches!(done.first(), Some(crate::storage::Written::Deleted(true))))
    }

    async fn exists(&mut self, key: String) -> Result<bool, storage::StorageError> {
        let grant = self.store("exists")?;
        Ok(self.stored(grant.storage.get(&grant.scope, &key)).await?.is_some())
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<storage::KeyPage, storage::StorageError> {
        let grant = self.store("list-keys")?;
        let limit = (limit as usize).clamp(1, crate::storage::MAX_PAGE);
        let page = grant.storage.keys_page(&grant.scope, &prefix, cursor.as_deref(), limit);
        let keys = self.stored(page).await?;
        let cursor = if keys.len() == limit { keys.last().cloned() } else { None };
        Ok(storage::KeyPage { keys, cursor })
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, storage::StorageError> {
        let write = crate::storage::Write::Increment(key, delta);
        match self.store_write("increment", vec![write]).await?.first() {
            Some(crate::storage::Written::Counter(n)) => Ok(*n),
            _ => Err(storage::StorageError::Unavailable("no counter value came back".into())),
        }
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, storage::StorageError> {
        let write = crate::storage::Write::CompareAndSwap { key, expected, new };
        let done = self.store_write("compare-and-swap", vec![write]).await?;
        Ok(matches!(done.first(), Some(crate::storage::Written::Swapped(true))))
    }

    async fn batch(
        &mut self,
        writes: Vec<storage::BatchWrite>,
    ) -> Result<(), storage::StorageError> {
        let writes = writes
            .into_iter()
            .map(|w| match w {
                storage::BatchWrite::Set((key, value)) => crate::storage::Write::Set(key, value),
                storage::BatchWrite::Delete(key) => crate::storage::Write::Delete(key),
            })
            .collect();
        self.store_write("batch", writes).await?;
        Ok(())
    }

    async fn usage(&mut self) -> Result<storage::StorageUsage, storage::StorageError> {
        let grant = self.store("usage")?;
        let usage = self.stored(grant.storage.usage(&grant.scope)).await?;
        Ok(storage::StorageUsage {
            bytes: usage.bytes,
            keys: usage.keys,
            quota_bytes: grant.quota.bytes,
            quota_keys: grant.quota.keys,
        })
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }
}
