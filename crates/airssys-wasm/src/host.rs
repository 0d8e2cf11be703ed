//! The embedding API: build a host from component specs, start it, talk to it from outside,
//! and shut it down.

mod builder;
mod code;
mod from_manifest;
mod http;
mod observe;
mod prepare;
mod spec;
mod upgrade;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airssys_rt::{Restart, ShutdownReport, SupervisorRef, System};

pub use builder::{HostBuilder, Supervision, TreeChild};
use builder::{start_error, with_intensity};
pub(crate) use code::ContractLinker;
use code::{Codes, LinkerHook};
pub use http::{DEFAULT_HTTP_LISTEN, HttpRoute};
pub use observe::ComponentDescription;
use prepare::Prepared;
pub use spec::{ComponentSpec, Source};
pub use upgrade::{DEFAULT_UPGRADE_GRACE, Upgrade, Upgraded};

use crate::actor::{DeadLetter, DeadLetters};
use crate::bindings::{Payload, RequestError, SendError, TopicError};
use crate::engine::EngineConfig;
use crate::error::HostError;
use crate::router::{self, Router};
use crate::service::ServiceSpec;
use crate::trace::TraceContext;

pub use crate::address::HOST_ADDRESS;

/// The pool size from which [`Host::spawn`] checks the memory mappings its members need.
const MAPPINGS_CHECKED_FROM: u32 = 64;

/// Everything of a host but its supervisor.
struct HostParts {
    settings: EngineConfig,
    system: System,
    router: Router,
    dead_letters: DeadLetters,
    plain: ContractLinker,
    /// The fuel-metering engine, made when the first component asks for fuel.
    fuel: Mutex<Option<Arc<ContractLinker>>>,
    codes: Mutex<Codes>,
    trust: crate::trust::TrustPolicy,
    storage: Option<crate::storage::Storage>,
    /// The data directory, canonical: no component may be granted it through WASI.
    data_dir: Option<PathBuf>,
    /// What no component may be granted (`protected.rs`).
    protected: Vec<crate::protected::Protected>,
    /// Every live component's writable directories and commands, checked together.
    app_grants: Mutex<crate::app_grants::AppGrants>,
    /// What the embedder adds to every linker.
    linker_hooks: Vec<LinkerHook>,
    /// The host opened its storage itself (from its data directory).
    owns_storage: bool,
    /// Held by the upgrade under way: one at a time.
    upgrading: tokio::sync::Mutex<()>,
    /// Round trips of the calls made from the host itself.
    host_calls: crate::vitals::Histogram,
    /// Where spans go, if anywhere.
    spans: Option<Arc<dyn crate::spans::SpanSink>>,
}

impl HostParts {
    fn new(
        settings: EngineConfig,
        audit: crate::audit::Audit,
        trust: crate::trust::TrustPolicy,
        transport: Option<Arc<dyn crate::transport::Transport>>,
        linker_hooks: Vec<LinkerHook>,
    ) -> Result<Self, HostError> {
        if matches!(trust, crate::trust::TrustPolicy::Development) {
            tracing::warn!(
                "DEVELOPMENT MODE: components are loaded without checking their signatures; \
                 give the host trusted keys to run untrusted components"
            );
        }
        let plain = ContractLinker::new(&settings, false, &linker_hooks)?;
        let system = System::new();
        Ok(HostParts {
            router: Router::new(system.clone(), audit, transport, mailbox_of),
            system,
            dead_letters: DeadLetters::default(),
            plain,
            fuel: Mutex::new(None),
            codes: Mutex::new(Codes::default()),
            settings,
            trust,
            storage: None,
            data_dir: None,
            protected: Vec::new(),
            app_grants: Mutex::default(),
            linker_hooks,
            owns_storage: false,
            upgrading: tokio::sync::Mutex::new(()),
            host_calls: crate::vitals::Histogram::default(),
            spans: None,
        })
    }
}

/// The state of a component (or pool member).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ComponentState {
    /// An instance is live and handling its mailbox.
    Running,
    /// It crashed and its supervisor has not restarted it yet; messages queue meanwhile.
    Restarting,
    /// It ended and will not be restarted (a transient component that stopped normally, a
    /// temporary one that ended); messages to it are refused with `target-stopped` until it
    /// is removed with [`Host::stop`].
    Stopped,
    /// It crashed more often than its supervisor's restart intensity allows, and was given
    /// up on alone (its one-for-one siblings keep running); messages to it are refused with
    /// `target-stopped` until [`Host::restart`] starts it again or [`Host::stop`] removes it.
    Failed,
}

/// One live component (or pool member), as [`Host::components`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComponentInfo {
    /// Its address.
    pub address: Arc<str>,
    /// Its state.
    pub state: ComponentState,
    /// Messages waiting in its mailbox.
    pub mailbox_len: usize,
    /// Messages and request callbacks its guest handled, across restarts and upgrades.
    pub handled: u64,
    /// How many times it was restarted.
    pub restarts: u32,
    /// True when its code was loaded from the artifact cache instead of compiled.
    pub from_cache: bool,
    /// Bytes of linear memory its live instance holds (0 when none is live).
    pub memory_bytes: usize,
    /// Lines of its output (stdout, stderr, logging) dropped over its output budget, in all.
    pub output_dropped: u64,
    /// The version of the code it runs: the first 12 hex digits of the code's SHA-256,
    /// after the component's own `version` custom section when it has one.
    pub version: Arc<str>,
}

/// Undoes a spawn that did not finish: its addresses are released and the members already
/// started are stopped.
struct Rollback<'a> {
    host: &'a Host,
    prepared: Option<Prepared>,
    started: Vec<Arc<str>>,
    /// The name was claimed through the transport (given up again on a rollback).
    claimed: bool,
}

impl Rollback<'_> {
    /// Stop and remove the members started so far, now (so that their names are free when
    /// the spawn returns its error).
    async fn stop_started(&mut self) {
        for id in std::mem::take(&mut self.started) {
            let _ = self.host.supervisor.terminate_child(&id).await;
            let _ = self.host.supervisor.delete_child(&id).await;
        }
    }
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        let Some(prepared) = self.prepared.take() else { return };
        if self.claimed
            && let Some(transport) = self.host.parts.router.transport()
        {
            transport.release(&prepared.name);
        }
        let started = std::mem::take(&mut self.started);
        if !started.is_empty() {
            let supervisor = self.host.supervisor.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    for id in started {
                        let _ = supervisor.terminate_child(&id).await;
                        let _ = supervisor.delete_child(&id).await;
                    }
                });
            }
        }
        self.host.parts.unprepare(prepared);
    }
}

/// The mailbox of a registered actor that takes envelopes: a component's or a service's.
fn mailbox_of(handle: &airssys_rt::ActorHandle) -> Option<crate::envelope::Target> {
    use crate::envelope::Target;
    match handle.downcast::<crate::actor::ComponentActor>() {
        Some(component) => Some(Arc::new(component) as Target),
        None => handle
            .downcast::<crate::service::ServiceActor>()
            .map(|service| Arc::new(service) as Target),
    }
}

/// A running set of components: a handle to it.
///
/// Cloning a `Host` is cheap and gives another handle to the same host (as an `Arc` would);
/// every method takes `&self` and may be called from several tasks at once.
/// [`shutdown`](Host::shutdown) stops the host for every handle.
///
/// ```
/// use std::time::Duration;
/// use airssys_wasm::{ComponentSpec, Host, Payload, Source, codec};
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let echo_wasm = test_programs::ECHO;
/// // `echo_wasm`: the path of a component that answers every message with its payload.
/// let host = Host::builder()
///     .component(ComponentSpec::new("echo", Source::File(echo_wasm.into())))
///     .start()
///     .await?;
/// let from_a_task = host.clone();
/// let answer = tokio::spawn(async move {
///     from_a_task.call("echo", Payload::new(codec::RAW, "hi"), Duration::from_secs(5)).await
/// })
/// .await??;
/// assert_eq!(answer.map(|p| p.bytes), Some(b"hi".to_vec()));
/// host.shutdown(Duration::from_secs(5)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Host {
    parts: Arc<HostParts>,
    /// The intensity each child added to the root gets as its own (a one-for-one root).
    root_child_intensity: Option<(u32, Duration)>,
    host_address: Arc<str>,
    supervisor: SupervisorRef,
    components: Arc<Mutex<HashMap<Arc<str>, Prepared>>>,
    /// The addresses of its native services.
    services: Arc<Mutex<Vec<Arc<str>>>>,
    /// Its HTTP listeners (`[[http]]` routes).
    http: Arc<Mutex<http::Listeners>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("engine", &self.parts.plain.engine).finish_non_exhaustive()
    }
}

impl Host {
    /// Start building a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Add and start a component (or pool) at run time, under the host's supervisor. Code
    /// already compiled for this host (same bytes allocation, or same unchanged file) is
    /// reused, so spawning many components of one code compiles it once.
    pub async fn spawn(&self, spec: ComponentSpec) -> Result<(), HostError> {
        // A pool must fit the kernel's limit on memory mappings with what runs already
        // (counting them reads the process's map list: done for pools, whose members would
        // otherwise fail one by one; a single component that does not fit gets the same
        // named limit from its instantiation).
        if spec.instances >= MAPPINGS_CHECKED_FROM {
            let n = u64::from(spec.instances);
            let pooled = self.parts.plain.engine.is_pooling() && spec.fuel.is_none();
            let (p, d) = if pooled { (n, 0) } else { (0, n) };
            if let Some(reason) = crate::engine::mappings_refuse_off_executor(p, d).await {
                return Err(HostError::MappingLimit(format!("{:?}: its {reason}", spec.name)));
            }
        }
        let (children, prepared) = self.parts.prepare_blocking(&spec).await?;
        // Undoes the spawn if it fails, or if this future is dropped half-way.
        let mut rollback =
            Rollback { host: self, prepared: Some(prepared), started: Vec::new(), claimed: false };
        // Joined to other hosts: the name is taken in the cluster before anything starts.
        if let Some(transport) = self.parts.router.transport() {
            transport
                .claim(&spec.name)
                .await
                .map_err(|source| HostError::Claim { name: spec.name.to_string(), source })?;
            rollback.claimed = true;
        }
        for child in children {
            let child = with_intensity(child, self.root_child_intensity);
            // Counted as started before the request goes out: if this future is dropped
            // while the supervisor starts it, the rollback stops it.
            rollback.started.push(Arc::from(child.id()));
            if let Err(e) = self.supervisor.start_child(child).await {
                rollback.started.pop();
                rollback.stop_started().await;
                return Err(start_error(e));
            }
        }
        // The supervisor started the actors and moved on; their first `init` runs in each
        // actor. A failure removes what was started and names the member.
        if let Some(prepared) = &rollback.prepared
            && let Err(e) = prepared.initialized().await
        {
            rollback.stop_started().await;
            return Err(e);
        }
        if let Some(prepared) = rollback.prepared.take() {
            self.lock_components().insert(Arc::clone(&prepared.name), prepared);
        }
        Ok(())
    }

    /// Add and start a native service at run time (see [`ServiceSpec`]), under the host's
    /// supervisor. Its address must not be taken by a component or another service.
    pub async fn add_service(&self, spec: ServiceSpec) -> Result<(), HostError> {
        let child = with_intensity(self.parts.prepare_service(&spec)?, self.root_child_intensity);
        if let Err(e) = self.supervisor.start_child(child).await {
            self.parts.router.remove(&spec.name, &[]);
            return Err(start_error(e));
        }
        self.lock_services().push(Arc::clone(&spec.name));
        Ok(())
    }

    /// The addresses of the host's native services, in the order they were added.
    pub fn services(&self) -> Vec<Arc<str>> {
        self.lock_services().clone()
    }

    fn lock_services(&self) -> std::sync::MutexGuard<'_, Vec<Arc<str>>> {
        crate::sync::lock(&self.services)
    }

    /// Stop a component (or every member of a pool, or a native service) gracefully, with
    /// its `shutdown` call, and remove it; its name is free again afterwards. Messages still
    /// queued for it are dropped (a caller waiting on one learns that the receiver stopped).
    pub async fn stop(&self, name: &str) -> Result<(), HostError> {
        let service = {
            let mut services = self.lock_services();
            let found = services.iter().position(|s| &**s == name);
            found.map(|i| services.remove(i))
        };
        if let Some(service) = service {
            let _ = self.supervisor.terminate_child(&service).await;
            let _ = self.supervisor.delete_child(&service).await;
            self.parts.router.remove(&service, &[]);
            return Ok(());
        }
        let prepared = {
            let mut components = self.lock_components();
            match components.get(name) {
                None => return Err(HostError::NotFound(name.to_owned())),
                Some(p) if p.nested => {
                    return Err(HostError::NotSupported(
                        "stopping a component that runs under a nested supervisor".into(),
                    ));
                }
                Some(_) => components.remove(name).expect("present"),
            }
        };
        for address in prepared.addresses() {
            let _ = self.supervisor.terminate_child(&address).await;
            let _ = self.supervisor.delete_child(&address).await;
        }
        if let Some(transport) = self.parts.router.transport() {
            transport.release(&prepared.name);
        }
        self.parts.unprepare(prepared);
        Ok(())
    }

    /// Stop a component (or pool) gracefully and start it again from the same spec: fresh
    /// instances, same address; messages queued for the old ones are dropped. Its code is
    /// read again (a changed file is picked up, and checked against the trust policy).
    pub async fn restart(&self, name: &str) -> Result<(), HostError> {
        let spec = self.lock_components().get(name).map(|p| p.spec.clone());
        let spec = spec.ok_or_else(|| HostError::NotFound(name.to_owned()))?;
        // Load (and check) the code first: a file that no longer loads, or is no longer
        // trusted, leaves the running component as it is. Holding it across the stop keeps
        // it from being pruned, so that unchanged code is not compiled a second time.
        let (_code, _engine) = self.parts.code_blocking(&spec).await?;
        self.stop(name).await?;
        self.spawn(spec).await
    }

    fn lock_components(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Prepared>> {
        crate::sync::lock(&self.components)
    }

    /// Every component and pool member the host knows, in start order, with its state.
    pub async fn components(&self) -> Vec<ComponentInfo> {
        let children = self.supervisor.which_children().await.unwrap_or_default();
        let nested: Vec<Arc<str>> = self
            .lock_components()
            .values()
            .filter(|p| p.nested)
            .flat_map(Prepared::addresses)
            .collect();
        let memory = |p: &Prepared, a: &Arc<str>| {
            p.memory.get(a).map_or(0, |m| m.load(std::sync::atomic::Ordering::Relaxed))
        };
        let dropped = |p: &Prepared, a: &Arc<str>| p.output.get(a).map_or(0, |o| o.dropped());
        let version = |p: &Prepared, a: &Arc<str>| {
            p.code_slots
                .get(a)
                .map_or_else(|| Arc::clone(&p.code.versioned.version), |s| s.version())
        };
        // What the host knows of each address, as if it were stopped; the supervisors' view
        // makes it live below. Handled: messages given to the guest's handlers (not the
        // host's own envelopes: a start, an upgrade order).
        let mut known: HashMap<Arc<str>, (ComponentInfo, usize)> = self
            .lock_components()
            .values()
            .flat_map(|p| {
                p.addresses().into_iter().map(move |a| {
                    let info = ComponentInfo {
                        address: Arc::clone(&a),
                        state: ComponentState::Stopped,
                        mailbox_len: 0,
                        handled: p.vitals.get(&a).map_or(0, |v| v.handled()),
                        restarts: 0,
                        from_cache: p.code.from_cache,
                        memory_bytes: 0,
                        output_dropped: dropped(p, &a),
                        version: version(p, &a),
                    };
                    (a.clone(), (info, memory(p, &a)))
                })
            })
            .collect();
        let mut listed = Vec::with_capacity(known.len());
        for child in children {
            // Taken out: what is left at the end was listed by nobody.
            let Some((mut info, memory_bytes)) = known.remove(&child.id) else {
                continue;
            };
            let metrics = child.handle.as_ref().map(|h| h.metrics()).unwrap_or_default();
            info.state = match (child.running, child.restart) {
                (true, _) => ComponentState::Running,
                (false, _) if child.gave_up => ComponentState::Failed,
                (false, Restart::Permanent) => ComponentState::Restarting,
                (false, _) => ComponentState::Stopped,
            };
            info.mailbox_len = metrics.mailbox_len;
            info.restarts = metrics.restarts;
            if info.state == ComponentState::Running {
                info.memory_bytes = memory_bytes;
            }
            listed.push(info);
        }
        // Components under nested supervisors: from their actors' own state.
        for address in nested {
            let Some((mut info, memory_bytes)) = known.remove(&address) else {
                continue;
            };
            let handle = self.parts.system.whereis(&address);
            let metrics = handle.as_ref().map(|h| h.metrics()).unwrap_or_default();
            if metrics.alive {
                info.state = ComponentState::Running;
                info.memory_bytes = memory_bytes;
            }
            info.mailbox_len = metrics.mailbox_len;
            info.restarts = metrics.restarts;
            listed.push(info);
        }
        // A temporary component that ended is no longer the supervisor's child; its address
        // stays reserved until `stop`.
        let mut gone: Vec<ComponentInfo> = known.into_values().map(|(info, _)| info).collect();
        gone.sort_by(|a, b| a.address.cmp(&b.address));
        listed.extend(gone);
        listed
    }

    /// Send a message to a component, from the address `host`.
    pub fn send(&self, target: &str, payload: Payload) -> Result<(), SendError> {
        let context = TraceContext::new_root();
        let start = self.span_start();
        let sent = self.parts.router.send(self.host_address(), target, payload, Some(context));
        let error = sent.as_ref().err().map(ToString::to_string);
        self.host_span("send", Some(context), target, start, error);
        sent
    }

    /// When a span of the host's own starts, if spans are recorded.
    fn span_start(&self) -> Option<std::time::SystemTime> {
        self.parts.spans.as_ref().map(|_| std::time::SystemTime::now())
    }

    /// Record a span of the host's own (a call, send, request or publish it made), if spans
    /// are recorded.
    fn host_span(
        &self,
        name: &'static str,
        context: Option<TraceContext>,
        target: &str,
        start: Option<std::time::SystemTime>,
        error: Option<String>,
    ) {
        let (Some(sink), Some(context), Some(start)) = (&self.parts.spans, context, start) else {
            return;
        };
        sink.record(crate::spans::SpanRecord {
            name: name.into(),
            context,
            parent: None,
            component: Arc::clone(self.host_address()),
            peer: Arc::from(target),
            start,
            end: std::time::SystemTime::now(),
            error,
            events: Vec::new(),
        });
    }

    fn host_address(&self) -> &Arc<str> {
        &self.host_address
    }

    /// Take in a frame from another host (an encoded [`wire::Envelope`](crate::wire::Envelope),
    /// carried by a [`Transport`](crate::transport::Transport)) and deliver it here as a local
    /// message, with the sender its host stamped: the receiver's accept rules, codecs and
    /// limits apply. Malformed bytes are a typed error; nothing is delivered.
    /// A refused frame is recorded in the audit log (principal `transport`).
    pub fn receive(&self, frame: &[u8]) -> Result<(), crate::transport::ReceiveError> {
        self.receive_from("transport", frame, |_| true)
    }

    /// [`receive`](Self::receive) a frame the transport took from `origin` (a host, as the
    /// transport names it), which `vouch` says may send as the frame's sender address (the
    /// address is its host's, as far as the transport knows); one it does not vouch for is
    /// refused with [`ReceiveError::Forged`](crate::transport::ReceiveError::Forged). A
    /// refused frame is recorded in the audit log, `origin` as the principal.
    pub fn receive_from(
        &self,
        origin: &str,
        frame: &[u8],
        vouch: impl FnOnce(&str) -> bool,
    ) -> Result<(), crate::transport::ReceiveError> {
        use crate::transport::ReceiveError;
        let received = crate::wire::decode(frame, crate::transport::MAX_FRAME)
            .map_err(ReceiveError::from)
            .and_then(|envelope| {
                if vouch(envelope.sender()) {
                    Ok(envelope)
                } else {
                    let sender = envelope.sender().to_owned();
                    Err(ReceiveError::Forged { sender, origin: origin.to_owned() })
                }
            });
        let (target, outcome) = match received {
            Ok(envelope) => {
                let target = envelope.target().unwrap_or_default().to_owned();
                (target, self.parts.router.receive(envelope))
            }
            Err(e) => (String::new(), Err(e)),
        };
        if let Err(e) = &outcome {
            let rule = format!("frame from another host refused: {e}");
            let action = airssys_osl::Action::MessageSend;
            self.parts.router.audit.denial(origin, "receive", action, &target, &rule);
        }
        outcome
    }

    /// The addresses its HTTP routes are served on, one per listener, in the order the
    /// routes were added (the port a route asked as 0 is the one picked).
    pub fn http_addresses(&self) -> Vec<std::net::SocketAddr> {
        crate::sync::lock(&self.http).addresses().to_vec()
    }

    /// Call a component from the address `host` and wait for its response.
    pub async fn call(
        &self,
        target: &str,
        payload: Payload,
        timeout: Duration,
    ) -> Result<Option<Payload>, RequestError> {
        let stamp = self.parts.router.host_stamp();
        let context = stamp.trace;
        let (started, start) = (crate::vitals::now(), self.span_start());
        let answer =
            self.parts.router.call(self.host_address(), target, payload, stamp, timeout).await;
        if !matches!(answer, Err(RequestError::Refused(_))) {
            self.parts.host_calls.record(crate::vitals::since(started));
        }
        let error = answer.as_ref().err().map(ToString::to_string);
        self.host_span("call", context, target, start, error);
        answer
    }

    /// Queue a request from the address `host` now, or refuse it now (unknown target, codec,
    /// size, full mailbox), and get a future of its response. The timeout runs from this
    /// call. Dropping the future abandons the response; the handler still runs.
    pub fn request(
        &self,
        target: &str,
        payload: Payload,
        timeout: Duration,
    ) -> Result<
        impl Future<Output = Result<Option<Payload>, RequestError>> + Send + 'static + use<>,
        SendError,
    > {
        let payload = crate::envelope::SharedPayload::from(payload);
        let router::RequestRoute::Here(admitted) =
            self.parts.router.route_request(self.host_address(), target, &payload)?
        else {
            // The host's own requests stay on this host (`route_request` refuses the rest).
            return Err(SendError::UnknownTarget(target.to_owned()));
        };
        let stamp = self.parts.router.host_stamp();
        let (context, start) = (stamp.trace, self.span_start());
        let pending = router::start_ask(admitted, self.host_address(), payload, stamp, timeout)?;
        self.host_span("request", context, target, start, None);
        Ok(router::finish_ask(pending))
    }

    /// Fail at once the requests and calls this host's components are waiting on from
    /// components of these names (or their pool members) on other hosts, with
    /// `receiver-crashed` and `why`: for a transport that learns their host is gone, so
    /// that nobody waits for their timeouts. Returns how many were failed.
    pub fn fail_requests_to(&self, names: &[&str], why: &str) -> usize {
        self.parts.router.fail_remote_requests(names, why)
    }

    /// Publish from the address `host` to every component subscribed to a matching pattern;
    /// returns how many subscribers it was queued for.
    pub fn publish(&self, topic: &str, payload: Payload) -> Result<u32, TopicError> {
        let (context, start) = (TraceContext::new_root(), self.span_start());
        let published = self
            .parts
            .router
            .publish(self.host_address(), topic, payload, Some(context))
            .map_err(TopicError::Invalid);
        let error = published.as_ref().err().map(ToString::to_string);
        self.host_span("publish", Some(context), topic, start, error);
        published
    }

    /// Messages that crashed their handler, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.parts.dead_letters.snapshot()
    }

    /// The host's component storage, if it has one: read and edit a component's store
    /// (by component name), export and import it as JSON lines.
    pub fn storage(&self) -> Option<&crate::storage::Storage> {
        self.parts.storage.as_ref()
    }

    /// How many times the named component (or pool member) was restarted, if it exists.
    pub fn restarts(&self, name: &str) -> Option<u32> {
        self.parts.system.whereis(name).map(|h| h.metrics().restarts)
    }

    /// True when the engine uses the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.parts.plain.engine.is_pooling()
    }

    /// Why the host allocates instances on demand rather than in its instance pool, when it
    /// does: the pool could not be reserved (and why, as the start's warning said), or none
    /// is configured. Components with fuel are always allocated on demand.
    pub fn on_demand_reason(&self) -> Option<&str> {
        self.parts.plain.engine.on_demand_reason()
    }

    /// Resolves when the root supervisor has ended: when its restart intensity was exceeded
    /// (a one-for-all or rest-for-one root, whose children depend on each other), or when
    /// something stopped it. Every component is down then; an embedder (and `airssys up`)
    /// should report it and exit.
    pub async fn wait_for_root_exit(&self) -> airssys_rt::ExitReason {
        self.supervisor.wait_for_exit().await
    }

    /// Stop every component gracefully (each gets its `shutdown` call) in reverse start
    /// order, killing what is still running after `deadline`. It stops the host for every
    /// handle: afterwards messages to its components are refused (`target-stopped`) and
    /// spawns fail. A second call finds nothing left to stop.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        // No new HTTP request comes in while the components stop.
        crate::sync::lock(&self.http).stop();
        let report = self.parts.system.shutdown(deadline).await;
        // Its names are free for other hosts of its cluster.
        if let Some(transport) = self.parts.router.transport() {
            let names: Vec<Arc<str>> = self.lock_components().keys().cloned().collect();
            for name in names {
                transport.release(&name);
            }
        }
        // The data directory is free for another host once this returns (a store the
        // embedder gave the host is the embedder's to close).
        if self.parts.owns_storage
            && let Some(storage) = &self.parts.storage
        {
            storage.close();
        }
        report
    }
}
