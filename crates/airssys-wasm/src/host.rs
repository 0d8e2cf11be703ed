//! The embedding API: build a host from component specs, start it, talk to it from outside,
//! and shut it down.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::{
    ChildSpec, Restart, ShutdownReport, SpawnOptions, Strategy, SupervisorRef, SupervisorSpec,
    System,
};
use wasmtime::component::{Component, Linker};

use crate::actor::{ComponentActor, DeadLetter, DeadLetters, Shared};
use crate::bindings::{self, Payload, RequestError, SendError, TopicError};
use crate::engine::{Engine, EngineConfig};
use crate::error::HostError;
use crate::router::{Policy, Router};
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
}

/// Builds a [`Host`].
#[derive(Debug, Default)]
pub struct HostBuilder {
    engine: EngineConfig,
    components: Vec<ComponentSpec>,
    intensity: Option<(u32, Duration)>,
}

impl HostBuilder {
    /// Engine settings (pooling, memory limit).
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
        let engine = Engine::new(&self.engine)?;
        let mut linker: Linker<HostState> = Linker::new(&engine.inner);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        bindings::Component::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::Engine(e.to_string()))?;

        let system = System::new();
        let router = Router::new(system.clone());
        let dead_letters = DeadLetters::default();
        let (max_restarts, period) = self.intensity.unwrap_or((10, Duration::from_secs(10)));
        let mut spec = SupervisorSpec::new(Strategy::OneForOne).intensity(max_restarts, period);
        let mut names = std::collections::HashSet::new();
        for c in self.components {
            if !names.insert(Arc::clone(&c.name)) {
                return Err(HostError::DuplicateName(c.name.to_string()));
            }
            let component = load(&engine, &c)?;
            let pre = linker.instantiate_pre(&component).map_err(|e| HostError::Load {
                name: c.name.to_string(),
                reason: format!("{e:#}"),
            })?;
            let pre = bindings::ComponentPre::new(pre).map_err(|e| HostError::Load {
                name: c.name.to_string(),
                reason: format!("it does not export the airssys:component world: {e:#}"),
            })?;
            let shared = Arc::new(Shared {
                address: Arc::clone(&c.name),
                engine: engine.clone(),
                pre,
                config: c.config.into(),
                router: router.clone(),
                dead_letters: dead_letters.clone(),
                cpu_per_message: c.cpu_per_message,
                max_memory_bytes: self.engine.max_memory_bytes,
                shutdown_deadline: Duration::from_secs(1),
            });
            let options = SpawnOptions::new()
                .mailbox(airssys_rt::MailboxConfig::bounded(c.mailbox))
                .name(Arc::clone(&c.name));
            spec = spec.child(
                ChildSpec::actor_with(
                    Arc::clone(&c.name),
                    move || ComponentActor::new(Arc::clone(&shared)),
                    options,
                )
                .restart(c.restart),
            );
            // Policies are known before anything starts, so components can message each
            // other from `init` on.
            router.insert(c.name, Policy { accepts: c.accepts.into(), max_payload: c.max_payload });
        }
        let supervisor = system.spawn_supervisor(spec).await.map_err(|e| match e {
            airssys_rt::SupervisorError::StartFailed { id, reason } => {
                HostError::Start { name: id, reason: reason.to_string() }
            }
            other => HostError::Start { name: "<host>".into(), reason: other.to_string() },
        })?;
        Ok(Host {
            system,
            supervisor,
            router,
            dead_letters,
            engine,
            host_address: Arc::from(HOST_ADDRESS),
        })
    }
}

fn load(engine: &Engine, spec: &ComponentSpec) -> Result<Component, HostError> {
    let bytes: Arc<[u8]> = match &spec.source {
        Source::Bytes(b) => Arc::clone(b),
        Source::File(path) => std::fs::read(path)
            .map_err(|source| HostError::Read {
                name: spec.name.to_string(),
                path: path.display().to_string(),
                source,
            })?
            .into(),
    };
    Component::new(&engine.inner, &bytes)
        .map_err(|e| HostError::Load { name: spec.name.to_string(), reason: format!("{e:#}") })
}

/// A running set of components.
#[derive(Debug)]
pub struct Host {
    system: System,
    supervisor: SupervisorRef,
    router: Router,
    dead_letters: DeadLetters,
    engine: Engine,
    host_address: Arc<str>,
}

impl Host {
    /// Start building a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Send a message to a component, from the address `host`.
    pub fn send(&self, target: &str, payload: Payload) -> Result<(), SendError> {
        self.router.send(&self.host_address, target, payload)
    }

    /// Call a component from the address `host` and wait for its response.
    pub async fn call(
        &self,
        target: &str,
        payload: Payload,
        timeout: Duration,
    ) -> Result<Option<Payload>, RequestError> {
        self.router.call(&self.host_address, target, payload, timeout).await
    }

    /// Publish from the address `host` to every component subscribed to a matching pattern;
    /// returns how many subscribers it was queued for.
    pub fn publish(&self, topic: &str, payload: Payload) -> Result<u32, TopicError> {
        self.router.publish(&self.host_address, topic, payload).map_err(TopicError::Invalid)
    }

    /// Messages that crashed their handler, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters.snapshot()
    }

    /// How many times the named component was restarted, if it exists.
    pub fn restarts(&self, name: &str) -> Option<u32> {
        self.system.whereis(name).map(|h| h.metrics().restarts)
    }

    /// True when the engine uses the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.engine.is_pooling()
    }

    /// Stop every component gracefully (each gets its `shutdown` call) in reverse start
    /// order, killing what is still running after `deadline`.
    pub async fn shutdown(self, deadline: Duration) -> ShutdownReport {
        let _ = &self.supervisor;
        self.system.shutdown(deadline).await
    }
}
