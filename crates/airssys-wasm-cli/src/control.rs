//! The control socket of a running app, and the commands that use it.
//!
//! Protocol (also in `docs/cli.md`): a Unix socket, `.airssys/control.sock` next to the
//! app's manifest, in a directory only its owner can enter, the socket itself mode 0600.
//! Each request is one line of JSON with an `op` field; each answer is one line, `{"ok": ..}`
//! or `{"error": "..."}`. `logs` with `follow` keeps the connection open and sends
//! `{"line": ".."}` for each new log line.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::{Host, Payload};
use airssys_wasm_cli::protocol::{self, Request};
use anyhow::{Context, bail};
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::Globals;
use crate::logs::LogBuffer;
use crate::output::emit;
use crate::payload::{CodecArg, WirePayload};

/// The control socket of the app whose manifest is `manifest`.
pub fn socket_for(manifest: &Path) -> PathBuf {
    let dir = manifest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.join(".airssys").join("control.sock")
}

fn socket(g: &Globals) -> PathBuf {
    if let Some(socket) = &g.socket {
        return socket.clone();
    }
    socket_for(g.app.as_deref().unwrap_or(Path::new("airssys.toml")))
}

fn connect(g: &Globals) -> anyhow::Result<UnixStream> {
    let path = socket(g);
    crate::socket_owner::check_socket(&path)?;
    let stream = UnixStream::connect(&path).map_err(|e| {
        anyhow::anyhow!(
            "no running app answers at {} ({e}): start it with `airssys up`, or point to it with \
             --app MANIFEST or --socket PATH",
            path.display()
        )
    })?;
    crate::socket_owner::check_peer(&stream, &path)?;
    Ok(stream)
}

fn send_request(stream: &mut UnixStream, request: &Request) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream.write_all(&line).context("the app closed the connection")
}

fn answer(reader: &mut impl BufRead) -> anyhow::Result<serde_json::Value> {
    let mut line = String::new();
    if reader.read_line(&mut line).context("the app closed the connection")? == 0 {
        bail!("the app closed the connection without answering");
    }
    let value: serde_json::Value =
        serde_json::from_str(&line).context("the app answered something that is not JSON")?;
    if let Some(error) = value.get("error").and_then(|e| e.as_str()) {
        bail!("{error}");
    }
    Ok(value.get("ok").cloned().unwrap_or(serde_json::Value::Null))
}

/// One request, one answer.
fn ask(g: &Globals, request: &Request) -> anyhow::Result<serde_json::Value> {
    let mut stream = connect(g)?;
    send_request(&mut stream, request)?;
    answer(&mut BufReader::new(stream))
}

// ----- commands --------------------------------------------------------------------------

#[derive(Debug, clap::Args)]
pub struct MessageArgs {
    /// The component's address (`name`, or `name/2` for a pool member).
    target: String,
    /// The payload (default: read from stdin).
    payload: Option<String>,
    /// Its codec: json, cbor and msgpack take JSON text and send it encoded.
    #[arg(long, value_enum, default_value_t = CodecArg::Raw)]
    codec: CodecArg,
    /// How long to wait for the response (call), in seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

#[derive(Debug, clap::Args)]
pub struct NameArgs {
    /// The component's name.
    name: String,
}

#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// The component's name.
    name: String,
    /// The new code: a component file (under a trust policy with keys, signed by FILE.sig).
    file: PathBuf,
    /// For how long, in seconds, a crash of the new code brings the old code back.
    #[arg(long)]
    grace: Option<f64>,
}

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Print a key's value.
    Get { component: String, key: String },
    /// Set a key's value (default: read from stdin).
    Put { component: String, key: String, value: Option<String> },
    /// Delete a key.
    Rm { component: String, key: String },
    /// List keys, optionally only those starting with a prefix.
    Ls {
        component: String,
        #[arg(default_value = "")]
        prefix: String,
    },
    /// Print a component's data as JSON lines.
    Export { component: String },
    /// Import JSON lines (as `export` writes them) from a file, or stdin with `-`.
    Import { component: String, file: PathBuf },
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only this component's records.
    #[arg(long)]
    component: Option<String>,
    /// Only these decisions (deny, allow, grant, crash, restart, ...); repeatable.
    #[arg(long = "decision")]
    decisions: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Keep printing new lines until interrupted.
    #[arg(short, long)]
    follow: bool,
    /// How many recent lines to print first.
    #[arg(short = 'n', long, default_value_t = 100)]
    lines: usize,
}

fn payload_input(payload: Option<String>) -> anyhow::Result<Vec<u8>> {
    match payload {
        Some(p) if p != "-" => Ok(p.into_bytes()),
        _ => {
            let mut input = Vec::new();
            std::io::stdin()
                .read_to_end(&mut input)
                .context("cannot read the payload from stdin")?;
            Ok(input)
        }
    }
}

pub fn ps(g: &Globals) -> anyhow::Result<ExitCode> {
    let list = ask(g, &Request::Ps)?;
    let rows = list.as_array().map(Vec::as_slice).unwrap_or_default();
    // A host in a cluster lists the whole cluster, each component with its host.
    let clustered = rows.iter().any(|c| c.get("host").is_some());
    let host = |c: &serde_json::Value| {
        if clustered {
            format!("{:<16} ", c["host"].as_str().unwrap_or("?"))
        } else {
            String::new()
        }
    };
    let mut text = format!(
        "{:<24} {}{:<11} {:>8} {:>9} {:>8} {:>10}",
        "NAME",
        if clustered { format!("{:<16} ", "HOST") } else { String::new() },
        "STATE",
        "MAILBOX",
        "HANDLED",
        "RESTARTS",
        "MEMORY"
    );
    if !clustered {
        text.push_str(&format!(" {:>8}  {}", "DROPPED", "VERSION"));
    }
    for c in rows {
        let memory = format!("{} KiB", c["memory"].as_u64().unwrap_or(0) / 1024);
        text.push_str(&format!(
            "\n{:<24} {}{:<11} {:>8} {:>9} {:>8} {:>10}",
            c["address"].as_str().unwrap_or("?"),
            host(c),
            c["state"].as_str().unwrap_or("?"),
            c["mailbox"].as_u64().unwrap_or(0),
            c["handled"].as_u64().unwrap_or(0),
            c["restarts"].as_u64().unwrap_or(0),
            memory,
        ));
        if !clustered {
            let dropped = c["output_dropped"].as_u64().unwrap_or(0);
            text.push_str(&format!(" {dropped:>8}  {}", c["version"].as_str().unwrap_or("?")));
        }
    }
    // Instances allocated on demand (no instance pool) are said once, with why.
    if let Some(reason) =
        rows.iter().find_map(|c| c["allocation"].as_str()?.strip_prefix("on demand: "))
    {
        text.push_str(&format!("\nnote: instances are allocated on demand: {reason}"));
    }
    emit(g, &text, list);
    Ok(ExitCode::SUCCESS)
}

pub fn send(args: MessageArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let payload = crate::payload::encode(args.codec, &payload_input(args.payload)?)?;
    let target = args.target.clone();
    ask(g, &Request::Send { target: args.target, payload: (&payload).into() })?;
    emit(g, &format!("sent to {target}"), serde_json::json!({ "sent": target }));
    Ok(ExitCode::SUCCESS)
}

pub fn call(args: MessageArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let payload = crate::payload::encode(args.codec, &payload_input(args.payload)?)?;
    let timeout_ms = (args.timeout.max(0.0) * 1000.0) as u64;
    let request = Request::Call { target: args.target, payload: (&payload).into(), timeout_ms };
    let response = ask(g, &request)?;
    let shown = match response.get("payload") {
        Some(p) if !p.is_null() => {
            let wire: WirePayload = serde_json::from_value(p.clone())?;
            crate::payload::decode(&Payload::try_from(wire)?)
        }
        _ => serde_json::Value::Null,
    };
    emit(g, &crate::payload::show(&shown), serde_json::json!({ "response": shown }));
    Ok(ExitCode::SUCCESS)
}

pub fn stop(args: NameArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    ask(g, &Request::Stop { name: args.name.clone() })?;
    emit(g, &format!("stopped {}", args.name), serde_json::json!({ "stopped": args.name }));
    Ok(ExitCode::SUCCESS)
}

pub fn restart(args: NameArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    ask(g, &Request::Restart { name: args.name.clone() })?;
    emit(g, &format!("restarted {}", args.name), serde_json::json!({ "restarted": args.name }));
    Ok(ExitCode::SUCCESS)
}

pub fn upgrade(args: UpgradeArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    // The host reads the file: give it a path that does not depend on this directory.
    let path = std::path::absolute(&args.file)
        .with_context(|| format!("cannot resolve {}", args.file.display()))?;
    let grace_ms = args.grace.map(|s| (s.max(0.0) * 1000.0) as u64);
    let request =
        Request::Upgrade { name: args.name.clone(), path: path.display().to_string(), grace_ms };
    let done = ask(g, &request)?;
    let text = format!(
        "upgraded {} from {} to {}{}",
        args.name,
        done["from"].as_str().unwrap_or("?"),
        done["to"].as_str().unwrap_or("?"),
        if done["handed_over"].as_bool() == Some(true) { ", state handed over" } else { "" }
    );
    emit(g, &text, done);
    Ok(ExitCode::SUCCESS)
}

pub fn store(command: StoreCommand, g: &Globals) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Get { component, key } => {
            let value = ask(g, &Request::StoreGet { component, key: key.clone() })?;
            let Some(b64) = value.as_str() else {
                bail!("no key {key:?}");
            };
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64)?;
            match std::str::from_utf8(&bytes) {
                Ok(text) => emit(g, text, serde_json::json!({ "key": key, "text": text })),
                Err(_) => emit(g, b64, serde_json::json!({ "key": key, "base64": b64 })),
            }
        }
        StoreCommand::Put { component, key, value } => {
            let bytes = payload_input(value)?;
            let base64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            ask(g, &Request::StorePut { component, key: key.clone(), base64 })?;
            emit(g, &format!("stored {key}"), serde_json::json!({ "stored": key }));
        }
        StoreCommand::Rm { component, key } => {
            let existed = ask(g, &Request::StoreRm { component, key: key.clone() })?;
            let text =
                if existed == true { format!("deleted {key}") } else { format!("no key {key:?}") };
            emit(g, &text, serde_json::json!({ "deleted": existed }));
        }
        StoreCommand::Ls { component, prefix } => {
            let keys = ask(g, &Request::StoreLs { component, prefix })?;
            let text: Vec<&str> =
                keys.as_array().into_iter().flatten().filter_map(|k| k.as_str()).collect();
            emit(g, &text.join("\n"), keys.clone());
        }
        StoreCommand::Export { component } => {
            let lines = ask(g, &Request::StoreExport { component })?;
            let lines = lines.as_str().unwrap_or_default().to_owned();
            match g.format {
                crate::output::Format::Text => crate::output::out(&lines),
                crate::output::Format::Json => emit(g, "", serde_json::json!({ "lines": lines })),
            }
        }
        StoreCommand::Import { component, file } => {
            let lines = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                text
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let count = ask(g, &Request::StoreImport { component, lines })?;
            emit(g, &format!("imported {count} entries"), serde_json::json!({ "imported": count }));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit(args: AuditArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let records = ask(g, &Request::Audit { component: args.component, decisions: args.decisions })?;
    let text: Vec<String> = records
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            // Resources and rules carry guest text: escaped, one record per line.
            let field = |name: &str| airssys_osl::Escaped(r[name].as_str().unwrap_or(""));
            format!(
                "{} {:<8} {:<16} {:<16} {} ({})",
                r["time_ms"],
                field("decision").to_string(),
                field("principal").to_string(),
                field("action").to_string(),
                field("resource"),
                field("rule")
            )
        })
        .collect();
    emit(g, &text.join("\n"), records);
    Ok(ExitCode::SUCCESS)
}

pub fn logs(args: LogsArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let mut stream = connect(g)?;
    send_request(&mut stream, &Request::Logs { lines: args.lines, follow: args.follow })?;
    let mut reader = BufReader::new(stream);
    let recent = answer(&mut reader)?;
    let lines: Vec<&str> =
        recent.as_array().into_iter().flatten().filter_map(|l| l.as_str()).collect();
    if args.follow || g.format == crate::output::Format::Text {
        for line in &lines {
            print_log(g, line);
        }
    } else {
        emit(g, "", serde_json::json!({ "lines": lines }));
    }
    if args.follow {
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(text) = value["line"].as_str()
            {
                print_log(g, text);
            }
            line.clear();
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_log(g: &Globals, line: &str) {
    // Kept lines are escaped by the host that keeps them; again here, in case it is older.
    let line = airssys_osl::escaped(line);
    emit(g, &line, serde_json::json!({ "line": line }));
}

// ----- the server ------------------------------------------------------------------------

/// What the control server serves.
pub struct Served {
    pub host: Arc<Host>,
    pub audit: Option<PathBuf>,
    pub logs: Arc<LogBuffer>,
    /// The cluster the host is joined to, if any (`ps` lists all of it).
    pub cluster: Option<Arc<airssys_cluster::Cluster>>,
}

/// Most connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;

/// Longest request line, in bytes (an import carries a component's whole data).
const MAX_REQUEST: usize = 256 << 20;

/// Bind the control socket at `path` (its directory is made private, a stale socket
/// replaced, a live one refused). Done before the app starts, so that a second `up` of the
/// same app refuses before running anything.
pub fn bind(path: &Path) -> anyhow::Result<Bound> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = path.parent().unwrap_or(Path::new("."));
    // A directory someone else made first (a shared project directory) is theirs: refused,
    // saying whose, before anything is created or changed in it.
    crate::socket_owner::check_dir(dir, false)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            bail!(
                "an app is already running with the control socket {}: stop it first",
                path.display()
            );
        }
        std::fs::remove_file(path)?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(Bound { listener, path: path.to_owned() })
}

/// A bound control socket.
pub struct Bound {
    pub listener: tokio::net::UnixListener,
    pub path: PathBuf,
}

/// Serve the bound socket; the accept loop and every connection end when the returned task
/// is aborted. An accept error (out of file descriptors) is logged and retried: the socket
/// stays up as long as the app does.
pub fn serve(
    listener: tokio::net::UnixListener,
    served: Arc<Served>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
            match listener.accept().await {
                Ok((stream, _)) => {
                    let served = Arc::clone(&served);
                    connections.spawn(async move {
                        connection(stream, served).await;
                        drop(slot);
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "control socket: cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            while connections.try_join_next().is_some() {}
        }
    })
}

async fn connection(stream: tokio::net::UnixStream, served: Arc<Served>) {
    use tokio::io::AsyncReadExt;
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read.take(MAX_REQUEST as u64)).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let answer = match protocol::parse(&line) {
            Err(e) => protocol::answer(Err(e)),
            Ok(Request::Logs { lines: n, follow }) => {
                let mut new = served.logs.follow();
                let recent = serde_json::json!({ "ok": served.logs.recent(n) });
                if write_line(&mut write, &recent).await.is_err() || !follow {
                    continue;
                }
                loop {
                    match new.recv().await {
                        Ok(line) => {
                            if write_line(&mut write, &serde_json::json!({ "line": line }))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return,
                    }
                }
            }
            Ok(request) => protocol::answer(
                protocol::handle(
                    &served.host,
                    served.cluster.as_deref(),
                    served.audit.as_deref(),
                    request,
                )
                .await,
            ),
        };
        if write_line(&mut write, &answer).await.is_err() {
            return;
        }
    }
}

async fn write_line(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    value: &serde_json::Value,
) -> std::io::Result<()> {
    let mut line = value.to_string().into_bytes();
    line.push(b'\n');
    write.write_all(&line).await
}
