//! Capabilities, deny by default: messaging targets, accepted senders, topics, message rate
//! and pending requests. Each refusal is a typed error to the guest; the host and the other
//! components carry on.

use std::time::Duration;

use airssys_wasm::{Grants, Host, SendError};

use crate::util::*;

fn only(send: &[&str], request: &[&str]) -> Grants {
    Grants {
        send: send.iter().map(|s| s.to_string()).collect(),
        request: request.iter().map(|s| s.to_string()).collect(),
        ..Grants::default()
    }
}

/// A component sends and calls only where it was granted; without grants it may do neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_go_only_to_granted_targets() {
    let host = Host::builder()
        .component(guest("counter", test_programs::COUNTER))
        .component(guest("echo", test_programs::ECHO))
        .component(
            guest("a", test_programs::RELAY)
                .config("target", "echo")
                .grants(only(&["count*"], &[])),
        )
        .component(guest("none", test_programs::RELAY).config("target", "echo"))
        .start()
        .await
        .unwrap();
    let ask = |who: &'static str, what: &'static str| {
        let host = &host;
        async move { text(host.call(who, raw(what), T).await.unwrap()) }
    };
    assert_eq!(ask("a", "send-to:counter:x").await, "sent");
    assert_eq!(ask("a", "send-to:echo:x").await, "error: SendError::NotPermitted");
    assert_eq!(ask("a", "call:x").await, "error: RequestError::Refused(SendError::NotPermitted)");
    assert_eq!(ask("a", "request:100:x").await, "error: SendError::NotPermitted");
    assert_eq!(ask("none", "send-to:counter:x").await, "error: SendError::NotPermitted");
    assert_eq!(ask("none", "publish:t:x").await, "error: TopicError::NotPermitted");
    // Only the granted send arrived.
    assert_eq!(text(host.call("counter", raw("tick"), T).await.unwrap()), "2");
    host.shutdown(T).await;
}

/// A receiver with `accept_from` takes messages only from the senders listed (the
/// embedding host is `host`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_choose_their_senders() {
    let picky = Grants { accept_from: Some(vec!["friend".into()]), ..Grants::default() };
    let host = Host::builder()
        .component(guest("counter", test_programs::COUNTER).grants(picky))
        .component(relay("friend").config("target", "counter"))
        .component(relay("stranger").config("target", "counter"))
        .start()
        .await
        .unwrap();
    assert_eq!(text(host.call("friend", raw("send:x"), T).await.unwrap()), "sent");
    assert_eq!(
        text(host.call("stranger", raw("send:x"), T).await.unwrap()),
        "error: SendError::NotPermitted"
    );
    assert_eq!(host.send("counter", raw("x")), Err(SendError::NotPermitted));
    let open = Grants { accept_from: Some(vec!["host".into()]), ..Grants::default() };
    host.spawn(guest("open", test_programs::COUNTER).grants(open)).await.unwrap();
    assert_eq!(text(host.call("open", raw("tick"), T).await.unwrap()), "1");
    host.shutdown(T).await;
}

/// Publishing and subscribing stay within the granted topic patterns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_stay_within_their_grants() {
    let grants = Grants {
        publish: vec!["sensors.#".into()],
        subscribe: vec!["sensors.*.temp".into()],
        ..Grants::default()
    };
    let host = Host::builder()
        .component(guest("r", test_programs::RELAY).grants(grants))
        .start()
        .await
        .unwrap();
    let ask = |what: String| {
        let host = &host;
        async move { text(host.call("r", raw(&what), T).await.unwrap()) }
    };
    assert_eq!(ask("subscribe:sensors.kitchen.temp".into()).await, "Ok(())");
    assert_eq!(ask("subscribe:sensors.*.temp".into()).await, "Ok(())");
    assert_eq!(ask("subscribe:sensors.#".into()).await, "Err(TopicError::NotPermitted)");
    assert_eq!(ask("subscribe:alerts.*".into()).await, "Err(TopicError::NotPermitted)");
    assert_eq!(ask("publish:alerts.fire:x".into()).await, "error: TopicError::NotPermitted");
    assert_eq!(ask("publish:sensors.kitchen.temp:21".into()).await, "published 1");
    host.shutdown(T).await;
}

/// A flood past the rate limit is refused with `rate-limited` once the burst is spent; the
/// receiver gets exactly what was accepted; the bucket refills with time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_rate_is_limited() {
    let host = Host::builder()
        .component(guest("counter", test_programs::COUNTER))
        .component(relay("flooder").config("target", "counter").rate(10, 5))
        .start()
        .await
        .unwrap();
    let report = text(host.call("flooder", raw("flood:50"), T).await.unwrap());
    let sent: u32 =
        report.split_whitespace().nth(1).unwrap().trim_end_matches(',').parse().unwrap();
    assert!((5..=6).contains(&sent), "{report}");
    assert!(report.ends_with("SendError::RateLimited"), "{report}");
    assert_eq!(text(host.call("counter", raw("tick"), T).await.unwrap()), (sent + 1).to_string());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(text(host.call("flooder", raw("send:again"), T).await.unwrap()), "sent");
    host.shutdown(T).await;
}

/// Requests beyond the pending limit are refused with `too-many-requests`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_requests_are_capped() {
    let host = Host::builder()
        .component(guest("slow", test_programs::MISBEHAVE))
        .component(relay("asker").config("target", "slow").pending_requests(3))
        .start()
        .await
        .unwrap();
    let report = text(host.call("asker", raw("request-many:5:5000:sleep:100"), T).await.unwrap());
    assert_eq!(report, "requested 3, refused 2 SendError::TooManyRequests");
    // Once they are answered, new requests go through again.
    assert_eq!(recorded(&host, "asker", "callbacks", 3).await.len(), 3);
    let report = text(host.call("asker", raw("request-many:1:5000:x"), T).await.unwrap());
    assert_eq!(report, "requested 1, refused 0");
    host.shutdown(T).await;
}

/// Files: only granted directories are visible, at their guest paths; `..`, absolute paths
/// and symlinks cannot leave them; a read-only grant refuses writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_stay_inside_granted_directories() {
    let root = tempfile::tempdir().unwrap();
    let (ro, rw) = (root.path().join("ro"), root.path().join("rw"));
    std::fs::create_dir(&ro).unwrap();
    std::fs::create_dir(&rw).unwrap();
    std::fs::write(ro.join("hello.txt"), "hi").unwrap();
    std::fs::write(root.path().join("secret"), "s3cret").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret"), ro.join("escape")).unwrap();
    let audit = root.path().join("audit.jsonl");
    let host = Host::builder()
        .audit(airssys_osl::AuditLog::file(&audit).unwrap())
        .component(
            guest("files", test_programs::MISBEHAVE)
                .dir(&ro, "/data", false)
                .dir(&rw, "/out", true),
        )
        .component(guest("nofs", test_programs::MISBEHAVE))
        .start()
        .await
        .unwrap();
    let ask = |who: &'static str, what: String| {
        let host = &host;
        async move { text(host.call(who, raw(&what), T).await.unwrap()) }
    };
    assert_eq!(ask("files", "read:/data/hello.txt".into()).await, "hi");
    for sneaky in
        ["/data/../secret", "/data/escape", &format!("{}", root.path().join("secret").display())]
    {
        let answer = ask("files", format!("read:{sneaky}")).await;
        assert!(answer.starts_with("error"), "{sneaky} was readable: {answer}");
    }
    assert!(ask("files", "write:/data/new.txt:x".into()).await.starts_with("error"));
    assert!(!ro.join("new.txt").exists());
    assert_eq!(ask("files", "write:/out/new.txt:made".into()).await, "written");
    assert_eq!(std::fs::read_to_string(rw.join("new.txt")).unwrap(), "made");
    assert!(ask("nofs", "read:/data/hello.txt".into()).await.starts_with("error"));
    host.shutdown(T).await;
    // Each refusal that reached the host is on record; the absolute path outside every grant
    // was refused by the guest's libc, before any host call.
    let denials = airssys_osl::read_audit(&audit, Some("files"), &["deny"]).unwrap();
    let denied = |action: &str, resource: &str| {
        denials.iter().any(|e| e.action == action && e.resource == resource)
    };
    assert!(denied("fs-read", "../secret"), "{denials:#?}");
    assert!(denied("fs-read", "escape"), "{denials:#?}");
    assert!(denied("fs-write", "new.txt"), "{denials:#?}");
    assert_eq!(denials.len(), 3, "{denials:#?}");

    let missing = Host::builder()
        .component(guest("ghost", test_programs::MISBEHAVE).dir(
            root.path().join("nope"),
            "/x",
            false,
        ))
        .start()
        .await
        .expect_err("a missing directory was granted")
        .chain();
    assert!(missing.contains("ghost") && missing.contains("does not exist"), "{missing}");
}

/// Environment: only granted variables are visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_is_granted_by_name() {
    let host = Host::builder()
        .component(guest("env", test_programs::MISBEHAVE).env("GREETING", "hello"))
        .start()
        .await
        .unwrap();
    assert_eq!(text(host.call("env", raw("env:GREETING"), T).await.unwrap()), "hello");
    for name in ["HOME", "PATH", "USER"] {
        assert_eq!(text(host.call("env", raw(&format!("env:{name}")), T).await.unwrap()), "unset");
    }
    host.shutdown(T).await;
}

/// Network: a granted loopback port connects, another one is refused, and a component
/// without network grants cannot connect at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_reaches_only_granted_addresses() {
    let granted = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (g, o) = (granted.local_addr().unwrap(), other.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let host = Host::builder()
        .audit(airssys_osl::AuditLog::file(&audit).unwrap())
        .component(guest("net", test_programs::MISBEHAVE).network(&[&g.to_string()], &[], &[]))
        .component(guest("offline", test_programs::MISBEHAVE))
        .start()
        .await
        .unwrap();
    let ask = |who: &'static str, what: String| {
        let host = &host;
        async move { text(host.call(who, raw(&what), T).await.unwrap()) }
    };
    assert_eq!(ask("net", format!("connect:{g}")).await, "connected");
    assert!(ask("net", format!("connect:{o}")).await.starts_with("error"));
    assert!(ask("offline", format!("connect:{g}")).await.starts_with("error"));
    assert!(ask("offline", "listen:127.0.0.1:0".into()).await.starts_with("error"));
    host.shutdown(T).await;
    // The refusals are on record; a component granted no network at all is refused its
    // sockets at creation.
    let denials = airssys_osl::read_audit(&audit, None, &["deny"]).unwrap();
    let denied = |who: &str, action: &str, what: &str| {
        denials.iter().any(|e| e.principal == who && e.action == action && e.resource == what)
    };
    assert!(denied("net", "net-connect", &o.to_string()), "{denials:#?}");
    let offline = denials.iter().filter(|e| e.principal == "offline").count();
    assert!(denied("offline", "net-connect", "tcp socket") && offline == 2, "{denials:#?}");
}

/// The audit log records the grants at start, every refusal and limit hit, and crashes and
/// restarts; it reads back filtered by component and kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_records_refusals_limits_and_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let picky = Grants { accept_from: Some(vec!["a".into()]), ..Grants::default() };
    let host = Host::builder()
        .audit(airssys_osl::AuditLog::file(&path).unwrap())
        .component(guest("counter", test_programs::COUNTER).grants(picky))
        .component(
            guest("a", test_programs::RELAY)
                .config("target", "counter")
                .grants(only(&["counter"], &[]))
                .rate(1, 2),
        )
        .component(relay("b").config("target", "counter"))
        .component(guest("net", test_programs::MISBEHAVE).network(&["127.0.0.1:1"], &[], &[]))
        .start()
        .await
        .unwrap();
    let ask = |who: &'static str, what: &'static str| {
        let host = &host;
        async move { text(host.call(who, raw(what), T).await.unwrap()) }
    };
    ask("a", "send-to:echo:x").await; // not granted
    ask("a", "flood:5").await; // 2 go, then rate-limited
    ask("b", "send:x").await; // counter does not accept b
    ask("net", "connect:127.0.0.1:9").await; // not the granted port
    assert!(host.call("counter", raw("crash"), T).await.is_err()); // not accepted from host either
    let oversized = airssys_wasm::Payload { codec: 0x55, bytes: vec![0; (1 << 20) + 1] };
    assert!(matches!(host.send("net", oversized), Err(SendError::PayloadTooLarge(_))));
    host.shutdown(T).await;

    let denials = airssys_osl::read_audit(&path, None, &["deny"]).unwrap();
    let has = |who: &str, action: &str, resource: &str| {
        denials.iter().any(|e| e.principal == who && e.action == action && e.resource == resource)
    };
    assert!(has("a", "message-send", "echo"), "{denials:#?}");
    assert!(has("a", "limit", "counter"), "{denials:#?}");
    assert!(has("b", "message-accept", "counter"), "{denials:#?}");
    assert!(has("host", "message-accept", "counter"), "{denials:#?}");
    assert!(has("net", "net-connect", "127.0.0.1:9"), "{denials:#?}");
    assert!(has("host", "limit", "net"), "{denials:#?}");
    let grants = airssys_osl::read_audit(&path, Some("a"), &["grant"]).unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        (grants[0].action.as_str(), grants[0].resource.as_str()),
        ("message-send", "counter")
    );
}

/// A crash and the restart that follows are on record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_records_crashes_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let host = Host::builder()
        .audit(airssys_osl::AuditLog::file(&path).unwrap())
        .component(guest("counter", test_programs::COUNTER))
        .start()
        .await
        .unwrap();
    assert!(host.call("counter", raw("crash"), T).await.is_err());
    assert_eq!(text(host.call("counter", raw("tick"), T).await.unwrap()), "1");
    host.shutdown(T).await;
    let events = airssys_osl::read_audit(&path, Some("counter"), &["crash", "restart"]).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.decision.as_str()).collect();
    assert_eq!(kinds, ["crash", "restart"]);
    assert!(events[0].rule.contains("unreachable"), "{:?}", events[0]);
}

/// Signed components: a host with trusted keys loads what they signed, and refuses unsigned
/// components, changed bytes, bad signatures and untrusted signers, each with a clear error,
/// while a development host loads anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_components_signed_by_trusted_keys_load() {
    use airssys_wasm::trust::{ComponentSignature, SecretKey, TrustPolicy};
    use airssys_wasm::{ComponentSpec, HostError, Source};
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("echo.wasm");
    let bytes = std::fs::read(test_programs::ECHO).unwrap();
    std::fs::write(&wasm, &bytes).unwrap();
    let ours = SecretKey::generate().unwrap();
    let theirs = SecretKey::generate().unwrap();
    let keys = TrustPolicy::Keys(vec![ours.public()]);
    let start = |spec: ComponentSpec, policy: TrustPolicy| async move {
        Host::builder().trust(policy).component(spec).start().await
    };
    let refused = |result: Result<Host, HostError>| match result {
        Err(HostError::Untrusted { reason, .. }) => reason.to_string(),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("an untrusted component was loaded"),
    };
    let file = || ComponentSpec::new("echo", Source::File(wasm.clone()));

    // Unsigned.
    assert!(refused(start(file(), keys.clone()).await).contains("not signed"));
    // Signed by us (the .sig file next to it): loads and works.
    std::fs::write(dir.path().join("echo.wasm.sig"), ours.sign(&bytes).to_json()).unwrap();
    let host = start(file(), keys.clone()).await.unwrap();
    assert_eq!(text(host.call("echo", raw("signed"), T).await.unwrap()), "signed");
    host.shutdown(T).await;
    // Changed after signing.
    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    std::fs::write(&wasm, &tampered).unwrap();
    assert!(refused(start(file(), keys.clone()).await).contains("does not match"));
    std::fs::write(&wasm, &bytes).unwrap();
    // Signed by someone we do not trust.
    std::fs::write(dir.path().join("echo.wasm.sig"), theirs.sign(&bytes).to_json()).unwrap();
    assert!(refused(start(file(), keys.clone()).await).contains("not a trusted key"));
    // A forged signature: our key named, their signature.
    let mut forged = theirs.sign(&bytes);
    forged.key = ours.public().to_hex();
    let spec = ComponentSpec::new("echo", Source::Bytes(bytes.clone().into())).signature(forged);
    assert!(refused(start(spec, keys.clone()).await).contains("invalid"));
    // Garbage in the signature file.
    std::fs::write(dir.path().join("echo.wasm.sig"), "{ not json").unwrap();
    assert!(refused(start(file(), keys.clone()).await).contains("malformed"));
    assert!(ComponentSignature::parse("{}").is_err());
    // Development mode loads anything.
    let host = start(file(), TrustPolicy::Development).await.unwrap();
    host.shutdown(T).await;
    // Keys round-trip through their text form.
    let again = SecretKey::from_hex(&ours.to_hex()).unwrap();
    assert_eq!(again.public(), ours.public());
    assert!(airssys_wasm::trust::PublicKey::from_hex("zz").is_err());
}

/// Listening: only on a granted address; an unbound listen (every interface, a random port)
/// is refused. UDP: only to granted peers; a component without a UDP grant has no UDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_and_udp_reach_only_granted_addresses() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let granted = format!("127.0.0.1:{port}");
    let host = Host::builder()
        .component(guest("server", test_programs::MISBEHAVE).network(&[], &[&granted], &[]))
        .component(guest("udp", test_programs::MISBEHAVE).network(&[], &[], &["127.0.0.1:*"]))
        .component(guest("quiet", test_programs::MISBEHAVE))
        .start()
        .await
        .unwrap();
    let ask = |who: &'static str, what: String| {
        let host = &host;
        async move { text(host.call(who, raw(&what), T).await.unwrap()) }
    };
    assert_eq!(ask("server", format!("listen:{granted}")).await, "listening");
    assert!(ask("server", "listen:0.0.0.0:0".into()).await.starts_with("error"));
    assert!(
        ask("server", format!("listen:127.0.0.1:{}", port.wrapping_add(1)))
            .await
            .starts_with("error")
    );
    assert_eq!(ask("udp", format!("udp:127.0.0.1:0:{peer_addr}")).await, "sent");
    let mut buf = [0u8; 4];
    let (n, _) = tokio::time::timeout(T, peer.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"x");
    assert!(ask("udp", "udp:127.0.0.1:0:10.0.0.1:9".into()).await.starts_with("error"));
    assert!(ask("quiet", format!("udp:127.0.0.1:0:{peer_addr}")).await.starts_with("error"));
    assert!(ask("quiet", format!("listen:{granted}")).await.starts_with("error"));
    host.shutdown(T).await;
}

/// Commands: a component runs only granted commands with arguments matching the grant, each
/// run through airssys-osl (allowed runs and refusals both audited), with an empty
/// environment and a timeout that kills the command; a hostile argument is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_only_as_granted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // A program granted under another name (a multi-call binary behind a symlink) runs
    // under that name.
    let kitty = dir.path().join("kitty");
    std::os::unix::fs::symlink(which("cat"), &kitty).unwrap();
    let kitty = kitty.to_str().unwrap().to_owned();
    let host = Host::builder()
        .audit(airssys_osl::AuditLog::file(&path).unwrap())
        .component(
            guest("tools", test_programs::MISBEHAVE)
                .command(kitty.as_str(), &["/proc/self/cmdline"])
                .command("echo", &["hello", "*"])
                .command("env", &[])
                .command("sleep", &["*"]),
        )
        .component(guest("plain", test_programs::MISBEHAVE))
        .start()
        .await
        .unwrap();
    let run = |who: &'static str, line: &str| {
        let host = &host;
        let what = format!("run:{}", line.replace(' ', "\t"));
        async move { text(host.call(who, raw(&what), T).await.unwrap()) }
    };
    assert_eq!(run("tools", "5000:echo hello world").await, "exit 0: hello world\n");
    assert_eq!(
        run("tools", &format!("5000:{kitty} /proc/self/cmdline")).await,
        format!("exit 0: {kitty}\0/proc/self/cmdline\0")
    );
    // Nothing of the host's environment reaches the command.
    assert_eq!(run("tools", "5000:env").await, "exit 0: ");
    // Forbidden arguments, a missing argument, an extra one, a command not granted, and a
    // component granted nothing: refused before anything runs.
    for line in [
        "5000:echo goodbye world",
        "5000:echo hello",
        "5000:echo hello big world",
        "5000:env -i",
        "5000:cat /etc/passwd",
        "5000:sh -c id",
    ] {
        assert_eq!(run("tools", line).await, "error: ProcessError::NotPermitted", "{line}");
    }
    assert_eq!(run("plain", "5000:echo hello world").await, "error: ProcessError::NotPermitted");
    // A command past its timeout is killed (its whole process group).
    let started = std::time::Instant::now();
    assert_eq!(run("tools", "200:sleep 30").await, "timed out");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // An argument the OS cannot take is a clear failure, not a crash.
    let nul = run("tools", "5000:echo hello a\0b").await;
    assert!(nul.starts_with("error: ProcessError::Failed"), "{nul}");
    assert_eq!(run("tools", "5000:echo hello again").await, "exit 0: hello again\n");
    assert_eq!(host.restarts("tools"), Some(0));
    host.shutdown(T).await;

    let denials = airssys_osl::read_audit(&path, Some("tools"), &["deny"]).unwrap();
    let denied = |resource: &str| {
        denials.iter().any(|e| e.action == "process-spawn" && e.resource == resource)
    };
    assert!(denied("echo goodbye world"), "{denials:#?}");
    assert!(denied("cat /etc/passwd"), "{denials:#?}");
    assert!(denied("sh -c id"), "{denials:#?}");
    let plain = airssys_osl::read_audit(&path, Some("plain"), &["deny"]).unwrap();
    assert!(plain.iter().any(|e| e.resource == "echo hello world"), "{plain:#?}");
    // Allowed runs are decided and recorded by airssys-osl's security middleware, on the
    // canonical program path.
    let echo = std::fs::canonicalize(which("echo")).unwrap();
    let allowed = airssys_osl::read_audit(&path, Some("tools"), &["allow"]).unwrap();
    let spawns = allowed
        .iter()
        .filter(|e| e.action == "process-spawn" && e.resource == echo.to_str().unwrap())
        .count();
    // Three: the NUL argument passed the policy and failed at the OS.
    assert_eq!(spawns, 3, "{allowed:#?}");
    let grants = airssys_osl::read_audit(&path, Some("tools"), &["grant"]).unwrap();
    assert!(grants.iter().any(|e| e.resource == "echo hello *"), "{grants:#?}");
}

/// A command grant naming a program that does not exist, or one inside a directory the
/// component may write (it could replace the program), fails the start, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_rewritable_granted_command_fails_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("tool.sh");
    std::fs::write(&tool, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let error = Host::builder()
        .component(
            guest("tools", test_programs::MISBEHAVE)
                .dir(dir.path(), "/work", true)
                .command(tool.to_str().unwrap(), &[]),
        )
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("tool.sh") && error.contains("writable"), "{error}");
    let error = Host::builder()
        .component(guest("tools", test_programs::MISBEHAVE).command("no-such-program-xyz", &[]))
        .start()
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("no-such-program-xyz") && error.contains("not found"), "{error}");
}

/// The first `name` on `PATH`.
fn which(name: &str) -> std::path::PathBuf {
    let paths = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()).unwrap()
}
