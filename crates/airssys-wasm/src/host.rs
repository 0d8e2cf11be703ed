//! The embedding API: build a host from component specs, start it, talk to it from outside,
//! and shut it down.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airssys_rt::{
    ChildSpec, Restart, ShutdownReport, SpawnOptions, Strategy, SupervisorRef, SupervisorSpec,
    System,
};
use wasmtime::component::Linker;

use crate::actor::{ComponentActor, DeadLetter, DeadLetters, Shared};
use crate::bindings::{self, Payload, RequestError, SendError, TopicError};
use crate::cache;
use crate::engine::{Engine, EngineConfig};
use crate::error::HostError;
use crate::router::{self, Policy, Router};
use crate::state::HostState;

/// The address of messages sent from outside any component.
pub const HOST_ADDRESS: &str = "host";

/// Where a component's code comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A `.wasm` component file.
    File(PathBuf),
    /// Component bytes.
    Bytes(Arc<[u8]>),
}

/// One component of an app: its code, name, configuration and limits.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    name: Arc<str>,
    source: Source,
    config: Vec<(String, String)>,
    accepts: Vec<u64>,
    restart: Restart,
    mailbox: usize,
    max_payload: usize,
    cpu_per_message: Duration,
    max_memory: Option<usize>,
    fuel: Option<u64>,
    instances: u32,
}

impl ComponentSpec {
    /// A component named `name` (its address) with code from `source`. Defaults: accepts
    /// every codec, permanent restart, a mailbox of 1024 messages, payloads up to 1 MiB,
    /// 1 s of CPU per message.
    pub fn new(name: impl Into<Arc<str>>, source: Source) -> Self {
        ComponentSpec {
            name: name.into(),
            source,
            config: Vec::new(),
            accepts: Vec::new(),
            restart: Restart::Permanent,
            mailbox: 1024,
            max_payload: 1 << 20,
            cpu_per_message: Duration::from_secs(1),
            max_memory: None,
            fuel: None,
            instances: 1,
        }
    }

    /// Add a configuration value (passed to `init` and readable with `config.get`).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    /// Accept only these multicodec codes (messages in others are refused before delivery).
    pub fn accepts(mut self, codecs: &[u64]) -> Self {
        self.accepts = codecs.to_vec();
        self
    }

    /// The restart type under the host's supervisor.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Mailbox capacity (messages).
    pub fn mailbox(mut self, capacity: usize) -> Self {
        self.mailbox = capacity;
        self
    }

    /// Largest accepted payload, in bytes.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// CPU time one message handler may use before it is trapped.
    pub fn cpu_per_message(mut self, budget: Duration) -> Self {
        self.cpu_per_message = budget;
        self
    }

    /// The largest linear memory of this component, in bytes (at most the engine's limit,
    /// which is the default). Growing past it traps the component.
    pub fn max_memory(mut self, bytes: usize) -> Self {
        self.max_memory = Some(bytes);
        self
    }

    /// Meter this component with wasmtime fuel: each message handler (and `init`) gets
    /// `units` of fuel (about one per wasm instruction) and traps when it runs out. Opt-in:
    /// metered components are compiled for a second, fuel-counting engine (allocating on
    /// demand), so components without fuel pay nothing for it.
    pub fn fuel_per_message(mut self, units: u64) -> Self {
        self.fuel = Some(units);
        self
    }

    /// Run `n` instances as a pool: members `name/0` .. `name/{n-1}`, each a separate
    /// supervised actor with its own instance and mailbox. A message to `name` goes to the
    /// members round-robin; a member can be addressed directly, and stamps its own address
    /// on what it sends. `n` of 0 is taken as 1.
    pub fn instances(mut self, n: u32) -> Self {
        self.instances = n.max(1);
        self
    }
}

/// Builds a [`Host`].
#[derive(Debug, Default)]
pub struct HostBuilder {
    engine: EngineConfig,
    components: Vec<ComponentSpec>,
    intensity: Option<(u32, Duration)>,
}

impl HostBuilder {
    /// Engine settings (pooling, memory limit, artifact cache).
    pub fn engine(mut self, config: EngineConfig) -> Self {
        self.engine = config;
        self
    }

    /// Add a component. Components start in the order added.
    pub fn component(mut self, spec: ComponentSpec) -> Self {
        self.components.push(spec);
        self
    }

    /// Restart intensity of the host's supervisor (default: 10 restarts in 10 s).
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = Some((max_restarts, period));
        self
    }

    /// Compile every component, link it against the contract and start them all under one
    /// one-for-one supervisor. Must be called inside a tokio runtime.
    pub async fn start(self) -> Result<Host, HostError> {
        let core = Core::new(self.engine)?;
        let (max_restarts, period) = self.intensity.unwrap_or((10, Duration::from_secs(10)));
        let mut spec = SupervisorSpec::new(Strategy::OneForOne).intensity(max_restarts, period);
        let mut started = Vec::new();
        for c in &self.components {
            let (children, info) = core.prepare(c).inspect_err(|_| {
                for s in &started {
                    core.unprepare(s);
                }
            })?;
            started.push(info);
            for child in children {
                spec = spec.child(child);
            }
        }
        let supervisor = core.system.spawn_supervisor(spec).await.map_err(start_error)?;
        let mut components = HashMap::new();
        for info in started {
            components.insert(Arc::clone(&info.name), info);
        }
        Ok(Host {
            core,
            supervisor,
            components: Mutex::new(components),
            host_address: Arc::from(HOST_ADDRESS),
        })
    }
}

fn start_error(e: airssys_rt::SupervisorError) -> HostError {
    match e {
        airssys_rt::SupervisorError::StartFailed { id, reason } => {
            HostError::Start { name: id, reason: reason.to_string() }
        }
        other => HostError::Start { name: "<host>".into(), reason: other.to_string() },
    }
}

/// Compiled code, ready to instantiate.
#[derive(Clone)]
struct Code {
    pre: bindings::ComponentPre<HostState>,
    from_cache: bool,
    /// The source bytes, held while the code is remembered by their address.
    held: Option<Arc<[u8]>>,
}

/// What identifies a source without reading it again: the bytes' allocation (held, so the
/// address cannot be reused), or a file's path, size and modification time.
#[derive(PartialEq, Eq, Hash)]
enum SourceKey {
    Bytes(usize, usize),
    File(PathBuf, u64, Option<std::time::SystemTime>),
}

/// One engine and the linker of the contract for it.
struct Linked {
    engine: Engine,
    linker: Linker<HostState>,
}

impl Linked {
    fn new(settings: &EngineConfig, fuel: bool) -> Result<Self, HostError> {
        let engine = Engine::new(settings, fuel)?;
        let mut linker: Linker<HostState> = Linker::new(&engine.inner);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        bindings::Component::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::Engine(e.to_string()))?;
        Ok(Linked { engine, linker })
    }
}

/// What a component became once prepared: its addresses.
#[derive(Debug, Clone)]
struct Prepared {
    name: Arc<str>,
    members: Vec<Arc<str>>,
    from_cache: bool,
}

/// Everything of a host but its supervisor.
struct Core {
    settings: EngineConfig,
    system: System,
    router: Router,
    dead_letters: DeadLetters,
    plain: Linked,
    /// The fuel-metering engine, made when the first component asks for fuel.
    fuel: Mutex<Option<Arc<Linked>>>,
    /// Compiled code by source, so that many components of the same code compile once.
    codes: Mutex<HashMap<(SourceKey, bool), Code>>,
}

impl Core {
    fn new(settings: EngineConfig) -> Result<Self, HostError> {
        let plain = Linked::new(&settings, false)?;
        let system = System::new();
        Ok(Core {
            router: Router::new(system.clone()),
            system,
            dead_letters: DeadLetters::default(),
            plain,
            fuel: Mutex::new(None),
            codes: Mutex::new(HashMap::new()),
            settings,
        })
    }

    fn code(&self, spec: &ComponentSpec) -> Result<(Code, Engine), HostError> {
        let fuel = spec.fuel.is_some();
        let fuel_engine;
        let linked: &Linked = if fuel {
            let mut slot = self.fuel.lock().unwrap_or_else(|e| e.into_inner());
            fuel_engine = match &*slot {
                Some(linked) => Arc::clone(linked),
                None => {
                    let linked = Arc::new(Linked::new(&self.settings, true)?);
                    *slot = Some(Arc::clone(&linked));
                    linked
                }
            };
            &fuel_engine
        } else {
            &self.plain
        };
        let read_error = |path: &Path, source| HostError::Read {
            name: spec.name.to_string(),
            path: path.display().to_string(),
            source,
        };
        let key = match &spec.source {
            Source::Bytes(b) => SourceKey::Bytes(b.as_ptr() as usize, b.len()),
            Source::File(path) => {
                let meta = std::fs::metadata(path).map_err(|e| read_error(path, e))?;
                SourceKey::File(path.clone(), meta.len(), meta.modified().ok())
            }
        };
        let key = (key, fuel);
        if let Some(code) = self.codes.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok((code.clone(), linked.engine.clone()));
        }
        let bytes: Arc<[u8]> = match &spec.source {
            Source::Bytes(b) => Arc::clone(b),
            Source::File(path) => std::fs::read(path).map_err(|e| read_error(path, e))?.into(),
        };
        let load_error = |reason: String| HostError::Load { name: spec.name.to_string(), reason };
        let digest = cache::digest(&bytes);
        let (component, from_cache) =
            linked.engine.compile(&bytes, &digest).map_err(|e| load_error(format!("{e:#}")))?;
        let pre =
            linked.linker.instantiate_pre(&component).map_err(|e| load_error(format!("{e:#}")))?;
        let pre = bindings::ComponentPre::new(pre).map_err(|e| {
            load_error(format!("it does not export the airssys:component world: {e:#}"))
        })?;
        let held = matches!(spec.source, Source::Bytes(_)).then_some(bytes);
        let code = Code { pre, from_cache, held };
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        // Forget code whose bytes nobody else holds any more, and older versions of a file.
        codes.retain(|(k, _), c| match (k, &key.0) {
            (SourceKey::File(old, ..), SourceKey::File(new, ..)) => old != new,
            _ => c.held.as_ref().is_none_or(|b| Arc::strong_count(b) > 1),
        });
        codes.insert(key, code.clone());
        Ok((code, linked.engine.clone()))
    }

    /// Compile a component and reserve its addresses; returns the child specs to start.
    fn prepare(&self, spec: &ComponentSpec) -> Result<(Vec<ChildSpec>, Prepared), HostError> {
        validate_name(&spec.name)?;
        if self.router.contains(&spec.name) {
            return Err(HostError::DuplicateName(spec.name.to_string()));
        }
        let max_memory = self.settings.max_memory_bytes;
        if spec.max_memory.is_some_and(|m| m > max_memory) {
            return Err(HostError::Limit {
                name: spec.name.to_string(),
                reason: format!("its memory limit is above the engine's ({max_memory} bytes)"),
            });
        }
        let (code, engine) = self.code(spec)?;
        let members: Vec<Arc<str>> = match spec.instances {
            1 => Vec::new(),
            n => {
                (0..n as usize).map(|i| Arc::from(router::member_address(&spec.name, i))).collect()
            }
        };
        let addresses =
            if members.is_empty() { vec![Arc::clone(&spec.name)] } else { members.clone() };
        let config: Arc<[(String, String)]> = spec.config.clone().into();
        let children = addresses
            .into_iter()
            .map(|address| {
                let shared = Arc::new(Shared {
                    address: Arc::clone(&address),
                    engine: engine.clone(),
                    pre: code.pre.clone(),
                    config: Arc::clone(&config),
                    router: self.router.clone(),
                    dead_letters: self.dead_letters.clone(),
                    cpu_per_message: spec.cpu_per_message,
                    fuel_per_message: spec.fuel,
                    max_memory_bytes: spec.max_memory.unwrap_or(max_memory),
                    shutdown_deadline: Duration::from_secs(1),
                });
                let options = SpawnOptions::new()
                    .mailbox(airssys_rt::MailboxConfig::bounded(spec.mailbox))
                    .name(Arc::clone(&address));
                ChildSpec::actor_with(
                    address,
                    move || ComponentActor::new(Arc::clone(&shared)),
                    options,
                )
                .restart(spec.restart)
            })
            .collect();
        // Policies are known before anything starts, so components can message each other
        // from `init` on.
        let policy = Policy { accepts: spec.accepts.clone().into(), max_payload: spec.max_payload };
        self.router.insert(Arc::clone(&spec.name), &members, policy);
        Ok((
            children,
            Prepared { name: Arc::clone(&spec.name), members, from_cache: code.from_cache },
        ))
    }

    fn unprepare(&self, prepared: &Prepared) {
        self.router.remove(&prepared.name, &prepared.members);
    }
}

/// Names are addresses: 1 to 128 ASCII letters, digits, `-`, `_` or `.`; `host` is the
/// host's own address, and `/` separates a pool from its members.
fn validate_name(name: &str) -> Result<(), HostError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name != HOST_ADDRESS
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok { Ok(()) } else { Err(HostError::InvalidName(name.to_owned())) }
}

/// The state of a component (or pool member).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ComponentState {
    /// An instance is live and handling its mailbox.
    Running,
    /// It crashed and its supervisor has not restarted it yet; messages queue meanwhile.
    Restarting,
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
    /// Messages it has handled (across restarts).
    pub handled: u64,
    /// How many times it was restarted.
    pub restarts: u32,
    /// True when its code was loaded from the artifact cache instead of compiled.
    pub from_cache: bool,
}

/// A running set of components.
pub struct Host {
    core: Core,
    host_address: Arc<str>,
    supervisor: SupervisorRef,
    components: Mutex<HashMap<Arc<str>, Prepared>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("engine", &self.core.plain.engine).finish_non_exhaustive()
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
        let (children, prepared) = self.core.prepare(&spec)?;
        let mut started = Vec::new();
        for child in children {
            let id = Arc::from(child.id());
            match self.supervisor.start_child(child).await {
                Ok(_) => started.push(id),
                Err(e) => {
                    for id in started {
                        let _ = self.supervisor.terminate_child(&id).await;
                    }
                    self.core.unprepare(&prepared);
                    return Err(start_error(e));
                }
            }
        }
        self.lock_components().insert(Arc::clone(&prepared.name), prepared);
        Ok(())
    }

    /// Stop a component (or every member of a pool) gracefully, with its `shutdown` call,
    /// and remove it. Messages still queued for it are dropped.
    pub async fn stop(&self, name: &str) -> Result<(), HostError> {
        let Some(prepared) = self.lock_components().remove(name) else {
            return Err(HostError::NotFound(name.to_owned()));
        };
        self.core.unprepare(&prepared);
        let addresses =
            if prepared.members.is_empty() { vec![prepared.name] } else { prepared.members };
        for address in addresses {
            let _ = self.supervisor.terminate_child(&address).await;
        }
        Ok(())
    }

    fn lock_components(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Prepared>> {
        self.components.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every live component and pool member, in start order.
    pub async fn components(&self) -> Vec<ComponentInfo> {
        let children = self.supervisor.which_children().await.unwrap_or_default();
        let from_cache: HashMap<Arc<str>, bool> = self
            .lock_components()
            .values()
            .flat_map(|p| {
                let members = if p.members.is_empty() {
                    vec![Arc::clone(&p.name)]
                } else {
                    p.members.clone()
                };
                members.into_iter().map(|m| (m, p.from_cache))
            })
            .collect();
        children
            .into_iter()
            .filter_map(|child| {
                let metrics = child.handle?.metrics();
                Some(ComponentInfo {
                    from_cache: from_cache.get(&child.id).copied().unwrap_or(false),
                    address: child.id,
                    state: if child.running {
                        ComponentState::Running
                    } else {
                        ComponentState::Restarting
                    },
                    mailbox_len: metrics.mailbox_len,
                    handled: metrics.handled,
                    restarts: metrics.restarts,
                })
            })
            .collect()
    }

    /// Send a message to a component, from the address `host`.
    pub fn send(&self, target: &str, payload: Payload) -> Result<(), SendError> {
        self.core.router.send(self.host_address(), target, payload)
    }

    fn host_address(&self) -> &Arc<str> {
        &self.host_address
    }

    /// Call a component from the address `host` and wait for its response.
    pub async fn call(
        &self,
        target: &str,
        payload: Payload,
        timeout: Duration,
    ) -> Result<Option<Payload>, RequestError> {
        self.core.router.call(self.host_address(), target, payload, timeout).await
    }

    /// Queue a request from the address `host` now (or refuse it now), and get a future of
    /// its response. Dropping the future cancels the wait; the handler may still run.
    pub fn request(
        &self,
        target: &str,
        payload: Payload,
        timeout: Duration,
    ) -> Result<
        impl Future<Output = Result<Option<Payload>, RequestError>> + Send + 'static,
        SendError,
    > {
        let actor = self.core.router.admit(target, &payload)?;
        let sender = Arc::clone(self.host_address());
        Ok(async move { router::ask(&actor, &sender, payload, timeout).await })
    }

    /// Publish from the address `host` to every component subscribed to a matching pattern;
    /// returns how many subscribers it was queued for.
    pub fn publish(&self, topic: &str, payload: Payload) -> Result<u32, TopicError> {
        self.core.router.publish(self.host_address(), topic, payload).map_err(TopicError::Invalid)
    }

    /// Messages that crashed their handler, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.core.dead_letters.snapshot()
    }

    /// How many times the named component (or pool member) was restarted, if it exists.
    pub fn restarts(&self, name: &str) -> Option<u32> {
        self.core.system.whereis(name).map(|h| h.metrics().restarts)
    }

    /// True when the engine uses the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.core.plain.engine.is_pooling()
    }

    /// Stop every component gracefully (each gets its `shutdown` call) in reverse start
    /// order, killing what is still running after `deadline`.
    pub async fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let _ = &self.supervisor;
        self.core.system.shutdown(deadline).await
    }
}
