//! The app manifest (TOML): components, their configuration, limits and grants, and the
//! supervision tree. `docs/manifest.md` describes the format; `docs/manifest.schema.json` is
//! its JSON Schema, generated from these types.
//!
//! Parsing is strict: unknown fields are errors, and every error names the file, the line and
//! column, and what was expected.

#[path = "manifest/values.rs"]
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// The most instances a pool may have: a million. Whether that many fit is for the
/// engine's instance pool (`[engine] pool_components`) and the machine to say; the host
/// names the limit that stops them.
pub const MAX_POOL_INSTANCES: u32 = 1_000_000;

pub use values::{ByteSize, Duration};

/// A parsed manifest.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The app's identity.
    pub app: App,
    /// Engine settings shared by every component.
    #[serde(default)]
    pub engine: EngineSection,
    /// Where the host's audit log goes.
    #[serde(default)]
    pub audit: AuditSection,
    /// Which components the host loads. Required to run the app: trusted keys, or an explicit
    /// development mode.
    #[serde(default)]
    pub trust: Option<TrustSection>,
    /// The components, by name (their addresses), in start order.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ComponentSection>")]
    pub components: IndexMap<String, ComponentSection>,
    /// The root supervisor. Components not named in any supervisor's `children` are added to
    /// it, after its listed children, in the order they are declared.
    #[serde(default)]
    pub supervisor: SupervisorSection,
    /// Nested supervisors, by name; a supervisor's `children` may name them.
    #[serde(default)]
    pub supervisors: BTreeMap<String, SupervisorSection>,
    /// The cluster `airssys up` joins (read by the command line; the host itself is joined
    /// by its embedder, through `HostBuilder::transport`).
    #[serde(default)]
    pub cluster: ClusterSection,
    /// HTTP routes (`[[http]]`): requests to an address whose path starts with a prefix go
    /// to a component (a `wasi:http/proxy` component as they are, one of our own world as a
    /// message; `docs/http.md`).
    #[serde(default)]
    pub http: Vec<HttpSection>,
}

/// `[[http]]`: one HTTP route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// The address to listen on, `ip:port` (default `127.0.0.1:8080`: loopback only).
    #[serde(default)]
    pub listen: Option<String>,
    /// The path prefix (default `/`): the longest prefix that matches a request's path wins.
    #[serde(default)]
    pub path: Option<String>,
    /// The component (or pool) that handles the requests.
    #[schemars(with = "String")]
    pub component: Spanned<String>,
    /// Largest request body (default `1MiB`): past it, `413`.
    #[serde(default)]
    pub max_body: Option<ByteSize>,
    /// Time from a request's arrival to its response (default `30s`): past it, `503`.
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Requests handled at once (default 256): past it, `503` at once.
    #[serde(default)]
    pub concurrency: Option<u32>,
}

/// `[cluster]`: run the app on a cluster of hosts joined through NATS. Per-host settings
/// (the host's id, which components it places) are `airssys up` flags, which also take
/// precedence over these.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// The NATS server (`nats://host:4222`, JetStream enabled); without it the app runs on
    /// one host.
    #[serde(default)]
    pub url: Option<String>,
    /// The cluster's name: 1 to 64 ASCII letters, digits, `-` or `_` (default: the app's
    /// name, other characters made `-`).
    #[serde(default)]
    pub name: Option<String>,
    /// A NATS credentials file (`.creds`), relative to the manifest.
    #[serde(default)]
    pub credentials: Option<PathBuf>,
    /// Where the components' storage is kept: `"host"` (the default: each host's own
    /// database, as on one host) or `"cluster"` (the cluster's JetStream key-value bucket,
    /// so that a component started on another host sees its data).
    #[serde(default)]
    pub storage: StoragePlace,
}

/// Where a clustered app keeps its components' storage (`[cluster] storage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoragePlace {
    /// Each host's own database (redb, under `[app] data_dir`).
    #[default]
    Host,
    /// The cluster's JetStream key-value bucket: it follows a component from host to host.
    Cluster,
}

/// `[app]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// The app's name.
    pub name: String,
    /// Its version, free-form.
    #[serde(default)]
    pub version: Option<String>,
    /// Where durable data (component storage) lives, relative to the manifest (default
    /// `.airssys/data` when a component is granted storage).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
}

/// `[engine]`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Size the pooling allocator for this many live components (0: allocate on demand).
    #[serde(default)]
    pub pool_components: Option<u32>,
    /// The largest linear memory any component may have (default 64MiB).
    #[serde(default)]
    pub max_memory: Option<ByteSize>,
    /// A private directory for compiled components (relative to the manifest).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// How the instance pool lays memories out: `"auto"` (default), `"wide"` (4 GiB of
    /// address space each, no bounds checks) or `"dense"` (only `max_memory` each, bounds
    /// checked: for pools of many thousands).
    #[serde(default)]
    pub memory_layout: MemoryLayoutSetting,
}

/// `[engine] memory_layout`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemoryLayoutSetting {
    /// Wide unless the pool would take more than 32 TiB of address space.
    #[default]
    Auto,
    /// 4 GiB of address space per memory; no bounds checks.
    Wide,
    /// `max_memory` plus a 2 MiB guard per memory; bounds checked.
    Dense,
}

/// `[trust]`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustSection {
    /// Public keys (64 hex digits) whose signatures the host accepts.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Load unsigned components (development only; the host warns when it starts).
    #[serde(default)]
    pub development: bool,
}

/// `[audit]`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// Append audit records to this file as JSON lines (relative to the manifest); without
    /// it they go to `tracing`.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// How a component is restarted by its supervisor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Always restarted.
    #[default]
    Permanent,
    /// Restarted only after a crash.
    Transient,
    /// Never restarted.
    Temporary,
}

/// `[components.NAME]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentSection {
    /// The component's `.wasm` file, relative to the manifest.
    #[schemars(with = "Option<PathBuf>")]
    pub source: Option<Spanned<PathBuf>>,
    /// A guest crate to build instead (built by `airssys build`; the host loads `source`).
    #[serde(default)]
    pub build: Option<PathBuf>,
    /// Configuration passed to `init` and readable with `config.get`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Codecs it accepts, by name (`raw`, `json`, `cbor`, `messagepack`, `protobuf`) or
    /// multicodec code; empty: any.
    #[serde(default)]
    pub accepts: Vec<Codec>,
    /// Its restart type (default `permanent`).
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Run this many instances as a pool (`NAME/0` ..); default 1.
    #[serde(default)]
    pub instances: Option<u32>,
    /// Its limits.
    #[serde(default)]
    pub limits: Limits,
    /// What it may do; nothing by default.
    #[serde(default)]
    pub grants: Grants,
}

/// A codec, by name or multicodec code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "values::CodecSchema")]
pub struct Codec(pub u32);

/// `[components.NAME.limits]`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Its memory: every linear memory and table of an instance together (at most the
    /// engine's).
    #[serde(default)]
    pub memory: Option<ByteSize>,
    /// CPU time per message handler (default 1s).
    #[serde(default)]
    pub cpu_per_message: Option<Duration>,
    /// Fuel per message handler (opt-in instruction metering).
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Mailbox capacity in messages (default 1024).
    #[serde(default)]
    pub mailbox: Option<usize>,
    /// Largest accepted payload (default 1MiB).
    #[serde(default)]
    pub max_payload: Option<ByteSize>,
    /// Messages it may send per second (`send`, `request`, `call`, `publish`), as a token
    /// bucket.
    #[serde(default)]
    pub rate: Option<Rate>,
    /// Requests it may have pending at once.
    #[serde(default)]
    pub pending_requests: Option<u32>,
    /// Wall-clock time its start (instantiation and `init`) may take before the start fails
    /// (default 5s).
    #[serde(default)]
    pub init_timeout: Option<Duration>,
    /// Bytes of payload its mailbox may hold (default 16MiB, never less than
    /// `max_payload`).
    #[serde(default)]
    pub mailbox_bytes: Option<ByteSize>,
    /// Topic subscriptions an instance may hold (default 1024).
    #[serde(default)]
    pub subscriptions: Option<u32>,
    /// Files, directories and sockets an instance may hold open (default 64).
    #[serde(default)]
    pub open_files: Option<u32>,
    /// Its output budget (stdout, stderr and logging together).
    #[serde(default)]
    pub output: Option<OutputLimit>,
}

/// An output budget: lines and bytes per second, with bursts; lines over it are dropped
/// and counted.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputLimit {
    /// Lines per second (default 200).
    #[serde(default)]
    pub lines_per_second: Option<u32>,
    /// Lines at once (default 2000).
    #[serde(default)]
    pub burst_lines: Option<u32>,
    /// Bytes per second (default 256KiB).
    #[serde(default)]
    pub bytes_per_second: Option<ByteSize>,
    /// Bytes at once (default 2MiB).
    #[serde(default)]
    pub burst_bytes: Option<ByteSize>,
}

/// A token bucket.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: u32,
    /// Bucket size: how many may go at once.
    pub burst: u32,
}

/// `[components.NAME.grants]`: deny by default.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Addresses it may `send` to (patterns: `*` matches within a name).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub send: Vec<Spanned<String>>,
    /// Addresses it may `request` or `call`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub request: Vec<Spanned<String>>,
    /// Senders it accepts messages from (default: anyone; `host` is the embedding host).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub accept_from: Option<Vec<Spanned<String>>>,
    /// Topic patterns it may publish to (`*` one segment, `#` the rest).
    #[serde(default)]
    pub publish: Vec<String>,
    /// Topic patterns it may subscribe to.
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// Addresses it may link to or monitor (patterns: `*` matches within a name).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub link: Vec<Spanned<String>>,
    /// Durable storage and its quota.
    #[serde(default)]
    pub storage: Option<StorageGrant>,
    /// Host directories it sees, and where.
    #[serde(default)]
    pub filesystem: Vec<DirGrant>,
    /// Environment variables it sees (their values come from the host's environment).
    #[serde(default)]
    pub env: Vec<String>,
    /// Outbound and inbound network access.
    #[serde(default)]
    pub network: NetworkGrant,
    /// Commands it may run.
    #[serde(default)]
    pub process: Vec<ProcessGrant>,
}

/// Storage and its quota.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageGrant {
    /// Total bytes of keys and values.
    pub quota: ByteSize,
    /// Number of keys.
    pub keys: u64,
}

/// A host directory mounted into the component.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// The host directory (relative to the manifest); it must exist.
    #[schemars(with = "PathBuf")]
    pub host: Spanned<PathBuf>,
    /// Where the component sees it (`/data`).
    pub guest: String,
    /// `ro` (default) or `rw`.
    #[serde(default)]
    pub mode: DirMode,
}

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DirMode {
    /// Read-only.
    #[default]
    Ro,
    /// Read-write.
    Rw,
}

/// Network grants: `ip:port` patterns (`127.0.0.1:8080`, `10.0.0.*:443`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkGrant {
    /// Addresses it may open TCP connections to.
    #[serde(default)]
    pub connect: Vec<String>,
    /// Addresses it may listen on (TCP).
    #[serde(default)]
    pub listen: Vec<String>,
    /// Addresses it may bind UDP sockets to and send to.
    #[serde(default)]
    pub udp: Vec<String>,
}

/// A command it may run, and the arguments allowed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessGrant {
    /// The program: a name found on the host's `PATH`, or a path (relative to the manifest's
    /// directory). It must exist when the host starts.
    pub command: String,
    /// Patterns each argument must match, in order; `**` as the last one allows any further
    /// arguments. Empty: no arguments.
    #[serde(default)]
    pub args: Vec<String>,
}

/// A supervisor: its strategy, intensity and children.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupervisorSection {
    /// `one-for-one` (default), `one-for-all` or `rest-for-one`.
    #[serde(default)]
    pub strategy: SupervisorStrategy,
    /// Restart intensity (default 10 restarts within 10s).
    #[serde(default)]
    pub intensity: Option<Intensity>,
    /// Children in start order: component names or supervisor names.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub children: Vec<Spanned<String>>,
}

/// A supervision strategy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SupervisorStrategy {
    /// Restart only the child that failed.
    #[default]
    OneForOne,
    /// Restart every child.
    OneForAll,
    /// Restart the failed child and those started after it.
    RestForOne,
}

/// At most `restarts` within `within`; beyond that the supervisor gives up.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Intensity {
    /// How many restarts.
    pub restarts: u32,
    /// In what window.
    pub within: Duration,
}

/// Why a manifest cannot be used. The message names the file, the line and column when
/// known, and what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// It is not valid TOML, or a field is unknown, missing or of the wrong type.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what was expected.
        message: String,
    },
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

impl Manifest {
    /// Read and check the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = crate::untrusted_file::read_text(path, crate::untrusted_file::MAX_TEXT_BYTES)
            .map_err(|source| ManifestError::Read { path: path.to_owned(), source })?;
        Manifest::parse(&text, &path.display().to_string())
    }

    /// Parse and check manifest text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_column(text, s.start));
            // The offending line shows which field it is.
            let source_line = text.lines().nth(line - 1).unwrap_or("").trim();
            let message = format!("{} (at `{source_line}`)", e.message().trim_end());
            ManifestError::Invalid { file: file.to_owned(), line, column, message }
        })?;
        manifest.check().map_err(|(span, message)| {
            let (line, column) = match span {
                Some(span) => line_column(text, span.start),
                None => (1, 1),
            };
            ManifestError::Invalid { file: file.to_owned(), line, column, message }
        })?;
        Ok(manifest)
    }

    /// Cross-field checks: every child names something that exists, once; a component has a
    /// source; grants name components that exist.
    fn check(&self) -> Result<(), (Option<std::ops::Range<usize>>, String)> {
        for name in self.supervisors.keys() {
            if name == "(root)" {
                return Err((None, "\"(root)\" is reserved for the root supervisor".into()));
            }
            if self.components.contains_key(name) {
                return Err((None, format!("{name:?} names both a component and a supervisor")));
            }
        }
        for (name, c) in &self.components {
            if c.instances.is_some_and(|n| n > MAX_POOL_INSTANCES) {
                return Err((
                    None,
                    format!(
                        "component {name:?}: a pool has at most {MAX_POOL_INSTANCES} instances"
                    ),
                ));
            }
            let day = std::time::Duration::from_secs(24 * 3600);
            if c.limits.cpu_per_message.is_some_and(|d| d.0 > day) {
                return Err((None, format!("component {name:?}: cpu_per_message is at most 24h")));
            }
            if c.limits.init_timeout.is_some_and(|d| d.0 > day || d.0.is_zero()) {
                return Err((
                    None,
                    format!("component {name:?}: init_timeout is more than 0 and at most 24h"),
                ));
            }
        }
        for route in &self.http {
            let component = route.component.get_ref();
            if !self.components.contains_key(component) {
                return Err((
                    Some(route.component.span()),
                    format!("[[http]] names {component:?}, but no component has that name"),
                ));
            }
            if let Some(listen) = &route.listen
                && listen.parse::<std::net::SocketAddr>().is_err()
            {
                return Err((
                    Some(route.component.span()),
                    format!("[[http]] listen {listen:?} is not an ip:port address"),
                ));
            }
            if route.path.as_ref().is_some_and(|p| !p.starts_with('/')) {
                return Err((
                    Some(route.component.span()),
                    "[[http]] path must start with `/`".into(),
                ));
            }
            if route
                .timeout
                .is_some_and(|t| t.0.is_zero() || t.0 > std::time::Duration::from_secs(3600))
            {
                return Err((
                    Some(route.component.span()),
                    "[[http]] timeout is more than 0 and at most 1h".into(),
                ));
            }
            if route.concurrency == Some(0) || route.max_body.is_some_and(|b| b.0 == 0) {
                return Err((
                    Some(route.component.span()),
                    "[[http]] concurrency and max_body are above zero".into(),
                ));
            }
        }
        let long = std::time::Duration::from_secs(365 * 24 * 3600);
        let intensities = std::iter::once(&self.supervisor).chain(self.supervisors.values());
        if intensities.filter_map(|s| s.intensity).any(|i| i.within.0 > long) {
            return Err((None, "a supervisor's intensity window is at most a year".into()));
        }
        let mut placed: BTreeMap<&str, &str> = BTreeMap::new();
        let sups = std::iter::once(("(root)", &self.supervisor))
            .chain(self.supervisors.iter().map(|(n, s)| (n.as_str(), s)));
        for (sup, section) in sups {
            for child in &section.children {
                let name = child.get_ref().as_str();
                let known =
                    self.components.contains_key(name) || self.supervisors.contains_key(name);
                if !known {
                    return Err((
                        Some(child.span()),
                        format!(
                            "supervisor {sup} names {name:?}, which is neither a component nor a supervisor"
                        ),
                    ));
                }
                if name == sup {
                    return Err((Some(child.span()), format!("supervisor {sup} lists itself")));
                }
                if let Some(other) = placed.insert(name, sup) {
                    return Err((
                        Some(child.span()),
                        format!(
                            "{name:?} is a child of both supervisor {other} and supervisor {sup}"
                        ),
                    ));
                }
            }
        }
        for name in self.supervisors.keys() {
            if !placed.contains_key(name.as_str()) {
                return Err((None, format!("supervisor {name} is not a child of any supervisor")));
            }
        }
        // A nested supervisor must not contain its own ancestor.
        for start in self.supervisors.keys() {
            let mut seen = vec![start.as_str()];
            let mut at = start.as_str();
            while let Some(parent) = placed.get(at).copied().filter(|p| *p != "(root)") {
                if seen.contains(&parent) {
                    return Err((None, format!("supervisors {} form a cycle", seen.join(" -> "))));
                }
                seen.push(parent);
                at = parent;
            }
        }
        for (name, component) in &self.components {
            if component.source.is_none() {
                return Err((
                    None,
                    format!(
                        "component {name:?} has no `source` (build it with `airssys build` and point `source` at the .wasm)"
                    ),
                ));
            }
            let grants = &component.grants;
            let targets = grants.send.iter().chain(&grants.request).chain(&grants.link);
            for target in targets.chain(grants.accept_from.iter().flatten()) {
                let t = target.get_ref();
                let exact = !t.contains('*');
                let base = t.split('/').next().unwrap_or(t);
                if exact && t != crate::address::HOST_ADDRESS && !self.components.contains_key(base)
                {
                    return Err((
                        Some(target.span()),
                        format!(
                            "component {name:?} is granted {t:?}, but no component has that name"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
