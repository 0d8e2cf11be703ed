//! The `airssys` binary, run as a user runs it: scaffold → build → inspect → up → ps → call →
//! store → restart → stop, one-shot runs with grant flags, keys and the component store, and
//! each error path with its message and exit code (0 ok, 1 failure, 2 usage).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use test_programs::nats::NatsServer as Nats;

const BIN: &str = env!("CARGO_BIN_EXE_airssys");

/// Run `airssys` in `dir` with its own component store.
fn airssys(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("AIRSSYS_HOME", dir.join("home"))
        .env_remove("AIRSSYS_SOCKET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run airssys")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o));
    stdout(o)
}

#[track_caller]
fn fails(o: &Output, code: i32, words: &[&str]) {
    assert_eq!(o.status.code(), Some(code), "stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o));
    let err = stderr(o);
    for w in words {
        assert!(err.contains(w), "{w:?} not in:\n{err}");
    }
}

/// A foreground `airssys up` (or `run`), stopped with SIGINT.
struct Running {
    child: Child,
    log: PathBuf,
    out: PathBuf,
}

impl Running {
    fn start(dir: &Path, args: &[&str], socket: &Path) -> Running {
        let log = dir.join(format!("up-{}.log", std::process::id()));
        let out = dir.join(format!("up-{}.out", std::process::id()));
        let child = Command::new(BIN)
            .args(args)
            .current_dir(dir)
            .env("AIRSSYS_HOME", dir.join("home"))
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut running = Running { child, log, out };
        let start = Instant::now();
        while !socket.exists() {
            if let Ok(Some(status)) = running.child.try_wait() {
                panic!("airssys exited with {status}:\n{}", running.logs());
            }
            assert!(start.elapsed() < Duration::from_secs(120), "no socket:\n{}", running.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
        running
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What it printed on stdout so far.
    fn printed(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Wait until `text` is in its logs `times` times.
    #[track_caller]
    fn wait_for_logged(&self, text: &str, times: usize) {
        let start = Instant::now();
        while self.logs().matches(text).count() < times {
            assert!(start.elapsed() < Duration::from_secs(240), "no {text:?}:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ctrl-C, then its exit code and logs.
    fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), self.logs());
            }
            assert!(start.elapsed() < Duration::from_secs(30), "did not stop:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The whole path of a new user: scaffold a component, build it, inspect it, run its app
/// (with `airssys dev`: `up` that rebuilds and upgrades on a change), talk to it, read and
/// write its storage, restart it, edit its source and see the change running, upgrade it by
/// hand, stop it, and stop the app.
#[test]
fn scaffold_build_run_and_talk_to_an_app() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok(&airssys(root, &["new", "greeter"]));
    let project = root.join("greeter");
    assert!(project.join("src/lib.rs").is_file() && project.join("airssys.toml").is_file());
    fails(&airssys(root, &["new", "greeter"]), 1, &["already exists"]);
    fails(&airssys(root, &["new", "9lives"]), 1, &["not a valid project name"]);
    fails(&airssys(root, &["new", "host"]), 1, &["not a valid project name"]);

    let built = ok(&airssys(&project, &["build", "-q"]));
    let wasm = project.join("target/wasm32-wasip2/release/greeter.wasm");
    assert!(built.contains("greeter.wasm") && wasm.is_file(), "{built}");
    let inspected = ok(&airssys(&project, &["inspect", wasm.to_str().unwrap()]));
    assert!(inspected.contains("fits the AirsSys contract: yes"), "{inspected}");
    assert!(inspected.contains("airssys:component/storage"), "{inspected}");
    let json: serde_json::Value = serde_json::from_str(&ok(&airssys(
        &project,
        &["inspect", "-o", "json", wasm.to_str().unwrap()],
    )))
    .unwrap();
    assert!(json["misfit"].is_null() && json["sha256"].as_str().unwrap().len() == 64);

    let socket = project.join(".airssys/control.sock");
    let up = Running::start(&project, &["dev"], &socket);
    // A second `up` of the same app refuses before starting anything.
    fails(&airssys(&project, &["up"]), 1, &["already running"]);
    let ps = ok(&airssys(&project, &["ps"]));
    assert!(ps.contains("greeter") && ps.contains("running") && ps.contains("KiB"), "{ps}");
    let call = |name: &str| {
        let payload = format!("{{\"name\": \"{name}\"}}");
        let out =
            ok(&airssys(&project, &["call", "greeter", &payload, "--codec", "json", "-o", "json"]));
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["response"].clone()
    };
    assert_eq!(call("Ada"), serde_json::json!({"text": "Hello, Ada!", "count": 1}));
    assert_eq!(call("Grace"), serde_json::json!({"text": "Hello, Grace!", "count": 2}));
    assert_eq!(ok(&airssys(&project, &["store", "get", "greeter", "greetings"])).trim(), "2");
    ok(&airssys(&project, &["store", "put", "greeter", "greetings", "41"]));
    assert_eq!(ok(&airssys(&project, &["store", "ls", "greeter"])).trim(), "greetings");
    ok(&airssys(&project, &["restart", "greeter"]));
    // Storage survived the restart.
    assert_eq!(call("Alan")["count"], 42);
    // The dev loop: an edit of the source is rebuilt and upgraded in place; the count (in
    // storage) goes on.
    let source = project.join("src/lib.rs");
    let code = std::fs::read_to_string(&source).unwrap();
    assert!(code.contains("\"{}, {}!\""), "{code}");
    std::fs::write(&source, code.replace("\"{}, {}!\"", "\"{}, {}!!\"")).unwrap();
    up.wait_for_logged("upgraded greeter", 1);
    assert_eq!(call("Alan"), serde_json::json!({"text": "Hello, Alan!!", "count": 43}));
    // A build error is shown, and the old code keeps running.
    std::fs::write(&source, format!("{code}\nfn broken( {{\n")).unwrap();
    up.wait_for_logged("the old code keeps running", 1);
    assert!(up.logs().contains("unclosed delimiter"), "{}", up.logs());
    assert_eq!(call("Ada")["text"], "Hello, Ada!!");
    // Fixed: the original code comes back, and `ps` shows its version.
    std::fs::write(&source, &code).unwrap();
    up.wait_for_logged("upgraded greeter", 2);
    assert_eq!(call("Ada")["text"], "Hello, Ada!");
    let upgraded = ok(&airssys(
        &project,
        &["upgrade", "greeter", "target/wasm32-wasip2/release/greeter.wasm", "--grace", "0"],
    ));
    assert!(upgraded.starts_with("upgraded greeter from "), "{upgraded}");
    let version = upgraded.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(ok(&airssys(&project, &["ps"])).contains(&version));
    fails(&airssys(&project, &["upgrade", "greeter", "airssys.toml"]), 1, &["cannot be loaded"]);
    fails(&airssys(&project, &["upgrade", "nobody", "x.wasm"]), 1, &["no component is named"]);
    ok(&airssys(&project, &["send", "greeter", "{\"name\": \"Edsger\"}", "--codec", "json"]));
    let exported = ok(&airssys(&project, &["store", "export", "greeter"]));
    assert!(exported.contains("\"greetings\""), "{exported}");
    // A codec the component does not accept is refused before delivery; JSON of the wrong
    // shape is the handler's error. Both are reported with exit code 1.
    let refused = airssys(&project, &["call", "greeter", "not json at all"]);
    fails(&refused, 1, &["does not accept this codec", "0x200"]);
    let wrong = airssys(&project, &["call", "greeter", "{\"nom\": 1}", "--codec", "json"]);
    fails(&wrong, 1, &["the handler returned an error", "missing field `name`"]);
    fails(&airssys(&project, &["call", "nobody", "x"]), 1, &["no component has the address"]);
    let logs = ok(&airssys(&project, &["logs", "-n", "500"]));
    assert!(logs.contains("greeter"), "{logs}");
    // No [audit] file in this manifest: the command says where audit records went instead.
    fails(&airssys(&project, &["audit"]), 1, &["[audit] file"]);
    ok(&airssys(&project, &["stop", "greeter"]));
    let ps = ok(&airssys(&project, &["ps", "-o", "json"]));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&ps).unwrap(), serde_json::json!([]));
    fails(&airssys(&project, &["stop", "greeter"]), 1, &["no component is named"]);
    let (code, logs) = up.interrupt();
    assert_eq!(code, Some(0), "{logs}");
    assert!(logs.contains("stopped cleanly"), "{logs}");
    assert!(!socket.exists());
    fails(&airssys(&project, &["ps"]), 1, &["no running app", "airssys up"]);
}

/// A plain HTTP/1.1 GET on loopback: the status and the body.
fn http_get(addr: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return (status, body.to_owned());
    }
    // Chunked: each chunk is its size in hex, a line, its bytes, a line; size 0 ends it.
    let (mut rest, mut whole) = (body, String::new());
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        whole.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    (status, whole)
}

/// `airssys up --observe`: prints the observer's address with its token; the page and
/// `/metrics` answer with it and refuse without it; a non-loopback address needs
/// `--observe-remote`.
#[test]
fn up_serves_the_observer_and_metrics_behind_a_printed_token() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let manifest = format!(
        "[app]\nname = \"seen\"\n\n[trust]\ndevelopment = true\n\n[components.a]\nsource = \"{}\"\n",
        test_programs::MISBEHAVE
    );
    std::fs::write(root.join("airssys.toml"), manifest).unwrap();
    let refused = airssys(root, &["up", "--observe", "0.0.0.0:0"]);
    fails(&refused, 1, &["not a loopback address"]);
    let socket = root.join(".airssys/control.sock");
    let up = Running::start(root, &["up", "--observe", "127.0.0.1:0"], &socket);
    let start = Instant::now();
    let url = loop {
        if let Some(line) = up.printed().lines().find(|l| l.starts_with("observer: ")) {
            break line.trim_start_matches("observer: ").to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no observer line:\n{}", up.logs());
        std::thread::sleep(Duration::from_millis(50));
    };
    let rest = url.strip_prefix("http://").expect("an http address");
    let (addr, token) = rest.split_once("/?token=").expect("the token in the address");
    assert!(addr.starts_with("127.0.0.1:"), "{url}");
    assert_eq!(ok(&airssys(root, &["call", "a", "hi", "--codec", "raw"])).trim(), "ok");
    let (status, page) = http_get(addr, &format!("/?token={token}"), None);
    assert_eq!(status, 200);
    assert!(page.contains("AirsSys observer"));
    let (status, metrics) = http_get(addr, "/metrics", Some(token));
    assert_eq!(status, 200);
    assert!(metrics.contains("airssys_component_up{component=\"a\"} 1"), "{metrics}");
    let handled = "airssys_component_messages_handled_total{component=\"a\"} 1";
    assert!(metrics.contains(handled), "{metrics}");
    assert_eq!(http_get(addr, "/metrics", None).0, 401);
    assert_eq!(http_get(addr, "/", None).0, 401);
    let (code, logs) = up.interrupt();
    assert_eq!(code, Some(0), "{logs}");
}

/// A pool of thousands starts with its progress shown (`--progress`: stderr is no terminal
/// here) and serves; an app whose instances would pass the kernel's limit on memory
/// mappings is refused before any starts, naming `vm.max_map_count` and what to set.
#[test]
fn a_large_pool_starts_with_progress_and_one_past_the_mapping_limit_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let app = |instances: u32| {
        format!(
            "[app]\nname = \"many\"\n\n[trust]\ndevelopment = true\n\n[engine]\n\
             pool_components = {instances}\n\n[components.echo]\nsource = \"{}\"\n\
             instances = {instances}\n",
            test_programs::ECHO
        )
    };
    std::fs::write(root.join("airssys.toml"), app(5000)).unwrap();
    let socket = root.join(".airssys/control.sock");
    let up = Running::start(root, &["up", "--progress"], &socket);
    up.wait_for_logged("5000/5000 instances started, in", 1);
    assert!(up.logs().contains("starting: "), "{}", up.logs());
    assert_eq!(ok(&airssys(root, &["call", "echo/4999", "hi", "--codec", "raw"])).trim(), "hi");
    assert_eq!(ok(&airssys(root, &["call", "echo", "hi", "--codec", "raw"])).trim(), "hi");
    let (code, logs) = up.interrupt();
    assert_eq!(code, Some(0), "{logs}");

    let limit: u32 =
        std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap().trim().parse().unwrap();
    let past = root.join("past");
    std::fs::create_dir(&past).unwrap();
    std::fs::write(past.join("airssys.toml"), app(limit / 4 + 64)).unwrap();
    let refused = airssys(&past, &["up"]);
    fails(&refused, 1, &["vm.max_map_count", "sysctl -w vm.max_map_count="]);

    // A pool whose execution stacks alone need more mappings than the limit cannot be
    // reserved: the host allocates on demand, and `ps` says so, and why.
    let unreserved = root.join("unreserved");
    std::fs::create_dir(&unreserved).unwrap();
    let manifest = format!(
        "[app]\nname = \"spread\"\n\n[trust]\ndevelopment = true\n\n[engine]\n\
         pool_components = {}\n\n[components.echo]\nsource = \"{}\"\n",
        limit / 2 + 1000,
        test_programs::ECHO
    );
    std::fs::write(unreserved.join("airssys.toml"), manifest).unwrap();
    let socket = unreserved.join(".airssys/control.sock");
    let up = Running::start(&unreserved, &["up"], &socket);
    up.wait_for_logged("is up", 1);
    let ps = ok(&airssys(&unreserved, &["ps"]));
    assert!(ps.contains("note: instances are allocated on demand"), "{ps}");
    assert!(ps.contains("vm.max_map_count"), "{ps}");
    assert_eq!(ok(&airssys(&unreserved, &["call", "echo", "hi", "--codec", "raw"])).trim(), "hi");
    let (code, logs) = up.interrupt();
    assert_eq!(code, Some(0), "{logs}");
}

/// Components of the standard worlds run as they are: `run` serves a `wasi:http/proxy`
/// component over HTTP (and `up` serves an `[[http]]` route), and runs a `wasi:cli/command`
/// component once, exiting with its status; `inspect` names the world.
#[test]
fn standard_wasi_components_are_served_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let inspected = ok(&airssys(root, &["inspect", test_programs::HTTP_HANDLER]));
    assert!(inspected.contains("world: wasi:http/proxy"), "{inspected}");
    let inspected = ok(&airssys(root, &["inspect", test_programs::HELLO_COMMAND]));
    assert!(inspected.contains("world: wasi:cli/command"), "{inspected}");

    let ran = airssys(root, &["run", test_programs::HELLO_COMMAND, "--env", "NAME=Ada"]);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    assert!(stderr(&ran).contains("hello, Ada, from a command"), "{}", stderr(&ran));
    let failed = airssys(root, &["run", test_programs::HELLO_COMMAND, "--env", "FAIL=1"]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));

    let socket = root.join(".airssys/control.sock");
    let args = ["run", test_programs::HTTP_HANDLER, "--listen", "127.0.0.1:0"];
    let served = Running::start(root, &args, &socket);
    let addr = printed_http_address(&served);
    assert_eq!(http_get(&addr, "/hello", None), (200, "hello from wasi:http".into()));
    let (code, logs) = served.interrupt();
    assert_eq!(code, Some(0), "{logs}");

    // The same component behind an [[http]] route of an app, as a pool of two.
    let app = root.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let manifest = format!(
        "[app]\nname = \"web\"\n\n[trust]\ndevelopment = true\n\n[components.web]\n\
         source = \"{}\"\ninstances = 2\n\n[[http]]\nlisten = \"127.0.0.1:0\"\n\
         component = \"web\"\n",
        test_programs::HTTP_HANDLER
    );
    std::fs::write(app.join("airssys.toml"), manifest).unwrap();
    let up = Running::start(&app, &["up"], &app.join(".airssys/control.sock"));
    let addr = printed_http_address(&up);
    assert_eq!(http_get(&addr, "/count", None), (200, "1".into()));
    assert_eq!(http_get(&addr, "/count", None), (200, "1".into()), "the pool's other member");
    assert_eq!(http_get(&addr, "/count", None), (200, "2".into()));
    let (code, logs) = up.interrupt();
    assert_eq!(code, Some(0), "{logs}");
}

/// The `http: URL` line a serving `run` or `up` prints, as `ip:port`.
fn printed_http_address(running: &Running) -> String {
    let start = Instant::now();
    loop {
        if let Some(line) = running.printed().lines().find(|l| l.starts_with("http: ")) {
            let url = line.trim_start_matches("http: ");
            return url.trim_start_matches("http://").trim_end_matches('/').to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no http line:\n{}", running.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `run` starts one component with grants from flags and calls it once.
#[test]
fn run_calls_one_component_with_grant_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let misbehave = test_programs::MISBEHAVE;
    let out = ok(&airssys(
        root,
        &["run", misbehave, "--env", "GREETING=hi", "--call", "env:GREETING", "--codec", "raw"],
    ));
    assert_eq!(out.trim(), "hi");
    let out = ok(&airssys(root, &["run", misbehave, "--call", "env:GREETING", "--codec", "raw"]));
    assert_eq!(out.trim(), "unset", "nothing is granted by default");
    std::fs::create_dir(root.join("files")).unwrap();
    std::fs::write(root.join("files/hello.txt"), "from the host").unwrap();
    let out = ok(&airssys(
        root,
        &[
            "run",
            misbehave,
            "--dir",
            "files::/data",
            "--call",
            "read:/data/hello.txt",
            "--codec",
            "raw",
        ],
    ));
    assert_eq!(out.trim(), "from the host");
    let out = ok(&airssys(
        root,
        &["run", test_programs::KV, "--storage", "64KiB", "--call", "set:a=1", "--codec", "raw"],
    ));
    assert_eq!(out.trim(), "ok");
    let out = ok(&airssys(
        root,
        &["run", test_programs::KV, "--storage", "64KiB", "--call", "get:a", "--codec", "raw"],
    ));
    assert_eq!(out.trim(), "1", "storage persisted in ./.airssys/data");
    let out = ok(&airssys(root, &["run", test_programs::KV, "--call", "get:a", "--codec", "raw"]));
    assert_eq!(out.trim(), "error: StorageError::NotPermitted");
}

/// Each error path: a clear message and the right exit code.
#[test]
fn errors_say_what_to_do_and_exit_with_the_right_code() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Usage errors: 2.
    fails(&airssys(root, &["frobnicate"]), 2, &["unrecognized subcommand"]);
    fails(&airssys(root, &["call"]), 2, &["required"]);
    fails(&airssys(root, &["run", "x.wasm", "--codec", "yaml"]), 2, &["invalid value"]);
    // No manifest, a bad manifest, a missing component file.
    fails(&airssys(root, &["up"]), 1, &["no app manifest", "airssys new"]);
    std::fs::write(root.join("bad.toml"), "[app]\nname = \"x\"\nnmae = \"typo\"\n").unwrap();
    fails(&airssys(root, &["up", "bad.toml"]), 1, &["bad.toml:3", "nmae"]);
    std::fs::write(
        root.join("missing.toml"),
        "[app]\nname = \"x\"\n[trust]\ndevelopment = true\n[components.a]\nsource = \"nope.wasm\"\n",
    )
    .unwrap();
    fails(&airssys(root, &["up", "missing.toml"]), 1, &["nope.wasm"]);
    // Files that are not components, or do not fit the contract.
    fails(
        &airssys(root, &["inspect", "absent.wasm"]),
        1,
        &["cannot read the component absent.wasm"],
    );
    std::fs::write(root.join("text.wasm"), "hello").unwrap();
    fails(&airssys(root, &["inspect", "text.wasm"]), 1, &["not a WebAssembly component"]);
    let misfit = airssys(root, &["inspect", test_programs::MISFIT]);
    assert_eq!(misfit.status.code(), Some(1));
    assert!(stdout(&misfit).contains("fits the AirsSys contract: no"), "{}", stdout(&misfit));
    fails(
        &airssys(root, &["run", test_programs::MISFIT, "--call", "{}"]),
        1,
        &["airssys:component"],
    );
    // No running app.
    fails(&airssys(root, &["ps"]), 1, &["no running app", "airssys up"]);
    fails(&airssys(root, &["--socket", "/nonexistent/sock", "logs"]), 1, &["/nonexistent/sock"]);
    // Errors in JSON mode are JSON on stdout.
    let out = airssys(root, &["ps", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(error["error"].as_str().unwrap().contains("no running app"));
    // `build` outside a project.
    fails(&airssys(root, &["build"]), 1, &["no Cargo.toml", "airssys new"]);
}

/// Keys, signatures and the local component store.
#[test]
fn keys_signatures_and_the_component_store() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let keygen = ok(&airssys(root, &["keygen", "-o", "json"]));
    let public = serde_json::from_str::<serde_json::Value>(&keygen).unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(root.join("airssys.key")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    fails(&airssys(root, &["keygen"]), 1, &["must not exist"]);
    std::fs::copy(test_programs::ECHO, root.join("echo.wasm")).unwrap();
    ok(&airssys(root, &["sign", "echo.wasm"]));
    let verified = ok(&airssys(root, &["verify", "echo.wasm", "--trusted", &public]));
    assert!(verified.contains("signature valid"), "{verified}");
    let other = "11".repeat(32);
    fails(&airssys(root, &["verify", "echo.wasm", "--trusted", &other]), 1, &["echo.wasm"]);

    fails(&airssys(root, &["install", "echo.wasm"]), 1, &["--trusted", "--allow-unsigned"]);
    let installed = ok(&airssys(root, &["install", "echo.wasm", "--trusted", &public]));
    assert!(installed.contains("signed by") && installed.contains("precompiled"), "{installed}");
    assert!(std::fs::read_dir(root.join("home/cache")).unwrap().count() > 0);
    let list = ok(&airssys(root, &["list"]));
    assert!(list.contains("echo") && list.contains("yes"), "{list}");
    // Changed bytes no longer match the signature.
    let mut bytes = std::fs::read(root.join("echo.wasm")).unwrap();
    bytes.push(0);
    std::fs::write(root.join("echo.wasm"), bytes).unwrap();
    fails(&airssys(root, &["install", "echo.wasm", "--trusted", &public]), 1, &["echo.wasm"]);
    fails(
        &airssys(root, &["install", test_programs::MISFIT, "--allow-unsigned"]),
        1,
        &["contract"],
    );
    ok(&airssys(root, &["remove", "echo"]));
    fails(&airssys(root, &["remove", "echo"]), 1, &["not installed"]);
    let completions = ok(&airssys(root, &["completions", "bash"]));
    assert!(completions.contains("airssys"));
}

/// The README's demo: the scripted tour of every example app, built from source, checks what
/// each app does and exits 0.
#[test]
fn the_demo_tours_every_example() {
    let tmp = tempfile::tempdir().unwrap();
    let out = airssys(tmp.path(), &["demo", "-q"]);
    let text = ok(&out);
    for app in ["ping-pong", "counter", "calculator", "chat", "supervision", "hostile"] {
        assert!(text.contains(&format!("== {app}")), "{app} missing in:\n{text}");
    }
    assert!(text.contains("tour complete"), "{text}");
}

/// The threat model's items 9 and W3 (`docs/security.md`) through the binary: guest text
/// cannot forge lines in `airssys logs` or on stderr, and when the root supervisor gives up,
/// `up` says so and exits 1.
#[test]
fn item_09_and_w3_forged_lines_are_escaped_and_a_failed_root_ends_up() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let manifest = format!(
        r#"[app]
name = "fragile"

[trust]
development = true

[components.a]
source = "{misbehave}"

[components.b]
source = "{misbehave}"

[supervisor]
strategy = "one-for-all"
intensity = {{ restarts = 1, within = "60s" }}
children = ["a", "b"]
"#,
        misbehave = test_programs::MISBEHAVE
    );
    std::fs::write(root.join("airssys.toml"), manifest).unwrap();
    let socket = root.join(".airssys/control.sock");
    let mut up = Running::start(root, &["up"], &socket);
    let forged = "FORGED 2026-01-01T00:00:00Z WARN airssys_osl::audit: deny";
    let said = ok(&airssys(root, &["call", "a", &format!("log:x\n{forged}"), "--codec", "raw"]));
    assert_eq!(said.trim(), "logged");
    let logs = ok(&airssys(root, &["logs", "-n", "2000"]));
    assert!(logs.contains(&format!("x\\n{forged}")), "{logs}");
    assert!(!logs.lines().any(|l| l.starts_with("FORGED")), "{logs}");
    // Two crashes within a minute: over the root's intensity (one restart).
    let _ = airssys(root, &["call", "a", "recurse", "--codec", "raw"]);
    let start = Instant::now();
    while !ok(&airssys(root, &["ps"])).lines().any(|l| l.starts_with('a') && l.contains("running"))
    {
        assert!(start.elapsed() < Duration::from_secs(30), "a did not come back");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = airssys(root, &["call", "a", "recurse", "--codec", "raw"]);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = up.child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "up kept running:\n{}", up.logs());
        std::thread::sleep(Duration::from_millis(50));
    };
    let logs = up.logs();
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(logs.contains("root supervisor ended"), "{logs}");
    assert!(!logs.lines().any(|l| l.starts_with("FORGED")), "{logs}");
}

/// A real second local user, made for one test and removed afterwards (even on failure).
struct LocalUser {
    name: String,
    uid: u32,
}

impl LocalUser {
    /// None (with the reason printed) unless the test runs as root with `useradd`.
    fn create(tag: &str) -> Option<LocalUser> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: creating a second local user needs root");
            return None;
        }
        let name = format!("airssys-{tag}-{}", std::process::id());
        let made = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", &name])
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: useradd is not available here");
            return None;
        }
        let id = Command::new("id").args(["-u", &name]).output().unwrap();
        let uid = String::from_utf8_lossy(&id.stdout).trim().parse().unwrap();
        Some(LocalUser { name, uid })
    }

    fn chown(&self, path: &Path) {
        let uid = rustix::process::Uid::from_raw(self.uid);
        rustix::fs::chown(path, Some(uid), None).unwrap();
    }
}

impl Drop for LocalUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// The threat model's item W6 (`docs/security.md`): in a shared project directory, another
/// user who made `.airssys/` (or a socket in it) first is neither trusted by the client nor
/// silently fought by `up`.
#[test]
fn item_w6_a_control_directory_or_socket_of_another_user_is_refused() {
    let Some(other) = LocalUser::create("w6") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let manifest = format!(
        "[app]\nname = \"shared\"\n\n[trust]\ndevelopment = true\n\n[components.a]\nsource = \"{}\"\n",
        test_programs::MISBEHAVE
    );
    std::fs::write(root.join("airssys.toml"), manifest).unwrap();
    let control = root.join(".airssys");
    std::fs::create_dir(&control).unwrap();
    other.chown(&control);
    // `up` says whose the directory is and what to do.
    fails(&airssys(root, &["up"]), 1, &[".airssys", "belongs to another user", "--socket"]);
    // The client does not talk to what is in it.
    fails(&airssys(root, &["ps"]), 1, &["belongs to another user"]);
    // A socket of another user's in a directory of ours: the client refuses it too.
    rustix::fs::chown(&control, Some(rustix::process::geteuid()), None).unwrap();
    let socket = control.join("control.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    other.chown(&socket);
    fails(&airssys(root, &["ps"]), 1, &["control socket", "belongs to another user"]);
    drop(listener);
    std::fs::remove_file(&socket).unwrap();
    // A directory of ours that others may write: refused by the client, fixed by `up`.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o777)).unwrap();
    fails(&airssys(root, &["ps"]), 1, &["may be written by other users"]);
    let up = Running::start(root, &["up"], &socket);
    assert_eq!(ok(&airssys(root, &["call", "a", "hi", "--codec", "raw"])).trim(), "ok");
    let mode = std::fs::metadata(&control).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let (code, logs) = up.interrupt();
    assert_eq!(code, Some(0), "{logs}");
}

/// The Python and JavaScript toolchains, installed (once, pinned) by the script the test
/// build also runs; their directory.
fn guest_toolchains() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/install-guest-toolchains");
    let out = Command::new(&script).output().expect("run install-guest-toolchains");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `airssys new --lang LANG` makes a project that `airssys build` builds with that
/// language's toolchain; the component answers like the Rust template's; a second `run` of
/// it loads its compiled code from the artifact cache instead of compiling again.
fn scaffold_build_and_run_twice(lang: &str, prepare: impl Fn(&Path) -> Vec<(String, PathBuf)>) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let created = ok(&airssys(root, &["new", "hello", "--lang", lang]));
    assert!(created.contains("airssys build"), "{created}");
    let project = root.join("hello");
    let env = prepare(&project);
    let built = Command::new(BIN)
        .args(["build", "-q"])
        .current_dir(&project)
        .env("AIRSSYS_HOME", root.join("home"))
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(ok(&built).contains("build/app.wasm"), "{}", stdout(&built));
    let run = || {
        airssys(
            &project,
            &[
                "-v",
                "run",
                "build/app.wasm",
                "--storage",
                "1MiB",
                "--codec",
                "json",
                "--call",
                "{\"name\": \"Ada\"}",
                "-o",
                "json",
            ],
        )
    };
    let first = run();
    let answer: serde_json::Value = serde_json::from_str(&ok(&first)).unwrap();
    assert_eq!(answer["response"]["text"], "Hello, Ada!", "{lang}: {answer}");
    let log = stderr(&first);
    let cached = "loaded compiled code from the artifact cache";
    assert!(log.contains("compiled") && !log.contains(cached), "{lang}: {log}");
    let second = run();
    let answer: serde_json::Value = serde_json::from_str(&ok(&second)).unwrap();
    assert_eq!(answer["response"]["count"], 2, "{lang}: {answer}");
    let log = stderr(&second);
    assert!(log.contains("loaded compiled code from the artifact cache"), "{lang}: {log}");
}

#[test]
fn a_python_project_builds_and_its_second_run_does_not_recompile() {
    let toolchains = guest_toolchains();
    scaffold_build_and_run_twice("python", |_| {
        vec![("COMPONENTIZE_PY".into(), toolchains.join("python/bin/componentize-py"))]
    });
}

#[test]
fn a_javascript_project_builds_and_its_second_run_does_not_recompile() {
    let toolchains = guest_toolchains();
    scaffold_build_and_run_twice("js", |project| {
        // What `npm install` in the project would install, from the same lock file.
        std::os::unix::fs::symlink(
            toolchains.join("js/node_modules"),
            project.join("node_modules"),
        )
        .unwrap();
        Vec::new()
    });
}

/// Without its toolchain, `airssys build` says how to install it.
#[test]
fn a_missing_guest_toolchain_is_named_with_its_install_command() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok(&airssys(root, &["new", "py", "--lang", "python"]));
    let built = Command::new(BIN)
        .arg("build")
        .current_dir(root.join("py"))
        .env("PATH", "/nonexistent")
        .env("COMPONENTIZE_PY", "/nonexistent/componentize-py")
        .output()
        .unwrap();
    fails(&built, 1, &["componentize-py is not installed", "pip install componentize-py==0.25.1"]);
    ok(&airssys(root, &["new", "js", "--lang", "js"]));
    fails(&airssys(&root.join("js"), &["build"]), 1, &["npm install"]);
}

impl Running {
    /// Wait until its logs hold `text`; the logs.
    fn wait_for_log(&mut self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let logs = self.logs();
            if logs.contains(text) {
                return logs;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("airssys exited with {status}:\n{logs}");
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no {text:?} in:\n{logs}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no release of its names, no goodbye to the cluster.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// Two `airssys up --cluster` of one app on one NATS server, its storage kept in the
/// cluster: each component runs on one host while the other stands by; `airssys call`
/// through either host reaches it; when its host is killed with SIGKILL, the standby starts
/// it, and it goes on from the data it stored on the first host.
#[test]
fn a_cluster_runs_each_component_once_and_takes_over_from_a_killed_host() {
    let nats = Nats::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // The cluster comes from the manifest here; the host ids from the flags.
    let manifest = format!(
        "[app]\nname = \"shop\"\n\n[trust]\ndevelopment = true\n\n\
         [cluster]\nurl = \"{}\"\nstorage = \"cluster\"\n\n\
         [components.kv]\nsource = \"{}\"\n\
         grants = {{ storage = {{ quota = \"64KiB\", keys = 10 }} }}\n",
        nats.url,
        test_programs::KV
    );
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    for dir in [&dir_a, &dir_b] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("airssys.toml"), &manifest).unwrap();
    }
    let up = |dir: &Path, id: &str| {
        let args = ["up", "--host-id", id];
        Running::start(dir, &args, &dir.join(".airssys/control.sock"))
    };
    let mut a = up(&dir_a, "host-a");
    a.wait_for_log("kv runs on this host (host-a)");
    let mut b = up(&dir_b, "host-b");
    b.wait_for_log("kv runs on host host-a; this host stands by");
    let incr = |dir: &Path| airssys(dir, &["call", "kv", "incr:n:1", "--codec", "raw"]);
    assert_eq!(ok(&incr(&dir_a)).trim(), "1");
    // Host b does not run it: its call goes to host a and the answer comes back.
    assert_eq!(ok(&incr(&dir_b)).trim(), "2");
    // `ps` on either host lists the cluster's components, each with its host.
    let ps = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&ok(&airssys(dir, &["ps", "-o", "json"]))).unwrap()
    };
    let listed = ps(&dir_b);
    assert_eq!(listed[0]["address"], "kv", "{listed}");
    assert_eq!(listed[0]["host"], "host-a", "{listed}");
    assert_eq!(listed[0]["state"], "running", "{listed}");
    assert!(listed[0]["handled"].as_u64() >= Some(2), "{listed}");
    let table = ok(&airssys(&dir_a, &["ps"]));
    assert!(table.contains("HOST") && table.contains("host-a"), "{table}");

    let killed = Instant::now();
    a.kill();
    // Host b sees host a's heartbeats stop, takes the name over and starts the component.
    let logs = b.wait_for_log("took a component over");
    let took = killed.elapsed();
    eprintln!("host b took the component over {took:?} after host a was killed");
    assert!(logs.contains("a host of the cluster is lost"), "{logs}");
    // A fresh instance on host b, with the storage host a wrote.
    assert_eq!(ok(&incr(&dir_b)).trim(), "3");
    let listed = ps(&dir_b);
    assert_eq!((&listed[0]["host"], &listed[0]["state"]), (&"host-b".into(), &"running".into()));
    // Stated: lost after 3 s without a heartbeat (sent every second); generous here, the
    // measured time is in docs/cluster.md.
    assert!(took < Duration::from_secs(15), "took over after {took:?}");
    let (code, logs) = b.interrupt();
    assert_eq!(code, Some(0), "{logs}");
}

/// A host frozen with SIGSTOP is lost like a killed one: a request in flight to its
/// component fails at once with `receiver-crashed` (not at its 30 s timeout), and a host
/// that stands by starts the component and answers for it. Host a is an `airssys up`
/// process; host b runs in this test, through the library.
#[test]
fn a_request_in_flight_to_a_lost_host_fails_at_once_and_the_standby_answers() {
    use airssys_cluster::{Cluster, ClusterConfig, Placement};
    use airssys_wasm::{ComponentSpec, Grants, Host, Payload, Source, codec};
    let nats = Nats::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[app]\nname = \"shop\"\n\n[trust]\ndevelopment = true\n\n\
         [components.bob]\nsource = \"{}\"\n",
        test_programs::RELAY
    );
    std::fs::write(tmp.path().join("airssys.toml"), &manifest).unwrap();
    // A per-host flag without a cluster is a usage mistake, said so before anything starts.
    fails(&airssys(tmp.path(), &["up", "--host-id", "x"]), 1, &["--host-id needs a cluster"]);
    let socket = tmp.path().join(".airssys/control.sock");
    let args = ["up", "--cluster", nats.url.as_str(), "--host-id", "host-a"];
    let mut a = Running::start(tmp.path(), &args, &socket);
    a.wait_for_log("bob runs on this host (host-a)");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    rt.unwrap().block_on(async {
        let t = Duration::from_secs(10);
        let raw = |s: &str| Payload { codec: codec::RAW, bytes: s.as_bytes().to_vec() };
        let relay = |name: &str| {
            ComponentSpec::new(name, Source::File(test_programs::RELAY.into()))
                .grants(Grants::all_messaging())
        };
        let cluster =
            Cluster::join(ClusterConfig::new(&nats.url, "shop").host_id("host-b")).await.unwrap();
        let b = Host::builder()
            .transport(cluster.transport())
            .component(relay("alice").config("target", "bob"))
            .start()
            .await
            .unwrap();
        cluster.serve(b.clone());
        assert_eq!(
            cluster.place(&b, relay("bob")).await.unwrap(),
            Placement::Elsewhere("host-a".into())
        );
        let ask = |command: &'static str| {
            let b = b.clone();
            async move {
                let answer = b.call("alice", raw(command), t).await.unwrap().unwrap();
                String::from_utf8(answer.bytes).unwrap()
            }
        };
        assert_eq!(ask("call:whoami").await, "alice", "answered by bob in the other process");

        let pid = rustix::process::Pid::from_raw(a.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
        let asked = Instant::now();
        assert!(ask("req:30000:t:whoami").await.starts_with("requested "));
        let outcome = loop {
            let taken = ask("take").await;
            if !taken.is_empty() {
                break taken;
            }
            assert!(asked.elapsed() < Duration::from_secs(20), "no outcome yet");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(outcome, "t crashed", "failed as lost, long before its timeout");
        assert!(asked.elapsed() < Duration::from_secs(15), "{:?}", asked.elapsed());
        // The standby took bob over: it answers from this host now.
        while cluster.owner("bob").as_deref() != Some("host-b") {
            assert!(asked.elapsed() < Duration::from_secs(20), "bob was not taken over");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while !b.components().await.iter().any(|c| &*c.address == "bob") {
            assert!(asked.elapsed() < Duration::from_secs(20), "bob did not start here");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(ask("call:whoami").await, "alice");
        // Host a wakes up: it sees that bob is host b's now and stops its own copy (fencing);
        // bob stays host b's.
        rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
        let logs = tokio::task::block_in_place(|| {
            a.wait_for_log("another host runs this component now: stopped here")
        });
        assert!(logs.contains("bob"), "{logs}");
        assert_eq!(cluster.owner("bob").as_deref(), Some("host-b"));
        assert_eq!(ask("call:whoami").await, "alice");
        b.shutdown(Duration::from_secs(5)).await;
    });
    a.kill();
}

/// `examples/cluster` as its README runs it: three `airssys up --cluster` of one app, each
/// placing some of its components; a call and a publish cross hosts; the host running
/// `ponger` is killed and a standby answers for it.
#[test]
fn the_three_host_example_runs_as_its_readme_says() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let examples = examples.canonicalize().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let built = Command::new(BIN)
        .args(["build", "-q"])
        .arg(&examples)
        .env("AIRSSYS_HOME", tmp.path().join("home"))
        .output()
        .unwrap();
    ok(&built);
    let nats = Nats::start().unwrap();
    let manifest = examples.join("cluster/airssys.toml");
    let manifest = manifest.to_str().unwrap();
    let socket = |host: &str| tmp.path().join(format!("{host}.sock"));
    let up = |host: &str, components: &str| {
        let sock = socket(host);
        let args = [
            "--socket",
            sock.to_str().unwrap(),
            "up",
            manifest,
            "--cluster",
            nats.url.as_str(),
            "--host-id",
            host,
            "--components",
            components,
        ];
        Running::start(tmp.path(), &args, &sock)
    };
    let mut h1 = up("h1", "ponger,alice");
    h1.wait_for_log("alice runs on this host (h1)");
    let mut h2 = up("h2", "pinger,bob,ponger");
    h2.wait_for_log("ponger runs on host h1; this host stands by");
    let mut h3 = up("h3", "carol,ponger");
    h3.wait_for_log("ponger runs on host h1; this host stands by");
    let call = |host: &str, args: &[&str]| {
        let sock = socket(host);
        let mut all = vec!["--socket", sock.to_str().unwrap(), "call"];
        all.extend_from_slice(args);
        ok(&airssys(tmp.path(), &all))
    };
    assert_eq!(call("h2", &["pinger", "start 3"]).trim(), "pong 1, pong 2, pong 3");
    assert!(call("h1", &["alice", "say hi"]).contains("reached 1"));
    // Any host lists the whole cluster, and calls a component another host runs.
    let sock = socket("h3");
    let ps = ok(&airssys(tmp.path(), &["--socket", sock.to_str().unwrap(), "ps"]));
    for (name, host) in [("alice", "h1"), ("bob", "h2"), ("carol", "h3"), ("pinger", "h2")] {
        let row = ps.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{ps}"));
        assert!(row.contains(host) && row.contains("running"), "{ps}");
    }
    assert_eq!(call("h3", &["pinger", "start 1"]).trim(), "pong 4");
    let start = Instant::now();
    while !call("h3", &["carol", "history"]).contains("alice: hi") {
        assert!(start.elapsed() < Duration::from_secs(10), "carol did not hear alice");
        std::thread::sleep(Duration::from_millis(20));
    }

    h1.kill();
    let start = Instant::now();
    while !(h2.logs().contains("took a component over")
        || h3.logs().contains("took a component over"))
    {
        assert!(start.elapsed() < Duration::from_secs(15), "nobody took ponger over");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(call("h2", &["pinger", "start 1"]).trim(), "pong 1", "a fresh ponger");
    for host in [h2, h3] {
        let (code, logs) = host.interrupt();
        assert_eq!(code, Some(0), "{logs}");
    }
}
