//! `airssys up` (an app from its manifest) and `airssys run` (one component from flags): run
//! in the foreground with readable logs and a control socket until Ctrl-C (or SIGTERM), then
//! shut down gracefully.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::{ComponentSpec, HostBuilder, Source};
use anyhow::{Context, bail};

use crate::Globals;
use crate::control::{Served, bind, serve, socket_for};
use crate::output::{emit, note};
use crate::payload::CodecArg;

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The app manifest (default: ./airssys.toml).
    manifest: Option<PathBuf>,
    /// How long components get to stop when the app is stopped, in seconds.
    #[arg(long, default_value_t = 10)]
    grace: u64,
    /// Join a cluster through the NATS server at this URL (it needs JetStream: `nats-server
    /// -js`; default: the manifest's `[cluster] url`). Each component runs on one host of
    /// the cluster; this host stands by for the ones another host runs, and starts them if
    /// that host is lost.
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// The cluster's name (default: the manifest's `[cluster] name`, or the app's name).
    #[arg(long, value_name = "NAME")]
    cluster_name: Option<String>,
    /// This host's id in the cluster (default: a random one).
    #[arg(long, value_name = "ID")]
    host_id: Option<String>,
    /// A NATS credentials file (`.creds`: a user JWT and its nkey seed; default: the
    /// manifest's `[cluster] credentials`).
    #[arg(long, value_name = "FILE")]
    nats_creds: Option<PathBuf>,
    /// A NATS user (its password comes from `AIRSSYS_NATS_PASSWORD`).
    #[arg(long, value_name = "USER", env = "AIRSSYS_NATS_USER")]
    nats_user: Option<String>,
    /// Place only these of the app's components on this host (run each, or stand by for it
    /// when another host runs it); by default, all of them.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    components: Vec<String>,
    /// Watch the app's component projects: rebuild one when its sources change, and
    /// upgrade its components in place (what `airssys dev` does).
    #[arg(long)]
    watch: bool,
    /// Serve the live observer page and Prometheus `/metrics` on ADDR (default
    /// 127.0.0.1:7878). Its address, token included, is printed at start; every request
    /// without the token is refused.
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:7878"
    )]
    observe: Option<std::net::SocketAddr>,
    /// Let `--observe` listen on an address that is not loopback (anyone who reaches it
    /// with the token can stop and upgrade components).
    #[arg(long, requires = "observe")]
    observe_remote: bool,
    /// Export traces over OTLP/HTTP to this collector (e.g. http://127.0.0.1:4318): a span
    /// for every message a component handles and every call the host makes, linked across
    /// components.
    #[arg(long, value_name = "URL", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp: Option<String>,
    /// Show how many instances have started while the app starts, also when stderr is not
    /// a terminal (on a terminal it is shown anyway, unless --quiet).
    #[arg(long)]
    progress: bool,
}

impl UpArgs {
    /// The same, watching (`airssys dev`).
    pub fn watching(mut self) -> Self {
        self.watch = true;
        self
    }
}

/// The cluster `up` joins: from `--cluster`, or the manifest's `[cluster]` (whose relative
/// paths are relative to `base`).
async fn join(
    args: &UpArgs,
    manifest: &airssys_wasm::manifest::Manifest,
    base: &Path,
) -> anyhow::Result<Option<airssys_cluster::Cluster>> {
    use airssys_cluster::{Cluster, ClusterConfig, Credentials};
    let section = &manifest.cluster;
    let Some(url) = args.cluster.as_ref().or(section.url.as_ref()) else {
        let per_cluster = [
            ("--cluster-name", args.cluster_name.is_some()),
            ("--host-id", args.host_id.is_some()),
            ("--nats-creds", args.nats_creds.is_some()),
            ("--components", !args.components.is_empty()),
        ];
        if let Some((flag, _)) = per_cluster.iter().find(|(_, given)| *given) {
            bail!(
                "{flag} needs a cluster: pass --cluster URL, or set [cluster] url in the manifest"
            );
        }
        return Ok(None);
    };
    // An app's name may hold characters a cluster name may not.
    let app = &manifest.app.name;
    let default_name: String =
        app.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
    let name = args.cluster_name.clone().or_else(|| section.name.clone()).unwrap_or(default_name);
    let mut config = ClusterConfig::new(url, name);
    if let Some(id) = &args.host_id {
        config = config.host_id(id);
    }
    let creds_file =
        args.nats_creds.clone().or_else(|| section.credentials.as_ref().map(|f| base.join(f)));
    let credentials = match (&creds_file, &args.nats_user) {
        (Some(file), _) => Credentials::File(file.clone()),
        (None, Some(user)) => Credentials::UserPassword {
            user: user.clone(),
            password: std::env::var("AIRSSYS_NATS_PASSWORD").unwrap_or_default(),
        },
        (None, None) => match std::env::var("AIRSSYS_NATS_TOKEN") {
            Ok(token) => Credentials::Token(token),
            Err(_) => Credentials::None,
        },
    };
    let cluster = Cluster::join(config.credentials(credentials))
        .await
        .with_context(|| format!("cannot join the cluster at {url}"))?;
    Ok(Some(cluster))
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The component file (`.wasm`).
    file: PathBuf,
    /// Its name (its address; default: the file name without extension).
    #[arg(long)]
    name: Option<String>,
    /// Let it read a host directory: HOST, or HOST::GUEST to show it at another path.
    #[arg(long, value_name = "HOST[::GUEST]")]
    dir: Vec<String>,
    /// Let it read and write a host directory: HOST, or HOST::GUEST.
    #[arg(long, value_name = "HOST[::GUEST]")]
    dir_rw: Vec<String>,
    /// Let it see an environment variable: KEY=VALUE, or KEY for the host's value.
    #[arg(long, value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Let it open TCP connections to IP:PORT (patterns with `*`).
    #[arg(long, value_name = "IP:PORT")]
    allow_host: Vec<String>,
    /// A configuration value: KEY=VALUE.
    #[arg(long, value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Give it durable storage with this quota (like `1MiB`), in ./.airssys/data.
    #[arg(long, value_name = "SIZE")]
    storage: Option<String>,
    /// Call it once with this payload, print the response and exit (instead of running until
    /// Ctrl-C).
    #[arg(long, value_name = "PAYLOAD")]
    call: Option<String>,
    /// The codec of --call's payload.
    #[arg(long, value_enum, default_value_t = CodecArg::Json)]
    codec: CodecArg,
    /// How long --call waits, in seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// For a wasi:http/proxy component: the address to serve HTTP on (default
    /// 127.0.0.1:8080, loopback only).
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<std::net::SocketAddr>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Ctrl-C and SIGTERM, caught from the moment this is made: made before the control socket
/// serves anyone, so that a stop asked for as soon as the app answers is never the
/// default action (the process killed).
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("cannot catch Ctrl-C")?,
            terminate: signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
        })
    }

    /// Until the next Ctrl-C or SIGTERM.
    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Serve the control socket until stopped, then shut the host down (`served.host`, which
/// nothing else may hold by then).
async fn serve_until_stopped(
    g: &Globals,
    name: &str,
    served: Served,
    bound: crate::control::Bound,
    grace: Duration,
) -> anyhow::Result<ExitCode> {
    let mut signals = StopSignals::new()?;
    let host = Arc::clone(&served.host);
    let served = Arc::new(served);
    let socket = bound.path.clone();
    let socket = socket.as_path();
    let server = serve(bound.listener, served);
    let names: Vec<String> =
        host.components().await.iter().map(|c| c.address.to_string()).collect();
    for address in host.http_addresses() {
        let url = format!("http://{address}/");
        emit(g, &format!("http: {url}"), serde_json::json!({ "http": url }));
    }
    // A large pool is named by its first members (`airssys ps` lists them all).
    const NAMED: usize = 16;
    let mut named = names.iter().take(NAMED).map(String::as_str).collect::<Vec<_>>().join(", ");
    if names.len() > NAMED {
        named.push_str(&format!(" and {} more", names.len() - NAMED));
    }
    note(
        g,
        &format!(
            "{name} is up: {} ({named}); control socket {}; Ctrl-C stops it",
            names.len(),
            socket.display()
        ),
    );
    if g.format == crate::output::Format::Json {
        emit(g, "", serde_json::json!({ "up": name, "components": names, "socket": socket }));
    }
    // Until stopped, or until the root supervisor gives up: then nothing is left running,
    // and `up` must not sit there looking alive.
    let root_exit = tokio::select! {
        () = signals.next() => None,
        reason = host.wait_for_root_exit() => Some(reason),
    };
    if let Some(reason) = &root_exit {
        tracing::error!(%reason, "the root supervisor ended; every component is down");
        note(g, &format!("{name} failed: its root supervisor ended ({reason}); stopping ..."));
    } else {
        note(g, "stopping ...");
    }
    server.abort();
    let _ = server.await;
    let _ = std::fs::remove_file(socket);
    // The server's connections held the host; they let go once aborted (a request busy
    // in the host, a restart compiling say, finishes first). A second signal stops waiting.
    let mut host = host;
    let host = loop {
        match Arc::try_unwrap(host) {
            Ok(host) => break host,
            Err(shared) => {
                host = shared;
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(10)) => {}
                    () = signals.next() => bail!("stopped again: not waiting for {name} to stop"),
                }
            }
        }
    };
    let report = host.shutdown(grace).await;
    let killed: Vec<String> =
        report.killed.iter().map(|(_, n)| n.as_deref().unwrap_or("?").to_owned()).collect();
    let text = if report.is_clean() {
        format!("{name} stopped cleanly in {:?}", report.elapsed)
    } else {
        format!("{name} stopped; killed after the grace period: {}", killed.join(", "))
    };
    note(g, &text);
    if g.format == crate::output::Format::Json {
        emit(
            g,
            "",
            serde_json::json!({
                "stopped": name,
                "clean": report.is_clean(),
                "killed": killed,
                "failed": root_exit.as_ref().map(ToString::to_string),
            }),
        );
    }
    Ok(if root_exit.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

pub fn up(args: UpArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let manifest = args
        .manifest
        .clone()
        .or_else(|| g.app.clone())
        .unwrap_or_else(|| PathBuf::from("airssys.toml"));
    if !manifest.is_file() {
        bail!(
            "no app manifest at {}: pass its path (`airssys up path/to/airssys.toml`), or make \
             a project with `airssys new NAME`",
            manifest.display()
        );
    }
    let parsed = airssys_wasm::manifest::Manifest::load(&manifest)?;
    let base = manifest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let audit = parsed.audit.file.as_ref().map(|f| base.join(f));
    let logs = crate::logs::install(g.quiet, g.verbose);
    runtime()?.block_on(async {
        let socket = g.socket.clone().unwrap_or_else(|| socket_for(&manifest));
        let bound = bind(&socket)?;
        let traces = match args.otlp.as_deref().map(airssys_observer::otel::otlp).transpose() {
            Ok(traces) => traces,
            Err(e) => {
                let _ = std::fs::remove_file(&socket);
                return Err(e.into());
            }
        };
        let cluster = match join(&args, &parsed, base).await {
            Ok(cluster) => cluster,
            Err(e) => {
                let _ = std::fs::remove_file(&socket);
                return Err(e);
            }
        };
        // In a cluster the host starts empty and places each component itself.
        let mut placed = Vec::new();
        let started = match HostBuilder::from_manifest(&manifest) {
            Ok(builder) => {
                // The manifest's own `[engine] cache_dir` wins over the default one.
                let cache =
                    if builder.has_cache_dir() { None } else { crate::store::default_cache(g) };
                let mut builder = match cache {
                    Some(cache) => builder.cache_dir(cache),
                    None => builder,
                };
                if let Some(cluster) = &cluster {
                    placed = builder.take_components();
                    if let Some(unknown) = args
                        .components
                        .iter()
                        .find(|name| !placed.iter().any(|spec| spec.name() == name.as_str()))
                    {
                        let _ = std::fs::remove_file(&socket);
                        bail!("--components names {unknown:?}, which the app does not have");
                    }
                    if !args.components.is_empty() {
                        placed.retain(|spec| args.components.iter().any(|n| n == spec.name()));
                    }
                    builder = builder.transport(cluster.transport());
                    if parsed.cluster.storage == airssys_wasm::manifest::StoragePlace::Cluster {
                        match cluster.storage().await {
                            Ok(storage) => builder = builder.storage(storage),
                            Err(e) => {
                                let _ = std::fs::remove_file(&socket);
                                return Err(e).context("cannot keep the storage in the cluster");
                            }
                        }
                    }
                }
                if let Some(provider) = &traces {
                    let spans = airssys_observer::otel::OtelSpans::new(provider);
                    builder = builder.spans(Arc::new(spans));
                }
                let progress = Arc::new(airssys_wasm::StartProgress::new());
                let start = protect_socket(builder, &socket, g).progress(Arc::clone(&progress));
                crate::progress::shown_while(g, &progress, args.progress, start.start()).await
            }
            Err(e) => Err(e),
        };
        let host = match started {
            Ok(host) => host,
            Err(e) => {
                let _ = std::fs::remove_file(&socket);
                return Err(e).with_context(|| format!("{} did not start", parsed.app.name));
            }
        };
        if let Some(cluster) = &cluster {
            cluster.serve(host.clone());
            for spec in placed {
                let name = spec.name().to_owned();
                match cluster.place(&host, spec).await {
                    Ok(airssys_cluster::Placement::Here) => {
                        note(g, &format!("{name} runs on this host ({})", cluster.host_id()));
                    }
                    Ok(airssys_cluster::Placement::Elsewhere(owner)) => {
                        note(g, &format!("{name} runs on host {owner}; this host stands by"));
                    }
                    Ok(other) => note(g, &format!("{name}: {other:?}")),
                    Err(e) => {
                        host.shutdown(Duration::from_secs(args.grace)).await;
                        let _ = std::fs::remove_file(&socket);
                        return Err(e).with_context(|| format!("{name} did not start"));
                    }
                }
            }
        }
        let grace = Duration::from_secs(args.grace);
        let name = &parsed.app.name;
        let observer = match args.observe {
            Some(addr) => {
                let observer = airssys_observer::Observer::new(host.clone())
                    .addr(addr)
                    .allow_remote(args.observe_remote)
                    .start()
                    .await;
                match observer {
                    Ok(observer) => {
                        emit(
                            g,
                            &format!("observer: {}", observer.url()),
                            serde_json::json!({ "observer": observer.url() }),
                        );
                        Some(observer)
                    }
                    Err(e) => {
                        host.shutdown(grace).await;
                        let _ = std::fs::remove_file(&socket);
                        return Err(e).context("the observer did not start");
                    }
                }
            }
            None => None,
        };
        let watcher = args.watch.then(|| {
            let watched = crate::watch::Watched::of(&parsed, base);
            if watched.is_empty() {
                note(g, "--watch: no component project to watch (the manifest's directory is not one, and no component names a `build` directory)");
            } else {
                let dirs: Vec<String> =
                    watched.projects().map(|p| p.display().to_string()).collect();
                note(g, &format!("watching {} for changes", dirs.join(", ")));
            }
            tokio::spawn(crate::watch::run(host.clone(), watched, g.clone()))
        });
        let cluster = cluster.map(Arc::new);
        let served = Served { host: Arc::new(host), audit, logs, cluster: cluster.clone() };
        let stopped = serve_until_stopped(g, name, served, bound, grace).await;
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        if let Some(observer) = observer {
            observer.stop().await;
        }
        if let Some(provider) = traces {
            // What is left in the batch goes now (the SDK's export blocks: not here).
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
        if let Some(cluster) = cluster {
            cluster.leave().await;
        }
        stopped
    })
}

/// No component may be granted the control socket: its `.airssys/` directory (which also
/// holds the default data directory), or the socket itself when `--socket` puts it elsewhere.
fn protect_socket(builder: HostBuilder, socket: &Path, g: &Globals) -> HostBuilder {
    match socket.parent() {
        Some(dir) if g.socket.is_none() => {
            builder.protect_dir(dir, "the control socket's directory")
        }
        _ => builder.protect_file(socket, "the control socket"),
    }
}

fn split_dir(spec: &str) -> (PathBuf, String) {
    match spec.split_once("::") {
        Some((host, guest)) => (PathBuf::from(host), guest.to_owned()),
        None => (PathBuf::from(spec), spec.to_owned()),
    }
}

fn component_name(file: &Path) -> String {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' })
        .collect();
    if name.is_empty() { "component".into() } else { name }
}

pub fn run(args: RunArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    if !args.file.is_file() {
        bail!("no component file at {} (or it is not a regular file)", args.file.display());
    }
    let name = args.name.clone().unwrap_or_else(|| component_name(&args.file));
    let mut spec = ComponentSpec::new(name.as_str(), Source::File(args.file.clone()));
    for dir in &args.dir {
        let (host, guest) = split_dir(dir);
        spec = spec.dir(host, guest, false);
    }
    for dir in &args.dir_rw {
        let (host, guest) = split_dir(dir);
        spec = spec.dir(host, guest, true);
    }
    for env in &args.env {
        let (key, value) = match env.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (
                env.clone(),
                std::env::var(env).with_context(|| format!("--env {env}: not set on the host"))?,
            ),
        };
        spec = spec.env(key, value);
    }
    let hosts: Vec<&str> = args.allow_host.iter().map(String::as_str).collect();
    spec = spec.network(&hosts, &[], &[]);
    for pair in &args.config {
        let (k, v) =
            pair.split_once('=').with_context(|| format!("--config {pair}: expected KEY=VALUE"))?;
        spec = spec.config(k, v);
    }
    let mut builder = HostBuilder::default();
    if let Some(cache) = crate::store::default_cache(g) {
        builder = builder.cache_dir(cache);
    }
    // A standard world runs as what it is: an HTTP handler is served, a command run once.
    let bytes = airssys_wasm::untrusted_file::read(
        &args.file,
        airssys_wasm::untrusted_file::MAX_COMPONENT_BYTES,
    )
    .with_context(|| format!("cannot read {}", args.file.display()))?;
    let world = airssys_wasm::inspect::world(&bytes).unwrap_or("airssys:component");
    drop(bytes);
    match world {
        "wasi:http/proxy" => {
            if args.call.is_some() {
                bail!(
                    "{} is a wasi:http/proxy component: send it HTTP requests, not --call",
                    args.file.display()
                );
            }
            let listen = args.listen.unwrap_or(airssys_wasm::DEFAULT_HTTP_LISTEN);
            builder = builder.http(airssys_wasm::HttpRoute::new(listen, "/", name.as_str()));
        }
        "wasi:cli/command" => {
            // It runs once, to its end, as `wasmtime run` would run it.
            spec = spec
                .restart(airssys_wasm::Restart::Temporary)
                .cpu_per_message(Duration::from_secs(24 * 3600));
        }
        _ if args.listen.is_some() => {
            builder = builder.http(airssys_wasm::HttpRoute::new(
                args.listen.unwrap_or(airssys_wasm::DEFAULT_HTTP_LISTEN),
                "/",
                name.as_str(),
            ));
        }
        _ => {}
    }
    if let Some(size) = &args.storage {
        let bytes: bytesize::ByteSize = size
            .parse()
            .map_err(|e| anyhow::anyhow!("--storage {size}: not a size like 1MiB ({e})"))?;
        spec = spec.storage(airssys_wasm::storage::Quota { bytes: bytes.0, keys: 1_000_000 });
        builder = builder.data_dir(".airssys/data");
    }
    let socket = g.socket.clone().unwrap_or_else(|| socket_for(Path::new("airssys.toml")));
    if args.call.is_none() {
        builder = protect_socket(builder, &socket, g);
    }
    let logs = crate::logs::install(g.quiet || (args.call.is_some() && g.verbose == 0), g.verbose);
    runtime()?.block_on(async {
        let host = builder
            .component(spec)
            .start()
            .await
            .with_context(|| format!("{} did not start", args.file.display()))?;
        if world == "wasi:cli/command" {
            return run_command(&host, &name).await;
        }
        if let Some(input) = &args.call {
            let payload = crate::payload::encode(args.codec, input.as_bytes())?;
            let timeout = Duration::try_from_secs_f64(args.timeout.max(0.0))
                .unwrap_or(Duration::from_secs(3600));
            let result = host.call(&name, payload, timeout).await;
            host.shutdown(Duration::from_secs(5)).await;
            let response = result.map_err(|e| anyhow::anyhow!("the call to {name} failed: {e}"))?;
            let shown = response.as_ref().map(crate::payload::decode).unwrap_or_default();
            emit(g, &crate::payload::show(&shown), serde_json::json!({ "response": shown }));
            return Ok(ExitCode::SUCCESS);
        }
        let bound = bind(&socket)?;
        let grace = Duration::from_secs(10);
        let served = Served { host: Arc::new(host), audit: None, logs, cluster: None };
        serve_until_stopped(g, &name, served, bound, grace).await
    })
}

/// Wait for a `wasi:cli/command` component's one run to end; its exit status is this
/// program's (success, or failure for a failed run or a trap).
async fn run_command(host: &airssys_wasm::Host, name: &str) -> anyhow::Result<ExitCode> {
    use airssys_wasm::ComponentState;
    loop {
        let running = host
            .components()
            .await
            .iter()
            .any(|c| &*c.address == name && c.state == ComponentState::Running);
        if !running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let succeeded = host.audit_since(0).iter().any(|(_, record)| {
        record.principal == name
            && record.operation == "run"
            && record.decision == "exit"
            && record.rule == "success"
    });
    host.shutdown(Duration::from_secs(5)).await;
    Ok(if succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
