//! `airssys demo`: a scripted tour of the example apps in `examples/`. It builds their
//! components from source, runs each app from its manifest, talks to it as a user would, checks
//! what comes back, and prints what happened. Any surprise fails the tour (exit 1).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use airssys_wasm::{Host, HostBuilder, Payload, RequestError, codec};
use anyhow::{Context, bail, ensure};

use crate::Globals;
use crate::output::{emit, note};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The examples directory (default: `examples/` of the source tree airssys was built
    /// from).
    #[arg(long)]
    examples: Option<PathBuf>,
}

const T: Duration = Duration::from_secs(5);

fn text(answer: Result<Option<Payload>, RequestError>) -> anyhow::Result<String> {
    let payload = answer.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(payload.map(|p| String::from_utf8_lossy(&p.bytes).into_owned()).unwrap_or_default())
}

fn raw(text: &str) -> Payload {
    Payload { codec: codec::RAW, bytes: text.as_bytes().to_vec() }
}

fn json(value: serde_json::Value) -> Payload {
    Payload { codec: codec::JSON, bytes: value.to_string().into_bytes() }
}

async fn start(dir: &Path, app: &str) -> anyhow::Result<Host> {
    let manifest = dir.join(app).join("airssys.toml");
    HostBuilder::from_manifest(&manifest)?
        .start()
        .await
        .with_context(|| format!("the {app} example did not start"))
}

/// The tour's story, one line per step.
struct Story(Vec<String>);

impl Story {
    fn say(&mut self, g: &Globals, line: String) {
        if g.format == crate::output::Format::Text {
            emit(g, &line, serde_json::Value::Null);
        }
        self.0.push(line);
    }
}

pub fn run(args: DemoArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let dir = match args.examples {
        Some(dir) => dir,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples"),
    };
    let dir = dir.canonicalize().with_context(|| format!("no examples at {}", dir.display()))?;
    crate::compile::check_target()?;
    note(g, &format!("building the example components from source in {} ...", dir.display()));
    crate::compile::build(&dir, true, g.quiet)?;
    build_polyglot(&dir, g.quiet)?;
    let mut story = Story(Vec::new());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(tour(&dir, g, &mut story))?;
    if g.format == crate::output::Format::Json {
        emit(g, "", serde_json::json!({ "tour": story.0 }));
    }
    Ok(ExitCode::SUCCESS)
}

/// Build the polyglot example's Python and JavaScript components into
/// `examples/target/polyglot/`, with the pinned toolchains that
/// `tools/install-guest-toolchains` installs from PyPI and npm (once; later runs reuse them).
/// Each is built in a scratch project laid out as `airssys new --lang` makes one.
fn build_polyglot(examples: &Path, quiet: bool) -> anyhow::Result<()> {
    let installer =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/install-guest-toolchains");
    let installed = std::process::Command::new(&installer)
        .stdin(std::process::Stdio::null())
        .stderr(if quiet { std::process::Stdio::null() } else { std::process::Stdio::inherit() })
        .output()
        .with_context(|| format!("cannot run {}", installer.display()))?;
    ensure!(
        installed.status.success(),
        "the Python and JavaScript toolchains could not be installed by {} (it needs python3 \
         with venv, node 18 or later and npm, and PyPI and npm to be reachable)",
        installer.display()
    );
    let toolchains = PathBuf::from(String::from_utf8_lossy(&installed.stdout).trim());
    let target = examples.join("target/polyglot");
    std::fs::create_dir_all(&target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    let scratch = target.join("scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    let stage = |name: &str, files: &[(&str, &str)]| -> anyhow::Result<PathBuf> {
        let dir = scratch.join(name);
        std::fs::create_dir_all(dir.join("wit"))?;
        std::fs::write(dir.join("wit/airssys.wit"), crate::new::WIT)?;
        for (file, text) in files {
            std::fs::write(dir.join(file), text)?;
        }
        Ok(dir)
    };
    let source = |file: &str| {
        let path = examples.join("polyglot").join(file);
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
    };

    let python = stage(
        "python",
        &[("app.py", &source("python/app.py")?), ("airssys.py", crate::new::PYTHON_SDK)],
    )?;
    let tool = toolchains.join("python/bin/componentize-py");
    let built = crate::compile::componentize_py(tool.as_os_str(), &python, quiet)?;
    std::fs::copy(built, target.join("python.wasm"))?;

    let js = stage(
        "js",
        &[
            ("app.js", &source("js/app.js")?),
            ("airssys.js", crate::new::JS_SDK),
            ("build.mjs", crate::new::JS_BUILD),
        ],
    )?;
    std::os::unix::fs::symlink(toolchains.join("js/node_modules"), js.join("node_modules"))?;
    let built = crate::compile::build_js(&js, false, quiet)?;
    std::fs::copy(built, target.join("js.wasm"))?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

async fn tour(dir: &Path, g: &Globals, s: &mut Story) -> anyhow::Result<()> {
    // 1. Ping-pong: one component calls another through the host.
    s.say(g, "== ping-pong: `pinger` calls `ponger` three times".into());
    let host = start(dir, "ping-pong").await?;
    let heard = text(host.call("pinger", raw("start 3"), T).await)?;
    ensure!(heard == "pong 1, pong 2, pong 3", "pinger heard {heard:?}");
    s.say(g, format!("   pinger heard: {heard}"));
    host.shutdown(T).await;

    // 2. A counter in durable storage: it survives a restart of the component and of the app.
    s.say(g, "== counter: a count in durable storage".into());
    let host = start(dir, "counter").await?;
    let first: i64 = text(host.call("counter", raw("get"), T).await)?.parse()?;
    for _ in 0..3 {
        text(host.call("counter", raw("incr"), T).await)?;
    }
    host.restart("counter").await?;
    let after_restart: i64 = text(host.call("counter", raw("get"), T).await)?.parse()?;
    ensure!(after_restart == first + 3, "after a restart the count is {after_restart}");
    host.shutdown(T).await;
    let host = start(dir, "counter").await?;
    let after_app: i64 = text(host.call("counter", raw("get"), T).await)?.parse()?;
    ensure!(after_app == first + 3, "after the app restarted the count is {after_app}");
    host.shutdown(T).await;
    s.say(
        g,
        format!(
            "   {first} -> 3 increments -> component restarted: {after_restart} -> app restarted: {after_app}"
        ),
    );

    // 3. Request/response with timeouts.
    s.say(g, "== calculator: typed JSON requests, and a client that gives up after 200 ms".into());
    let host = start(dir, "calculator").await?;
    let sum = text(
        host.call("calculator", json(serde_json::json!({"op": "add", "a": 2, "b": 3})), T).await,
    )?;
    ensure!(sum == r#"{"value":5.0}"#, "2 + 3 = {sum}");
    let via_client =
        text(host.call("client", json(serde_json::json!({"op": "mul", "a": 6, "b": 7})), T).await)?;
    ensure!(via_client == "42", "6 * 7 via the client = {via_client}");
    let slow =
        text(host.call("client", json(serde_json::json!({"op": "slow", "ms": 600})), T).await)?;
    ensure!(slow.contains("no response within the timeout"), "a slow answer gave {slow:?}");
    let zero =
        host.call("calculator", json(serde_json::json!({"op": "div", "a": 1, "b": 0})), T).await;
    ensure!(
        zero == Err(RequestError::HandlerError("division by zero".into())),
        "1 / 0 gave {zero:?}"
    );
    let wrong_codec = host.call("calculator", raw("2 + 3"), T).await;
    ensure!(
        matches!(
            wrong_codec,
            Err(RequestError::Refused(airssys_wasm::SendError::CodecNotAccepted(_)))
        ),
        "raw text gave {wrong_codec:?}"
    );
    host.shutdown(T).await;
    s.say(g, format!("   2 + 3 = {sum}; 6 * 7 through the client = {via_client}"));
    s.say(g, format!("   a 600 ms job through the client: {slow}"));
    s.say(
        g,
        "   1 / 0: handler error \"division by zero\"; raw text: refused (codec not accepted)"
            .into(),
    );

    // 4. A pub/sub chat room.
    s.say(g, "== chat: three members of one room, over publish/subscribe".into());
    let host = start(dir, "chat").await?;
    let reached = text(host.call("alice", raw("say hello, room"), T).await)?;
    ensure!(reached == "reached 3", "alice's line {reached}");
    text(host.call("bob", raw("say hi alice"), T).await)?;
    let mut history = String::new();
    for _ in 0..100 {
        history = text(host.call("carol", raw("history"), T).await)?;
        if history.lines().count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ensure!(history == "alice: hello, room\nbob: hi alice", "carol heard {history:?}");
    host.shutdown(T).await;
    s.say(g, format!("   carol heard: {}", history.replace('\n', " | ")));

    // 5. Supervision: a crash, a restart in place, memory state lost, stored state kept.
    s.say(g, "== supervision: a worker crashes and its supervisor restarts it".into());
    let host = start(dir, "supervision").await?;
    let stored_before = host.storage().context("storage")?.get("worker", "jobs").await?;
    let base: i64 =
        stored_before.map(|v| String::from_utf8_lossy(&v).parse().unwrap_or(0)).unwrap_or(0);
    text(host.call("worker", raw("work"), T).await)?;
    text(host.call("worker", raw("work"), T).await)?;
    let crash = host.call("worker", raw("crash"), T).await;
    ensure!(matches!(crash, Err(RequestError::ReceiverCrashed(_))), "the crash gave {crash:?}");
    let after = text(host.call("worker", raw("work"), T).await)?;
    ensure!(after == format!("in memory 1, stored {}", base + 3), "after the restart: {after}");
    let restarts = host.restarts("worker").unwrap_or(0);
    ensure!(restarts == 1, "{restarts} restarts");
    host.shutdown(T).await;
    s.say(
        g,
        format!("   work, work, crash (receiver crashed), work -> {after}; restarts: {restarts}"),
    );

    // 6. A hostile component: every attempt refused, every refusal audited.
    s.say(g, "== hostile: a component tries what it was not granted".into());
    let audit = dir.join("hostile/audit.jsonl");
    let _ = std::fs::remove_file(&audit);
    let host = start(dir, "hostile").await?;
    let report = text(host.call("intruder", raw("attack"), T).await)?;
    host.shutdown(T).await;
    for line in report.lines() {
        s.say(g, format!("   {line}"));
    }
    let allowed: Vec<&str> = report.lines().filter(|l| l.contains("ALLOWED")).collect();
    if allowed.len() != 1 || !allowed[0].contains("(granted)") {
        bail!("the hostile component got through: {allowed:?}");
    }
    let denials = airssys_osl::read_audit(&audit, Some("intruder"), &["deny"])?;
    let actions: std::collections::BTreeSet<&str> =
        denials.iter().map(|d| d.action.as_str()).collect();
    for wanted in [
        "message-accept",
        "fs-read",
        "fs-write",
        "net-connect",
        "process-spawn",
        "topic-subscribe",
        "storage",
    ] {
        ensure!(actions.contains(wanted), "no {wanted} denial in the audit log: {actions:?}");
    }
    s.say(
        g,
        format!(
            "   the audit log ({}) holds {} denials for intruder: {}",
            audit.display(),
            denials.len(),
            actions.into_iter().collect::<Vec<_>>().join(", ")
        ),
    );

    // 7. Three languages in one app: Python calls Rust, publishes; JavaScript subscribes and
    //    makes a request of Python.
    s.say(g, "== polyglot: a Python ledger, a JavaScript watcher and the Rust calculator".into());
    let host = start(dir, "polyglot").await?;
    ensure!(text(host.call("python", raw("reset"), T).await)? == "0", "the ledger did not reset");
    text(host.call("js", raw("forget"), T).await)?;
    let five = text(host.call("python", raw("add:5"), T).await)?;
    ensure!(five == "5", "python add:5 answered {five:?}");
    let total = text(host.call("python", raw("add:2.5"), T).await)?;
    ensure!(total == "7.5", "python add:2.5 answered {total:?}");
    ensure!(text(host.call("js", raw("audit"), T).await)? == "audit requested", "no audit");
    // The audit's answer comes back to the watcher as a callback, after `audit` answered.
    let mut heard = String::new();
    for _ in 0..500 {
        heard = text(host.call("js", raw("heard"), T).await)?;
        if heard.contains("audit: total") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let want = "ledger.total from python: {\"total\":5,\"added\":5}\n\
                ledger.total from python: {\"total\":7.5,\"added\":2.5}\n\
                audit: total 7.5";
    ensure!(heard == want, "the watcher heard {heard:?}");
    host.shutdown(T).await;
    s.say(g, "   python add:5 -> 5 and add:2.5 -> 7.5 (each a call to the Rust calculator)".into());
    for line in heard.lines() {
        s.say(g, format!("   js heard: {line}"));
    }

    s.say(g, "tour complete: 7 example apps ran as expected".into());
    Ok(())
}
