//! What a component is made of: where its code comes from, its name, configuration,
//! grants and limits ([`ComponentSpec`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::Restart;

use crate::capability::{Grants, RateLimit, WasiGrants};
use crate::error::HostError;

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
    pub(super) name: Arc<str>,
    pub(super) source: Source,
    pub(super) config: Vec<(String, String)>,
    pub(super) accepts: Vec<u32>,
    pub(super) restart: Restart,
    pub(super) mailbox: usize,
    pub(super) max_payload: usize,
    pub(super) cpu_per_message: Duration,
    pub(super) max_memory: Option<usize>,
    pub(super) fuel: Option<u64>,
    pub(super) instances: u32,
    pub(super) grants: Grants,
    pub(super) wasi: WasiGrants,
    pub(super) commands: Vec<crate::process::CommandGrant>,
    pub(super) storage: Option<crate::storage::Quota>,
    pub(super) signature: Option<crate::trust::ComponentSignature>,
    pub(super) rate: Option<RateLimit>,
    pub(super) pending_requests: Option<u32>,
    pub(super) init_timeout: Duration,
    pub(super) mailbox_bytes: Option<usize>,
    pub(super) subscriptions: u32,
    pub(super) open_files: u32,
    pub(super) output: crate::output::OutputLimit,
    pub(super) http_client: crate::outgoing::HttpClientLimits,
}

/// How long a component's start (instantiation and `init`) may take by default.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default bytes of payload a mailbox holds.
pub(super) const DEFAULT_MAILBOX_BYTES: usize = 16 << 20;

impl ComponentSpec {
    /// A component named `name` (its address) with code from `source`. Defaults: accepts
    /// every codec, permanent restart, a mailbox of 1024 messages, payloads up to 1 MiB,
    /// 1 s of CPU per message, 5 s for its start.
    ///
    /// ```
    /// use std::time::Duration;
    /// use airssys_wasm::{ComponentSpec, Grants, Source, codec};
    ///
    /// let spec = ComponentSpec::new("orders", Source::File("orders.wasm".into()))
    ///     .accepts(&[codec::JSON])
    ///     .instances(4) // a pool: orders/0 .. orders/3, served round-robin
    ///     .cpu_per_message(Duration::from_millis(200))
    ///     .grants(Grants { send: vec!["billing".into()], ..Grants::default() });
    /// # drop(spec);
    /// ```
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
            http_client: crate::outgoing::HttpClientLimits::default(),
        }
    }

    /// Wall-clock time a start (instantiating the component and running its `init`) may
    /// take; past it the start fails, so that a supervisor never waits on an `init` that
    /// sleeps or waits on others. The CPU budget bounds only the time `init` computes.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout.clamp(Duration::from_millis(1), MAX_CPU_PER_MESSAGE);
        self
    }

    /// Its name (its address; a pool's members are `name/0`, `name/1`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its restart type: whether its supervisor starts it again when it ends.
    pub fn restart_type(&self) -> Restart {
        self.restart
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

    /// Limits on its outgoing HTTP requests (`wasi:http/outgoing-handler`): connect and
    /// response timeouts, largest response body. Which hosts it may reach are its network
    /// grants ([`network`](Self::network)).
    pub fn http_client(mut self, limits: crate::outgoing::HttpClientLimits) -> Self {
        self.http_client = limits;
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

/// The largest pool (whether that many fit is the engine's instance pool's and the
/// machine's to say: `HostError::PoolTooSmall` and the named limits).
pub(super) const MAX_INSTANCES: u32 = crate::manifest::MAX_POOL_INSTANCES;

/// The longest CPU budget per message (longer ones are cut to it).
const MAX_CPU_PER_MESSAGE: Duration = Duration::from_secs(24 * 3600);

/// Names are addresses: 1 to 128 ASCII letters, digits, `-`, `_` or `.`; `host` is the
/// host's own address, and `/` separates a pool from its members.
pub(crate) fn validate_name(name: &str) -> Result<(), HostError> {
    if crate::address::is_name(name) {
        Ok(())
    } else {
        Err(HostError::InvalidName(name.to_owned()))
    }
}
