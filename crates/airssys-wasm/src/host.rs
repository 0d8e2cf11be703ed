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
use crate::capability::{Capabilities, Grants, RateLimit, WasiGrants};
use crate::engine::{Engine, EngineConfig};
use crate::error::HostError;
use crate::router::{self, Policy, Router};
use crate::service::{ServiceActor, ServiceSpec};
use crate::state::HostState;
use crate::trace::TraceContext;

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
    accepts: Vec<u32>,
    restart: Restart,
    mailbox: usize,
    max_payload: usize,
    cpu_per_message: Duration,
    max_memory: Option<usize>,
    fuel: Option<u64>,
    instances: u32,
    grants: Grants,
    wasi: WasiGrants,
    commands: Vec<crate::process::CommandGrant>,
    storage: Option<crate::storage::Quota>,
    signature: Option<crate::trust::ComponentSignature>,
    rate: Option<RateLimit>,
    pending_requests: Option<u32>,
    init_timeout: Duration,
    mailbox_bytes: Option<usize>,
    subscriptions: u32,
    open_files: u32,
    output: crate::output::OutputLimit,
}

/// How long a component's start (instantiation and `init`) may take by default.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default bytes of payload a mailbox holds.
const DEFAULT_MAILBOX_BYTES: usize = 16 << 20;

impl ComponentSpec {
    /// A component named `name` (its address) with code from `source`. Defaults: accepts
    /// every codec, permanent restart, a mailbox of 1024 messages, payloads up to 1 MiB,
    /// 1 s of CPU per message, 5 s for its start.
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
            grants: Grants::default(),
            wasi: WasiGrants::default(),
            commands: Vec::new(),
            storage: None,
            signature: None,
            rate: None,
            pending_requests: None,
            init_timeout: DEFAULT_INIT_TIMEOUT,
            mailbox_bytes: None,
            subscriptions: crate::capability::DEFAULT_SUBSCRIPTIONS,
            open_files: crate::capability::DEFAULT_OPEN_FILES,
            output: crate::output::OutputLimit::default(),
        }
    }

    /// Wall-clock time a start (instantiating the component and running its `init`) may
    /// take; past it the start fails, so that a supervisor never waits on an `init` that
    /// sleeps or waits on others. The CPU budget bounds only the time `init` computes.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout.clamp(Duration::from_millis(1), MAX_CPU_PER_MESSAGE);
        self
    }

    /// Add a configuration value (passed to `init` and readable with `config.get`).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    /// Accept only these multicodec codes (messages in others are refused before delivery).
    pub fn accepts(mut self, codecs: &[u32]) -> Self {
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

    /// Bytes of payload its mailbox may hold (default 16 MiB, and never less than the
    /// largest payload); a message that would take it past is refused with `mailbox-full`,
    /// as when it holds its number of messages.
    pub fn mailbox_bytes(mut self, bytes: usize) -> Self {
        self.mailbox_bytes = Some(bytes);
        self
    }

    /// How many topic subscriptions one instance may hold (default 1024); beyond,
    /// `subscribe` returns `not-permitted`, and the audit record names the limit.
    pub fn subscriptions(mut self, n: u32) -> Self {
        self.subscriptions = n;
        self
    }

    /// How many files, directories and sockets one instance may hold open (default 64,
    /// granted directories included); beyond, opening a file returns `quota` and creating a
    /// socket `new-socket-limit`.
    pub fn open_files(mut self, n: u32) -> Self {
        self.open_files = n;
        self
    }

    /// Its output budget: lines and bytes per second, with bursts, for its stdout, stderr
    /// and `logging` together (default [`OutputLimit::default`](crate::OutputLimit)). Lines
    /// over it are dropped and counted.
    pub fn output(mut self, limit: crate::output::OutputLimit) -> Self {
        self.output = limit;
        self
    }

    /// CPU time one message handler may use before it is trapped: counted in epoch ticks
    /// (10 ms) during which the guest runs on a thread, so time spent waiting (for a worker
    /// thread, a call's answer, storage) is not counted; a guest that computes past it traps
    /// within one more tick.
    pub fn cpu_per_message(mut self, budget: Duration) -> Self {
        self.cpu_per_message = budget.min(MAX_CPU_PER_MESSAGE);
        self
    }

    /// The memory limit of this component, in bytes (at most the engine's limit, which is
    /// the default): all the linear memories and tables of an instance together (a table
    /// element counts as 8 bytes). Growing past it traps the component.
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

    /// What it may do with messages (default: nothing, while accepting from anyone).
    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Its signature (for a file source, `<file>.sig` is read when this is not given).
    pub fn signature(mut self, signature: crate::trust::ComponentSignature) -> Self {
        self.signature = Some(signature);
        self
    }

    /// Let it see an environment variable with this value.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.wasi.env.push((key.into(), value.into()));
        self
    }

    /// Let it see the host directory `host` at `guest`, read-only unless `writable`. The
    /// directory must exist when the component starts. Nothing outside it is reachable
    /// (`..` and symlinks that leave it are refused by WASI).
    pub fn dir(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
        writable: bool,
    ) -> Self {
        self.wasi.dirs.push((host.into(), guest.into(), writable));
        self
    }

    /// Network access: `ip:port` patterns for TCP connect, TCP listen and UDP (bind and
    /// send). Host-name lookup is never granted.
    pub fn network(mut self, connect: &[&str], listen: &[&str], udp: &[&str]) -> Self {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        self.wasi.connect = own(connect);
        self.wasi.listen = own(listen);
        self.wasi.udp = own(udp);
        self
    }

    /// Let it run `command` (a path, or a name on the host's `PATH`, which must exist when
    /// the component starts) with arguments matching `args`: one pattern per argument, `*`
    /// any run of characters, and `**` as the last pattern for any further arguments. Each run
    /// goes through airssys-osl's security and audit middleware, into the host's audit log.
    pub fn command(mut self, command: impl Into<String>, args: &[&str]) -> Self {
        self.commands.push(crate::process::CommandGrant::new(command, args));
        self
    }

    /// Give it durable storage within `quota` (the host needs a data directory). Its keys
    /// are its own: scoped by its name, shared by the members of its pool, kept across
    /// restarts of the component and of the host.
    pub fn storage(mut self, quota: crate::storage::Quota) -> Self {
        self.storage = Some(quota);
        self
    }

    /// Limit how fast it sends (`send`, `request`, `call`, `publish` each take a token);
    /// over the limit, the import returns `rate-limited`.
    pub fn rate(mut self, per_second: u32, burst: u32) -> Self {
        self.rate = Some(RateLimit { per_second, burst });
        self
    }

    /// Limit how many requests it may have pending at once; beyond, `request` returns
    /// `too-many-requests`.
    pub fn pending_requests(mut self, n: u32) -> Self {
        self.pending_requests = Some(n);
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
#[derive(Default)]
pub struct HostBuilder {
    pub(crate) engine: EngineConfig,
    pub(crate) components: Vec<ComponentSpec>,
    pub(crate) intensity: Option<(u32, Duration)>,
    pub(crate) tree: Option<Supervision>,
    pub(crate) audit: Option<airssys_osl::AuditLog>,
    pub(crate) trust: crate::trust::TrustPolicy,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) storage: Option<crate::storage::Storage>,
    /// Places no component may be granted, besides the cache and the data directory.
    pub(crate) protected: Vec<crate::protected::Protected>,
    /// Where envelopes for components this host does not have go.
    pub(crate) transport: Option<Arc<dyn crate::transport::Transport>>,
    pub(crate) services: Vec<ServiceSpec>,
    pub(crate) linker_hooks: Vec<LinkerHook>,
}

/// A supervisor's restart intensity unless one is set: 10 restarts within 10 s.
impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder")
            .field("components", &self.components)
            .field("services", &self.services)
            .field("linker_hooks", &self.linker_hooks.len())
            .finish_non_exhaustive()
    }
}

const DEFAULT_INTENSITY: (u32, Duration) = (10, Duration::from_secs(10));

/// A supervision tree: a supervisor's strategy, intensity and children, which are components
/// (by name) or nested supervisors.
#[derive(Debug, Clone)]
pub struct Supervision {
    /// The strategy.
    pub strategy: Strategy,
    /// At most this many restarts in this period (default 10 in 10 s).
    pub intensity: Option<(u32, Duration)>,
    /// Children in start order.
    pub children: Vec<TreeChild>,
}

/// A child of a [`Supervision`].
#[derive(Debug, Clone)]
pub enum TreeChild {
    /// The component (or pool) of this name.
    Component(String),
    /// A nested supervisor with this id.
    Supervisor(String, Supervision),
}

impl Supervision {
    fn spec(
        &self,
        first: Vec<ChildSpec>,
        prepared: &mut HashMap<Arc<str>, Vec<ChildSpec>>,
        nested: bool,
        placed: &mut Vec<(Arc<str>, bool)>,
    ) -> Result<SupervisorSpec, HostError> {
        let (max_restarts, period) = self.intensity.unwrap_or(DEFAULT_INTENSITY);
        let mut spec = SupervisorSpec::new(self.strategy).intensity(max_restarts, period);
        // Only at the root: a nested supervisor gives up and escalates to its parent, as in
        // OTP, which is what nesting is for.
        let independent = if nested { None } else { self.child_intensity() };
        let add = |spec: SupervisorSpec, child: ChildSpec| match independent {
            Some((max, period)) => spec.child(child.intensity(max, period)),
            None => spec.child(child),
        };
        for child in first {
            spec = add(spec, child);
        }
        for child in &self.children {
            match child {
                TreeChild::Component(name) => {
                    let Some((key, children)) = prepared.remove_entry(name.as_str()) else {
                        return Err(HostError::NotFound(name.clone()));
                    };
                    placed.push((key, nested));
                    for c in children {
                        spec = add(spec, c);
                    }
                }
                TreeChild::Supervisor(id, sub) => {
                    let child = ChildSpec::supervisor(
                        id.as_str(),
                        sub.spec(Vec::new(), prepared, true, placed)?,
                    );
                    spec = add(spec, child);
                }
            }
        }
        Ok(spec)
    }

    /// The children of a one-for-one root are independent of each other, so each gets the
    /// root's intensity as its own: one child's crash loop (a component's, or a nested
    /// supervisor's that keeps giving up) gives up on that child only, instead of taking the
    /// whole app down with the root. Children of a one-for-all or rest-for-one root depend
    /// on each other and share its intensity, as in OTP.
    fn child_intensity(&self) -> Option<(u32, Duration)> {
        (self.strategy == Strategy::OneForOne).then(|| self.intensity.unwrap_or(DEFAULT_INTENSITY))
    }
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

    /// A builder for the app described by the manifest at `path` (relative paths in it are
    /// relative to its directory).
    pub fn from_manifest(path: &Path) -> Result<HostBuilder, HostError> {
        let manifest = crate::manifest::Manifest::load(path)?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty());
        manifest.builder(base.unwrap_or(Path::new(".")))
    }

    /// Which components this host loads: only those signed by trusted keys, or any in
    /// development mode (the default for the Rust API; the host warns loudly when it starts).
    pub fn trust(mut self, policy: crate::trust::TrustPolicy) -> Self {
        self.trust = policy;
        self
    }

    /// Where the host's audit records go (default: `tracing` events, target
    /// `airssys_osl::audit`): refused capabilities, limit hits, crashes, restarts and the
    /// grants each component starts with.
    pub fn audit(mut self, log: airssys_osl::AuditLog) -> Self {
        self.audit = Some(log);
        self
    }

    /// The supervision tree (default: one one-for-one supervisor). Components it does not
    /// name are added to its root after the ones it names.
    pub fn supervision(mut self, tree: Supervision) -> Self {
        self.tree = Some(tree);
        self
    }

    /// Where the host keeps durable data: component storage goes in `storage.redb` there
    /// (the directory is created, private to this user). Needed by components granted
    /// storage.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Use this store for component storage instead of opening one in the data directory
    /// (another [`Backend`](crate::storage::Backend), or a store shared with other code).
    pub fn storage(mut self, storage: crate::storage::Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// A directory of the embedder's that no component may be granted: a filesystem grant
    /// that contains it or lies inside it fails the start (or the spawn). `what` names it in
    /// the error ("the control socket's directory"). The artifact cache, the data directory
    /// and a manifest's audit log are protected without asking.
    pub fn protect_dir(mut self, dir: impl AsRef<Path>, what: &str) -> Self {
        self.protected.push(crate::protected::Protected::dir(dir.as_ref(), what));
        self
    }

    /// A file of the embedder's (an audit log given with [`HostBuilder::audit`], a socket)
    /// that no component may be granted: a filesystem grant that contains it fails the start
    /// (or the spawn).
    pub fn protect_file(mut self, file: impl AsRef<Path>, what: &str) -> Self {
        self.protected.push(crate::protected::Protected::file(file.as_ref(), what));
        self
    }

    /// Restart intensity of the host's supervisor (default: 10 restarts in 10 s).
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = Some((max_restarts, period));
        self
    }

    /// Carry what is addressed to components this host does not have to other hosts
    /// through `transport` (see [`transport`](crate::transport)); without one (the default)
    /// such an address is unknown.
    pub fn transport(mut self, transport: Arc<dyn crate::transport::Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Add host functions of the embedder's own to the linker every component is linked
    /// with: an interface of its own WIT, which guests built against it import. `hook` is
    /// called once per engine (the host makes a second one for fuel-metered components);
    /// its functions get the calling instance's [`HostState`] (its
    /// [`address`](HostState::address), for one). A component that imports an interface
    /// nobody added fails to load, as before.
    ///
    /// ```
    /// # use airssys_wasm::Host;
    /// let builder = Host::builder().linker(|linker| {
    ///     linker.instance("example:clock/now@0.1.0")?.func_wrap(
    ///         "seconds",
    ///         |_store, (): ()| Ok((42u64,)),
    ///     )?;
    ///     Ok(())
    /// });
    /// # drop(builder);
    /// ```
    pub fn linker(
        mut self,
        hook: impl Fn(&mut Linker<HostState>) -> wasmtime::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.linker_hooks.push(Arc::new(hook));
        self
    }

    /// Add a native service (see [`ServiceSpec`]): started before every component, so that
    /// components can message it from their `init` on.
    pub fn service(mut self, spec: ServiceSpec) -> Self {
        self.services.push(spec);
        self
    }

    /// Compile every component, link it against the contract and start them all under one
    /// one-for-one supervisor. Must be called inside a tokio runtime.
    pub async fn start(self) -> Result<Host, HostError> {
        let audit = self.audit.map(crate::audit::Audit::new).unwrap_or_default();
        let mut core =
            Core::new(self.engine, audit, self.trust, self.transport, self.linker_hooks)?;
        core.owns_storage = self.storage.is_none() && self.data_dir.is_some();
        core.storage = match (self.storage, &self.data_dir) {
            (Some(storage), _) => Some(storage),
            (None, Some(dir)) => {
                let dir = dir.clone();
                let opened =
                    tokio::task::spawn_blocking(move || crate::storage::Storage::open(&dir))
                        .await
                        .map_err(|e| {
                            HostError::Storage(crate::storage::StorageError::Unavailable(
                                e.to_string(),
                            ))
                        })?;
                Some(opened?)
            }
            (None, None) => None,
        };
        core.data_dir = self.data_dir.as_ref().and_then(|d| std::fs::canonicalize(d).ok());
        core.protected = self.protected;
        let engines = [core.plain.engine.cache_dir(), core.data_dir.as_deref()];
        for (dir, what) in
            engines.into_iter().zip(["the host's artifact cache", "the host's data directory"])
        {
            if let Some(dir) = dir {
                core.protected.push(crate::protected::Protected::dir(dir, what));
            }
        }
        let core = Arc::new(core);
        // Services first: their names are taken before any component's.
        let mut service_children = Vec::new();
        for service in &self.services {
            service_children.push(core.prepare_service(service)?);
        }
        let service_names: Vec<Arc<str>> =
            self.services.iter().map(|s| Arc::clone(&s.name)).collect();
        // Reading and compiling the components blocks: it runs off the executor.
        let preparing = Arc::clone(&core);
        let components = self.components;
        let prepared = tokio::task::spawn_blocking(move || {
            components.iter().map(|c| preparing.prepare(c)).collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| blocking_failed("<host>", e))??;
        let mut started = Vec::new();
        let mut children: HashMap<Arc<str>, Vec<ChildSpec>> = HashMap::new();
        for (specs, info) in prepared {
            children.insert(Arc::clone(&info.name), specs);
            started.push(info);
        }
        let tree = self.tree.unwrap_or(Supervision {
            strategy: Strategy::OneForOne,
            intensity: self.intensity,
            children: Vec::new(),
        });
        let mut placed = Vec::new();
        let mut spec = tree.spec(service_children, &mut children, false, &mut placed)?;
        // Components the tree does not name go to the root, in the order they were added.
        let root_child_intensity = tree.child_intensity();
        for info in &started {
            if let Some(specs) = children.remove(&info.name) {
                for c in specs {
                    spec = spec.child(with_intensity(c, root_child_intensity));
                }
            }
        }
        let supervisor = core.system.spawn_supervisor(spec).await.map_err(start_error)?;
        // The actors are started (in the tree's order); now their first `init`s, each in its
        // own actor. The first failure, in the order the components were added, fails the
        // start, and the host is shut down again (so it is if this future is dropped).
        let mut unfinished = StopUnlessStarted(Some(supervisor.clone()));
        for info in &started {
            if let Err(e) = info.initialized().await {
                drop(unfinished);
                let _ = supervisor.wait_for_exit().await;
                return Err(e);
            }
        }
        unfinished.0 = None;
        let mut components = HashMap::new();
        for mut info in started {
            info.nested = placed.iter().any(|(n, nested)| *n == info.name && *nested);
            components.insert(Arc::clone(&info.name), info);
        }
        Ok(Host {
            core,
            root_child_intensity,
            supervisor,
            components: Arc::new(Mutex::new(components)),
            services: Arc::new(Mutex::new(service_names)),
            host_address: Arc::from(HOST_ADDRESS),
        })
    }
}

/// A task given to `spawn_blocking` did not finish (it panicked, or the runtime is shutting
/// down).
fn blocking_failed(name: &str, e: tokio::task::JoinError) -> HostError {
    HostError::Start { name: name.to_owned(), reason: format!("preparing it failed: {e}") }
}

fn with_intensity(child: ChildSpec, intensity: Option<(u32, Duration)>) -> ChildSpec {
    match intensity {
        Some((max, period)) => child.intensity(max, period),
        None => child,
    }
}

fn start_error(e: airssys_rt::SupervisorError) -> HostError {
    match e {
        airssys_rt::SupervisorError::StartFailed { id, reason } => {
            HostError::Start { name: id, reason: reason.to_string() }
        }
        airssys_rt::SupervisorError::DuplicateId(id) => HostError::DuplicateName(id),
        other => HostError::Start { name: "<host>".into(), reason: other.to_string() },
    }
}

/// Compiled code, ready to instantiate.
struct Code {
    pre: Arc<crate::guest::GuestPre>,
    from_cache: bool,
}

/// The code a host has compiled, so that components of the same code share it.
#[derive(Default)]
struct Codes {
    /// By the SHA-256 of the component's bytes and whether it is metered with fuel.
    by_digest: HashMap<(cache::Digest32, bool), Arc<Code>>,
    /// Byte sources already hashed, by their allocation; the bytes are held, so that the
    /// address cannot be reused by other bytes while the entry exists.
    by_allocation: HashMap<(usize, usize), HashedBytes>,
}

/// Bytes and their SHA-256.
type HashedBytes = (Arc<[u8]>, cache::Digest32);

/// An embedder's addition to the linker every component is linked with
/// ([`HostBuilder::linker`]).
pub(crate) type LinkerHook =
    Arc<dyn Fn(&mut Linker<HostState>) -> wasmtime::Result<()> + Send + Sync>;

/// One engine and the linker of the contract for it.
pub(crate) struct Linked {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
}

impl Linked {
    pub(crate) fn new(
        settings: &EngineConfig,
        fuel: bool,
        hooks: &[LinkerHook],
    ) -> Result<Self, HostError> {
        let engine = Engine::new(settings, fuel)?;
        let mut linker: Linker<HostState> = Linker::new(&engine.inner);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        crate::fs_audit::add_to_linker(&mut linker)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        crate::handle_limit::add_to_linker(&mut linker)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        crate::granted_dir::add_to_linker(&mut linker)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        // Both contract versions: a component imports one of them.
        bindings::current::Component::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::Engine(e.to_string()))?;
        bindings::v0_1::Component::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::Engine(e.to_string()))?;
        for hook in hooks {
            hook(&mut linker).map_err(|e| {
                HostError::Engine(format!("an interface the embedder added to the linker: {e:#}"))
            })?;
        }
        Ok(Linked { engine, linker })
    }
}

/// What a component became once prepared: its addresses and its code.
#[derive(Clone)]
struct Prepared {
    name: Arc<str>,
    members: Vec<Arc<str>>,
    code: Arc<Code>,
    /// Under a nested supervisor (not the root).
    nested: bool,
    /// What it was started from (for a restart).
    spec: ComponentSpec,
    /// Linear memory of each address's live instance.
    memory: HashMap<Arc<str>, Arc<std::sync::atomic::AtomicUsize>>,
    /// Output budget of each address.
    output: HashMap<Arc<str>, Arc<crate::output::OutputBudget>>,
    /// The outcome of each address's first `init`, in address order.
    first_inits: Vec<(Arc<str>, Arc<crate::actor::FirstInit>)>,
}

impl Prepared {
    /// Wait until every address has run its first `init`; the first failure, as a start
    /// error naming the address.
    async fn initialized(&self) -> Result<(), HostError> {
        for (address, first) in &self.first_inits {
            if let Err(reason) = first.wait().await {
                return Err(HostError::Start {
                    name: address.to_string(),
                    reason: format!("start failed: {reason}"),
                });
            }
        }
        Ok(())
    }
}

impl Prepared {
    /// The addresses of its actors: the name, or each pool member.
    fn addresses(&self) -> Vec<Arc<str>> {
        if self.members.is_empty() { vec![Arc::clone(&self.name)] } else { self.members.clone() }
    }
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
}

impl Core {
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
        let plain = Linked::new(&settings, false, &linker_hooks)?;
        let system = System::new();
        Ok(Core {
            router: Router::new(system.clone(), audit, transport),
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
        })
    }

    fn lock_codes(&self) -> std::sync::MutexGuard<'_, Codes> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_app_grants(&self) -> std::sync::MutexGuard<'_, crate::app_grants::AppGrants> {
        self.app_grants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fuel-counting engine, made on first use.
    fn fuel_linked(&self) -> Result<Arc<Linked>, HostError> {
        let mut slot = self.fuel.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some(linked) => Ok(Arc::clone(linked)),
            None => {
                let linked = Arc::new(Linked::new(&self.settings, true, &self.linker_hooks)?);
                *slot = Some(Arc::clone(&linked));
                Ok(linked)
            }
        }
    }

    /// The compiled code of a component: shared with every component of the same bytes,
    /// compiled (or loaded from the artifact cache) the first time.
    fn code(&self, spec: &ComponentSpec) -> Result<(Arc<Code>, Engine), HostError> {
        let fuel = spec.fuel.is_some();
        let fuel_linked;
        let linked: &Linked = if fuel {
            fuel_linked = self.fuel_linked()?;
            &fuel_linked
        } else {
            &self.plain
        };
        let (bytes, digest) = match &spec.source {
            Source::Bytes(b) => {
                let key = (b.as_ptr() as usize, b.len());
                let known = self.lock_codes().by_allocation.get(&key).map(|(_, d)| *d);
                let digest = known.unwrap_or_else(|| cache::digest(b));
                self.lock_codes().by_allocation.insert(key, (Arc::clone(b), digest));
                (Arc::clone(b), digest)
            }
            Source::File(path) => {
                let bytes: Arc<[u8]> =
                    crate::untrusted_file::read(path, crate::untrusted_file::MAX_COMPONENT_BYTES)
                        .map_err(|source| HostError::Read {
                            name: spec.name.to_string(),
                            path: path.display().to_string(),
                            source,
                        })?
                        .into();
                let digest = cache::digest(&bytes);
                (bytes, digest)
            }
        };
        self.check_signature(spec, &digest)?;
        if let Some(code) = self.lock_codes().by_digest.get(&(digest, fuel)) {
            return Ok((Arc::clone(code), linked.engine.clone()));
        }
        let load_error = |reason: String| HostError::Load { name: spec.name.to_string(), reason };
        let (component, from_cache) =
            linked.engine.compile(&bytes, &digest).map_err(|e| load_error(format!("{e:#}")))?;
        let pre =
            linked.linker.instantiate_pre(&component).map_err(|e| load_error(format!("{e:#}")))?;
        let pre = Arc::new(crate::guest::GuestPre::new(pre).map_err(load_error)?);
        let code = Arc::clone(
            self.lock_codes()
                .by_digest
                .entry((digest, fuel))
                .or_insert_with(|| Arc::new(Code { pre, from_cache })),
        );
        Ok((code, linked.engine.clone()))
    }

    /// Under a trust policy with keys, the component must be signed by one of them.
    fn check_signature(
        &self,
        spec: &ComponentSpec,
        digest: &cache::Digest32,
    ) -> Result<(), HostError> {
        use crate::trust::{ComponentSignature, TrustError, TrustPolicy};
        let TrustPolicy::Keys(keys) = &self.trust else { return Ok(()) };
        let signature = match (&spec.signature, &spec.source) {
            (Some(signature), _) => Ok(signature.clone()),
            (None, Source::File(path)) => {
                let mut sig = path.clone().into_os_string();
                sig.push(".sig");
                let limit = crate::untrusted_file::MAX_SIGNATURE_BYTES;
                match crate::untrusted_file::read_text(Path::new(&sig), limit) {
                    Ok(text) => ComponentSignature::parse(&text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TrustError::Unsigned),
                    Err(e) => Err(TrustError::Malformed(format!(
                        "cannot read {}: {e}",
                        Path::new(&sig).display()
                    ))),
                }
            }
            (None, Source::Bytes(_)) => Err(TrustError::Unsigned),
        };
        let verdict = signature.and_then(|s| s.verify(digest, keys));
        let audit = &self.router.audit;
        let action = airssys_osl::Action::Lifecycle;
        match verdict {
            Ok(signer) => {
                audit.event(
                    &spec.name,
                    "load",
                    action,
                    &spec.name,
                    "allow",
                    format!("signed by {}", signer.to_hex()),
                );
                Ok(())
            }
            Err(reason) => {
                audit.event(&spec.name, "load", action, &spec.name, "deny", reason.to_string());
                Err(HostError::Untrusted { name: spec.name.to_string(), reason })
            }
        }
    }

    /// Forget code no live component uses, and byte sources nobody else holds.
    fn prune(&self) {
        let mut codes = self.lock_codes();
        codes.by_digest.retain(|_, code| Arc::strong_count(code) > 1);
        let Codes { by_digest, by_allocation } = &mut *codes;
        by_allocation.retain(|_, (bytes, digest)| {
            Arc::strong_count(bytes) > 1
                && (by_digest.contains_key(&(*digest, false))
                    || by_digest.contains_key(&(*digest, true)))
        });
    }

    /// Reserve a component's addresses and compile it; returns the child specs to start.
    fn prepare(&self, spec: &ComponentSpec) -> Result<(Vec<ChildSpec>, Prepared), HostError> {
        validate_name(&spec.name)?;
        let max_memory = self.settings.max_memory_bytes;
        if spec.max_memory.is_some_and(|m| m > max_memory) {
            return Err(HostError::Limit {
                name: spec.name.to_string(),
                reason: format!("its memory limit is above the engine's ({max_memory} bytes)"),
            });
        }
        if spec.instances > MAX_INSTANCES {
            return Err(HostError::Limit {
                name: spec.name.to_string(),
                reason: format!("a pool has at most {MAX_INSTANCES} instances"),
            });
        }
        let members: Vec<Arc<str>> = match spec.instances {
            1 => Vec::new(),
            n => {
                (0..n as usize).map(|i| Arc::from(router::member_address(&spec.name, i))).collect()
            }
        };
        // Reserved before anything starts, so that components can message each other from
        // `init` on, and atomically, so that two spawns of one name cannot both proceed.
        let grant_error = |reason: String| HostError::Grant { name: spec.name.to_string(), reason };
        let mut caps = Capabilities::new(&spec.grants, spec.rate, spec.pending_requests)
            .map_err(grant_error)?;
        let writable: Vec<&Path> =
            spec.wasi.dirs.iter().filter(|d| d.2).map(|d| d.0.as_path()).collect();
        caps.max_subscriptions = spec.subscriptions;
        caps.max_open_files = spec.open_files;
        caps.commands =
            crate::process::Commands::new(&spec.commands, &writable, self.router.audit.log())
                .map_err(grant_error)?;
        // Opened once, here: every instance of the component gets these handles, so a
        // directory replaced later (by a symlink) does not redirect the grant.
        caps.dirs = spec
            .wasi
            .dirs
            .iter()
            .map(|(host, guest, writable)| {
                crate::granted_dir::GrantedDir::open(host, guest, *writable)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(grant_error)?
            .into();
        if let Some(quota) = spec.storage {
            let Some(storage) = &self.storage else {
                return Err(grant_error(
                    "it is granted storage, but the host has no data directory (set \
                     HostBuilder::data_dir, or [app] data_dir in the manifest)"
                        .into(),
                ));
            };
            caps.storage = Some(crate::storage::Grant {
                storage: storage.clone(),
                scope: Arc::clone(&spec.name),
                quota,
            });
        }
        let caps = Arc::new(caps);
        for (host, _, _) in &spec.wasi.dirs {
            if !host.is_dir() {
                return Err(HostError::Grant {
                    name: spec.name.to_string(),
                    reason: format!("granted directory {} does not exist", host.display()),
                });
            }
            // The cache, the storage database, the audit log, the control socket.
            crate::protected::check_grant(host, &self.protected)
                .map_err(|reason| HostError::Grant { name: spec.name.to_string(), reason })?;
        }
        let policy = Policy {
            accepts: spec.accepts.clone().into(),
            max_payload: spec.max_payload,
            mailbox_bytes: spec
                .mailbox_bytes
                .unwrap_or(DEFAULT_MAILBOX_BYTES)
                .max(spec.max_payload),
            accept_from: caps.accept_from.clone().map(Arc::new),
        };
        if !self.router.reserve(Arc::clone(&spec.name), &members, policy) {
            return Err(HostError::DuplicateName(spec.name.to_string()));
        }
        // Under the name just reserved, so two components of one name cannot both be here.
        let writable = caps.dirs.iter().filter(|d| d.writable).map(|d| d.canonical.clone());
        let programs = caps.commands.iter().flat_map(|c| c.programs()).map(Path::to_path_buf);
        let admitted =
            self.lock_app_grants().admit(&spec.name, writable.collect(), programs.collect());
        if let Err(reason) = admitted {
            self.router.remove(&spec.name, &members);
            return Err(grant_error(reason));
        }
        let (code, engine) = match self.code(spec) {
            Ok(code) => code,
            Err(e) => {
                self.router.remove(&spec.name, &members);
                self.lock_app_grants().remove(&spec.name);
                return Err(e);
            }
        };
        self.audit_grants(spec);
        let mut prepared = Prepared {
            name: Arc::clone(&spec.name),
            members,
            code,
            nested: false,
            spec: spec.clone(),
            memory: HashMap::new(),
            output: HashMap::new(),
            first_inits: Vec::new(),
        };
        for address in prepared.addresses() {
            prepared.first_inits.push((Arc::clone(&address), Arc::default()));
            prepared.memory.insert(Arc::clone(&address), Arc::default());
            let budget = Arc::new(crate::output::OutputBudget::new(spec.output));
            prepared.output.insert(address, budget);
        }
        let config: Arc<[(String, String)]> = spec.config.clone().into();
        let children = prepared
            .addresses()
            .into_iter()
            .map(|address| {
                let memory = prepared.memory.get(&address).cloned().unwrap_or_default();
                let first_init = prepared
                    .first_inits
                    .iter()
                    .find(|(a, _)| *a == address)
                    .map(|(_, f)| Arc::clone(f))
                    .unwrap_or_default();
                let output = prepared
                    .output
                    .get(&address)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(crate::output::OutputBudget::new(spec.output)));
                let shared = Arc::new(Shared {
                    memory,
                    output,
                    address: Arc::clone(&address),
                    engine: engine.clone(),
                    pre: Arc::clone(&prepared.code.pre),
                    config: Arc::clone(&config),
                    router: self.router.clone(),
                    dead_letters: self.dead_letters.clone(),
                    cpu_per_message: spec.cpu_per_message,
                    fuel_per_message: spec.fuel,
                    caps: Arc::clone(&caps),
                    wasi: spec.wasi.clone(),
                    max_memory_bytes: spec.max_memory.unwrap_or(max_memory),
                    shutdown_deadline: Duration::from_secs(1),
                    init_timeout: spec.init_timeout,
                    first_init,
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
        Ok((children, prepared))
    }

    /// Reserve a native service's address; returns its child spec.
    fn prepare_service(&self, spec: &ServiceSpec) -> Result<ChildSpec, HostError> {
        validate_name(&spec.name)?;
        let policy = Policy {
            accepts: spec.accepts.clone().into(),
            max_payload: spec.max_payload,
            mailbox_bytes: DEFAULT_MAILBOX_BYTES.max(spec.max_payload),
            accept_from: spec
                .accept_from
                .as_deref()
                .map(|p| Arc::new(crate::capability::Addresses::new(p))),
        };
        if !self.router.reserve(Arc::clone(&spec.name), &[], policy) {
            return Err(HostError::DuplicateName(spec.name.to_string()));
        }
        let options = SpawnOptions::new()
            .mailbox(airssys_rt::MailboxConfig::bounded(spec.mailbox))
            .name(Arc::clone(&spec.name));
        let (service, router) = (spec.clone(), self.router.clone());
        let make = move || ServiceActor::new(&service, router.clone());
        Ok(ChildSpec::actor_with(Arc::clone(&spec.name), make, options).restart(spec.restart))
    }

    /// Record the grants a component starts with.
    fn audit_grants(&self, spec: &ComponentSpec) {
        use airssys_osl::Action;
        let audit = &self.router.audit;
        let g = &spec.grants;
        let lists: [(&[String], Action); 4] = [
            (&g.send, Action::MessageSend),
            (&g.request, Action::MessageRequest),
            (&g.publish, Action::TopicPublish),
            (&g.subscribe, Action::TopicSubscribe),
        ];
        for (list, action) in lists {
            for pattern in list {
                audit.event(&spec.name, "start", action, pattern, "grant", "granted at start");
            }
        }
        for (host, guest, writable) in &spec.wasi.dirs {
            let action = if *writable { Action::FsWrite } else { Action::FsRead };
            let resource = format!("{} as {guest}", host.display());
            audit.event(&spec.name, "start", action, &resource, "grant", "granted at start");
        }
        for (key, _) in &spec.wasi.env {
            audit.event(
                &spec.name,
                "start",
                Action::FsRead,
                &format!("env {key}"),
                "grant",
                "granted at start",
            );
        }
        let w = &spec.wasi;
        let nets: [(&[String], Action); 3] = [
            (&w.connect, Action::NetConnect),
            (&w.listen, Action::NetListen),
            (&w.udp, Action::NetUdp),
        ];
        for (list, action) in nets {
            for pattern in list {
                audit.event(&spec.name, "start", action, pattern, "grant", "granted at start");
            }
        }
        if let Some(q) = spec.storage {
            let resource = format!("quota {} bytes, {} keys", q.bytes, q.keys);
            audit.event(
                &spec.name,
                "start",
                Action::Storage,
                &resource,
                "grant",
                "granted at start",
            );
        }
        for grant in &spec.commands {
            let resource = crate::process::command_line(&grant.command, &grant.args);
            let action = Action::ProcessSpawn;
            audit.event(&spec.name, "start", action, &resource, "grant", "granted at start");
        }
    }

    /// Release what `prepare` reserved.
    fn unprepare(&self, prepared: Prepared) {
        self.router.remove(&prepared.name, &prepared.members);
        self.lock_app_grants().remove(&prepared.name);
        drop(prepared);
        self.prune();
    }

    /// [`prepare`](Self::prepare) off the executor: reading the component's file, compiling
    /// it and opening its granted directories block, for seconds with a large component. If
    /// the caller goes away before it is done, what was reserved is released.
    async fn prepare_blocking(
        self: &Arc<Self>,
        spec: &ComponentSpec,
    ) -> Result<(Vec<ChildSpec>, Prepared), HostError> {
        if let Some(_held) = self.prepares_without_blocking(spec) {
            // Held across `prepare`: a concurrent prune cannot drop the code meanwhile (and
            // make `prepare` compile it here, on the executor).
            return self.prepare(spec);
        }
        let core = Arc::clone(self);
        let spec = spec.clone();
        let name = spec.name.to_string();
        let (children, mut reserved) = tokio::task::spawn_blocking(move || {
            let (children, prepared) = core.prepare(&spec)?;
            Ok::<_, HostError>((children, Reserved { core, prepared: Some(prepared) }))
        })
        .await
        .map_err(|e| blocking_failed(&name, e))??;
        let prepared = reserved.prepared.take().expect("a reservation holds its component");
        Ok((children, prepared))
    }

    /// The compiled code of `spec` when preparing it touches nothing that blocks: its code is
    /// in memory, already hashed and compiled (a `Source::Bytes` seen before), and it is
    /// granted no directory and no command (opening and resolving those touch the
    /// filesystem). Then it is prepared on the caller's thread, without a hop to the
    /// blocking pool, while the caller holds the returned code.
    fn prepares_without_blocking(&self, spec: &ComponentSpec) -> Option<Arc<Code>> {
        let Source::Bytes(bytes) = &spec.source else { return None };
        if !spec.wasi.dirs.is_empty() || !spec.commands.is_empty() {
            return None;
        }
        let codes = self.lock_codes();
        let key = (bytes.as_ptr() as usize, bytes.len());
        let (_, digest) = codes.by_allocation.get(&key)?;
        codes.by_digest.get(&(*digest, spec.fuel.is_some())).cloned()
    }

    /// [`code`](Self::code) off the executor.
    async fn code_blocking(
        self: &Arc<Self>,
        spec: &ComponentSpec,
    ) -> Result<(Arc<Code>, Engine), HostError> {
        let core = Arc::clone(self);
        let spec = spec.clone();
        let name = spec.name.to_string();
        tokio::task::spawn_blocking(move || core.code(&spec))
            .await
            .map_err(|e| blocking_failed(&name, e))?
    }
}

/// A component prepared off the executor, on its way back to the caller: if the caller went
/// away meanwhile, dropping it releases the component's addresses and grants.
struct Reserved {
    core: Arc<Core>,
    prepared: Option<Prepared>,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some(prepared) = self.prepared.take() {
            self.core.unprepare(prepared);
        }
    }
}

/// The largest pool.
const MAX_INSTANCES: u32 = 1024;

/// The longest CPU budget per message (longer ones are cut to it).
const MAX_CPU_PER_MESSAGE: Duration = Duration::from_secs(24 * 3600);

/// Names are addresses: 1 to 128 ASCII letters, digits, `-`, `_` or `.`; `host` is the
/// host's own address, and `/` separates a pool from its members.
pub(crate) fn validate_name(name: &str) -> Result<(), HostError> {
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
    /// Messages it has handled (across restarts).
    pub handled: u64,
    /// How many times it was restarted.
    pub restarts: u32,
    /// True when its code was loaded from the artifact cache instead of compiled.
    pub from_cache: bool,
    /// Bytes of linear memory its live instance holds (0 when none is live).
    pub memory_bytes: usize,
    /// Lines of its output (stdout, stderr, logging) dropped over its output budget, in all.
    pub output_dropped: u64,
}

/// Undoes a spawn that did not finish: its addresses are released and the members already
/// started are stopped.
/// Stops the root supervisor of a host whose start did not finish (an `init` failed, or the
/// start's future was dropped while waiting for one).
struct StopUnlessStarted(Option<SupervisorRef>);

impl Drop for StopUnlessStarted {
    fn drop(&mut self) {
        if let Some(supervisor) = self.0.take() {
            supervisor.stop();
        }
    }
}

struct Rollback<'a> {
    host: &'a Host,
    prepared: Option<Prepared>,
    started: Vec<Arc<str>>,
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
        self.host.core.unprepare(prepared);
    }
}

/// A running set of components: a handle to it.
///
/// Cloning a `Host` is cheap and gives another handle to the same host (as an `Arc` would);
/// every method takes `&self` and may be called from several tasks at once.
/// [`shutdown`](Host::shutdown) stops the host for every handle.
#[derive(Clone)]
pub struct Host {
    core: Arc<Core>,
    /// The intensity each child added to the root gets as its own (a one-for-one root).
    root_child_intensity: Option<(u32, Duration)>,
    host_address: Arc<str>,
    supervisor: SupervisorRef,
    components: Arc<Mutex<HashMap<Arc<str>, Prepared>>>,
    /// The addresses of its native services.
    services: Arc<Mutex<Vec<Arc<str>>>>,
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
        let (children, prepared) = self.core.prepare_blocking(&spec).await?;
        // Undoes the spawn if it fails, or if this future is dropped half-way.
        let mut rollback = Rollback { host: self, prepared: Some(prepared), started: Vec::new() };
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
        let child = with_intensity(self.core.prepare_service(&spec)?, self.root_child_intensity);
        if let Err(e) = self.supervisor.start_child(child).await {
            self.core.router.remove(&spec.name, &[]);
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
        self.services.lock().unwrap_or_else(|e| e.into_inner())
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
            self.core.router.remove(&service, &[]);
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
        self.core.unprepare(prepared);
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
        let (_code, _engine) = self.core.code_blocking(&spec).await?;
        self.stop(name).await?;
        self.spawn(spec).await
    }

    fn lock_components(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Prepared>> {
        self.components.lock().unwrap_or_else(|e| e.into_inner())
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
        let known: HashMap<Arc<str>, (bool, usize, u64)> = self
            .lock_components()
            .values()
            .flat_map(|p| {
                let from_cache = p.code.from_cache;
                p.addresses().into_iter().map(move |a| {
                    let bytes = memory(p, &a);
                    let dropped = dropped(p, &a);
                    (a, (from_cache, bytes, dropped))
                })
            })
            .collect();
        let mut listed = Vec::with_capacity(known.len());
        for child in children {
            let Some(&(from_cache, memory_bytes, output_dropped)) = known.get(&child.id) else {
                continue;
            };
            let metrics = child.handle.as_ref().map(|h| h.metrics()).unwrap_or_default();
            let state = match (child.running, child.restart) {
                (true, _) => ComponentState::Running,
                (false, _) if child.gave_up => ComponentState::Failed,
                (false, Restart::Permanent) => ComponentState::Restarting,
                (false, _) => ComponentState::Stopped,
            };
            listed.push(ComponentInfo {
                address: child.id,
                state,
                mailbox_len: metrics.mailbox_len,
                handled: metrics.handled,
                restarts: metrics.restarts,
                from_cache,
                memory_bytes: if state == ComponentState::Running { memory_bytes } else { 0 },
                output_dropped,
            });
        }
        // Components under nested supervisors: from their actors' own state.
        for address in nested {
            let Some(&(from_cache, memory_bytes, output_dropped)) = known.get(&address) else {
                continue;
            };
            let handle = self.core.system.whereis(&address);
            let metrics = handle.as_ref().map(|h| h.metrics()).unwrap_or_default();
            listed.push(ComponentInfo {
                memory_bytes: if metrics.alive { memory_bytes } else { 0 },
                state: if metrics.alive {
                    ComponentState::Running
                } else {
                    ComponentState::Stopped
                },
                address,
                mailbox_len: metrics.mailbox_len,
                handled: metrics.handled,
                restarts: metrics.restarts,
                from_cache,
                output_dropped,
            });
        }
        // A temporary component that ended is no longer the supervisor's child; its address
        // stays reserved until `stop`.
        let mut gone: Vec<_> = known
            .into_iter()
            .filter(|(address, _)| !listed.iter().any(|c| c.address == *address))
            .collect();
        gone.sort();
        listed.extend(gone.into_iter().map(|(address, (from_cache, _, output_dropped))| {
            ComponentInfo {
                address,
                state: ComponentState::Stopped,
                mailbox_len: 0,
                handled: 0,
                restarts: 0,
                from_cache,
                memory_bytes: 0,
                output_dropped,
            }
        }));
        listed
    }

    /// Send a message to a component, from the address `host`.
    pub fn send(&self, target: &str, payload: Payload) -> Result<(), SendError> {
        self.core.router.send(self.host_address(), target, payload, Some(TraceContext::new_root()))
    }

    fn host_address(&self) -> &Arc<str> {
        &self.host_address
    }

    /// Take in a frame from another host (an encoded [`wire::Envelope`](crate::wire::Envelope),
    /// carried by a [`Transport`](crate::transport::Transport)) and deliver it here as a local
    /// message, with the sender its host stamped: the receiver's accept rules, codecs and
    /// limits apply. Malformed bytes are a typed error; nothing is delivered.
    pub fn receive(&self, frame: &[u8]) -> Result<(), crate::transport::ReceiveError> {
        let envelope = crate::wire::decode(frame, crate::transport::MAX_FRAME)?;
        self.core.router.receive(envelope)
    }

    /// Call a component from the address `host` and wait for its response.
    pub async fn call(
        &self,
        target: &str,
        payload: Payload,
        timeout: Duration,
    ) -> Result<Option<Payload>, RequestError> {
        let stamp = self.core.router.host_stamp();
        self.core.router.call(self.host_address(), target, payload, stamp, timeout).await
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
        let payload = crate::actor::SharedPayload::from(payload);
        let admitted = self.core.router.admit_request(self.host_address(), target, &payload)?;
        let stamp = self.core.router.host_stamp();
        let pending = router::start_ask(admitted, self.host_address(), payload, stamp, timeout)?;
        Ok(router::finish_ask(pending))
    }

    /// Publish from the address `host` to every component subscribed to a matching pattern;
    /// returns how many subscribers it was queued for.
    pub fn publish(&self, topic: &str, payload: Payload) -> Result<u32, TopicError> {
        self.core
            .router
            .publish(self.host_address(), topic, payload, Some(TraceContext::new_root()))
            .map_err(TopicError::Invalid)
    }

    /// Messages that crashed their handler, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.core.dead_letters.snapshot()
    }

    /// The host's component storage, if it has one: read and edit a component's store
    /// (by component name), export and import it as JSON lines.
    pub fn storage(&self) -> Option<&crate::storage::Storage> {
        self.core.storage.as_ref()
    }

    /// How many times the named component (or pool member) was restarted, if it exists.
    pub fn restarts(&self, name: &str) -> Option<u32> {
        self.core.system.whereis(name).map(|h| h.metrics().restarts)
    }

    /// True when the engine uses the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.core.plain.engine.is_pooling()
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
        let report = self.core.system.shutdown(deadline).await;
        // The data directory is free for another host once this returns (a store the
        // embedder gave the host is the embedder's to close).
        if self.core.owns_storage
            && let Some(storage) = &self.core.storage
        {
            storage.close();
        }
        report
    }
}
