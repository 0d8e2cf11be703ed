//! Building and starting a host: [`HostBuilder`], and the supervision tree it starts the
//! components under ([`Supervision`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airssys_rt::{ChildSpec, Strategy, SupervisorRef, SupervisorSpec};
use wasmtime::component::Linker;

use super::code::LinkerHook;
use super::spec::ComponentSpec;
use super::{HOST_ADDRESS, Host, HostParts};
use crate::engine::EngineConfig;
use crate::error::HostError;
use crate::service::ServiceSpec;
use crate::state::HostState;

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
    pub(crate) spans: Option<Arc<dyn crate::spans::SpanSink>>,
    pub(crate) http: Vec<super::HttpRoute>,
    pub(crate) progress: Option<Arc<crate::StartProgress>>,
}

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder")
            .field("components", &self.components)
            .field("services", &self.services)
            .field("linker_hooks", &self.linker_hooks.len())
            .finish_non_exhaustive()
    }
}

/// A supervisor's restart intensity unless one is set: 10 restarts within 10 s.
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

    /// Keep compiled components in `dir`, so that a later start of the same component skips
    /// compilation (the same as [`EngineConfig::cache_dir`]; it replaces the one set there).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.engine.cache_dir = Some(dir.into());
        self
    }

    /// Whether an artifact cache is set (by [`HostBuilder::cache_dir`], the engine settings
    /// or the manifest).
    pub fn has_cache_dir(&self) -> bool {
        self.engine.cache_dir.is_some()
    }

    /// Add a component. Components start in the order added.
    pub fn component(mut self, spec: ComponentSpec) -> Self {
        self.components.push(spec);
        self
    }

    /// Take the components out of the builder, and the supervision tree that placed them,
    /// for a caller that starts them itself with [`Host::spawn`] (each under the root
    /// supervisor), one by one: a cluster, say, that runs each on one of its hosts.
    pub fn take_components(&mut self) -> Vec<ComponentSpec> {
        self.tree = None;
        std::mem::take(&mut self.components)
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
    /// nobody added fails to load.
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

    /// Record spans: one for each message a component handles and each call or send the
    /// host makes, linked into traces across components, handed to `sink` as they finish
    /// (`spans.rs`). Without a sink nothing is recorded.
    pub fn spans(mut self, sink: Arc<dyn crate::spans::SpanSink>) -> Self {
        self.spans = Some(sink);
        self
    }

    /// Count the start's progress in `progress` (instances whose first `init` finished, of
    /// all it makes), for the embedder to show while a large app starts.
    pub fn progress(mut self, progress: Arc<crate::StartProgress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Serve an HTTP route: requests to its address whose path falls under its prefix go to
    /// its component (`host/http.rs`). Listeners are bound once the components started.
    pub fn http(mut self, route: super::HttpRoute) -> Self {
        self.http.push(route);
        self
    }

    /// Compile every component, link it against the contract and start them all under one
    /// one-for-one supervisor. Must be called inside a tokio runtime.
    pub async fn start(self) -> Result<Host, HostError> {
        let audit = self.audit.map(crate::audit::Audit::new).unwrap_or_default();
        // Calibrate the clock the vital signs read, here rather than in a component's first
        // message.
        let _ = crate::vitals::now();
        let mut parts =
            HostParts::new(self.engine, audit, self.trust, self.transport, self.linker_hooks)?;
        parts.owns_storage = self.storage.is_none() && self.data_dir.is_some();
        parts.spans = self.spans;
        parts.storage = match (self.storage, &self.data_dir) {
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
        parts.data_dir = self.data_dir.as_ref().and_then(|d| std::fs::canonicalize(d).ok());
        parts.protected = self.protected;
        let engines = [parts.plain.engine.cache_dir(), parts.data_dir.as_deref()];
        for (dir, what) in
            engines.into_iter().zip(["the host's artifact cache", "the host's data directory"])
        {
            if let Some(dir) = dir {
                parts.protected.push(crate::protected::Protected::dir(dir, what));
            }
        }
        let parts = Arc::new(parts);
        // Services first: their names are taken before any component's.
        let mut service_children = Vec::new();
        for service in &self.services {
            service_children.push(parts.prepare_service(service)?);
        }
        let service_names: Vec<Arc<str>> =
            self.services.iter().map(|s| Arc::clone(&s.name)).collect();
        // Reading and compiling the components blocks: it runs off the executor.
        let preparing = Arc::clone(&parts);
        let components = self.components;
        let prepared = tokio::task::spawn_blocking(move || {
            components.iter().map(|c| preparing.prepare(c)).collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| blocking_failed("<host>", e))??;
        // Each fits the pool alone (checked as it was prepared); all of them must fit it
        // together too, or the start would fail halfway with a full pool.
        if let Some(pool) = parts.plain.engine.pool() {
            let pooled: Vec<_> = prepared
                .iter()
                .filter(|(_, info)| info.spec.fuel.is_none())
                .map(|(_, info)| (info.code.footprint, info.spec.instances))
                .collect();
            if let Some(reason) = pool.refuses_together(&pooled) {
                return Err(HostError::PoolTooSmall(reason));
            }
        }
        // Every instance takes memory mappings; past the kernel's limit none can be made and
        // the process's own allocations fail, so the app must fit it before anything starts.
        // (A fuel-metering engine always allocates on demand.)
        let pooling = parts.plain.engine.is_pooling();
        let (pooled, on_demand) = prepared.iter().fold((0, 0), |(p, d), (_, info)| {
            let n = u64::from(info.spec.instances);
            if pooling && info.spec.fuel.is_none() { (p + n, d) } else { (p, d + n) }
        });
        if let Some(reason) = crate::engine::mappings_refuse_off_executor(pooled, on_demand).await {
            return Err(HostError::MappingLimit(format!("the app's {reason}")));
        }
        if let Some(progress) = &self.progress {
            for (_, info) in &prepared {
                info.count_in(progress);
            }
        }
        let mut started = Vec::new();
        let mut children: HashMap<Arc<str>, Vec<ChildSpec>> = HashMap::new();
        for (specs, info) in prepared {
            children.insert(Arc::clone(&info.name), specs);
            started.push(info);
        }
        // Joined to other hosts: every name is taken in the cluster before anything starts
        // (and given up again if the start fails).
        let mut claims = Claims { parts: Arc::clone(&parts), names: Vec::new() };
        if let Some(transport) = parts.router.transport() {
            for info in &started {
                transport
                    .claim(&info.name)
                    .await
                    .map_err(|source| HostError::Claim { name: info.name.to_string(), source })?;
                claims.names.push(Arc::clone(&info.name));
            }
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
        let supervisor = parts.system.spawn_supervisor(spec).await.map_err(start_error)?;
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
        claims.names.clear();
        let mut components = HashMap::new();
        for mut info in started {
            info.nested = placed.iter().any(|(n, nested)| *n == info.name && *nested);
            components.insert(Arc::clone(&info.name), info);
        }
        let names = |name: &str| {
            components.contains_key(name) || service_names.iter().any(|s| &**s == name)
        };
        let listeners = match super::http::serve(&self.http, &parts.router, names).await {
            Ok(listeners) => listeners,
            Err(e) => {
                supervisor.stop();
                let _ = supervisor.wait_for_exit().await;
                return Err(e);
            }
        };
        Ok(Host {
            http: Arc::new(Mutex::new(listeners)),
            parts,
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
pub(super) fn blocking_failed(name: &str, e: tokio::task::JoinError) -> HostError {
    HostError::Start { name: name.to_owned(), reason: format!("preparing it failed: {e}") }
}

pub(super) fn with_intensity(child: ChildSpec, intensity: Option<(u32, Duration)>) -> ChildSpec {
    match intensity {
        Some((max, period)) => child.intensity(max, period),
        None => child,
    }
}

pub(super) fn start_error(e: airssys_rt::SupervisorError) -> HostError {
    match e {
        airssys_rt::SupervisorError::StartFailed { id, reason } => {
            HostError::Start { name: id, reason: reason.to_string() }
        }
        airssys_rt::SupervisorError::DuplicateId(id) => HostError::DuplicateName(id),
        other => HostError::Start { name: "<host>".into(), reason: other.to_string() },
    }
}

/// Names a starting host claimed in its cluster, given up again unless the start finishes.
struct Claims {
    parts: Arc<HostParts>,
    names: Vec<Arc<str>>,
}

impl Drop for Claims {
    fn drop(&mut self) {
        if let Some(transport) = self.parts.router.transport() {
            for name in &self.names {
                transport.release(name);
            }
        }
    }
}

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
