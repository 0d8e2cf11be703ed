//! The threat model's supervision and log items (`docs/security.md`): a slow `init` cannot
//! freeze a supervisor or a start (7), guest text cannot forge log or audit lines (9), a
//! response must fit its requester's limits (W2), and one component's crash loop does not take
//! its neighbours down while a root that gives up is seen (W3).

use std::time::{Duration, Instant};

use airssys_wasm::{ComponentState, Grants, Host, HostError, RequestError, SendError, codec};

use crate::util::{T, captured_logs, guest, install_log_capture, raw, text};

fn misbehave(name: &str) -> airssys_wasm::ComponentSpec {
    guest(name, test_programs::MISBEHAVE)
}

async fn state_of(host: &Host, address: &str) -> Option<ComponentState> {
    host.components().await.into_iter().find(|c| &*c.address == address).map(|c| c.state)
}

/// Poll the components until `address` is in `state` (a positive signal), or fail after `within`.
async fn wait_for_state(host: &Host, address: &str, state: ComponentState, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = state_of(host, address).await;
        if now == Some(state) {
            return;
        }
        assert!(Instant::now() < deadline, "{address} is {now:?}, not {state:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_07_an_init_that_sleeps_fails_its_start_in_time_and_names_the_component() {
    // At host start: the error names the component and says what ran out.
    let started = Instant::now();
    let slow = misbehave("sleepy")
        .config("init-sleep-ms", "600000")
        .init_timeout(Duration::from_millis(300))
        .cpu_per_message(Duration::from_millis(100));
    let err = Host::builder().component(slow.clone()).start().await.unwrap_err();
    let HostError::Start { name, reason } = &err else { panic!("not a start error: {err:?}") };
    assert_eq!(name, "sleepy");
    assert!(reason.contains("init did not finish within"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(30), "the start was not bounded");

    // At run time: the spawn fails the same way, and the host keeps serving.
    let host = Host::builder().component(misbehave("neighbour")).start().await.unwrap();
    let err = host.spawn(slow).await.unwrap_err();
    assert!(matches!(&err, HostError::Start { name, .. } if name == "sleepy"), "{err:?}");
    assert_eq!(text(host.call("neighbour", raw("hi"), T).await.unwrap()), "ok");
    // The failed spawn released its name.
    host.spawn(misbehave("sleepy")).await.unwrap();
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_07_a_restart_whose_init_hangs_does_not_freeze_the_supervisor() {
    let data = tempfile::tempdir().unwrap();
    // After a crash, its `init` sleeps for ten minutes (the marker file arms it).
    let victim = misbehave("victim")
        .dir(data.path(), "/data", true)
        .config("init-sleep-ms", "600000")
        .config("init-sleep-if", "/data/slow")
        .init_timeout(Duration::from_millis(200));
    let host =
        Host::builder().component(victim).component(misbehave("neighbour")).start().await.unwrap();
    assert_eq!(text(host.call("victim", raw("write:/data/slow:1"), T).await.unwrap()), "written");
    let crash = host.call("victim", raw("recurse"), T).await;
    assert!(matches!(crash, Err(RequestError::ReceiverCrashed(_))), "{crash:?}");

    // While its restarts keep failing, the supervisor still serves everything else: the
    // neighbour answers, the component list comes back, and a spawn goes through.
    for i in 0..5 {
        assert_eq!(text(host.call("neighbour", raw(&format!("{i}")), T).await.unwrap()), "ok");
        let listed = tokio::time::timeout(T, host.components()).await.expect("components hung");
        assert!(listed.iter().any(|c| &*c.address == "neighbour"));
    }
    tokio::time::timeout(T, host.spawn(misbehave("late"))).await.expect("spawn hung").unwrap();

    // Each failed start counts as a restart: the victim is given up on alone.
    wait_for_state(&host, "victim", ComponentState::Failed, Duration::from_secs(60)).await;
    assert_eq!(state_of(&host, "neighbour").await, Some(ComponentState::Running));
    assert_eq!(text(host.call("late", raw("hi"), T).await.unwrap()), "ok");
    let refused = host.call("victim", raw("hi"), T).await;
    assert!(matches!(refused, Err(RequestError::Refused(SendError::TargetStopped))), "{refused:?}");
    // An operator restart brings it back (with its marker gone, its init is quick).
    std::fs::remove_file(data.path().join("slow")).unwrap();
    host.restart("victim").await.unwrap();
    assert_eq!(text(host.call("victim", raw("hi"), T).await.unwrap()), "ok");
    host.shutdown(T).await;
}

/// Every captured line that mentions `marker` must be the host's own line, with the guest
/// text inside it escaped: no line may start with what the guest wrote after a newline.
fn assert_not_forged(logs: &str, marker: &str) {
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(marker)).collect();
    assert!(!lines.is_empty(), "{marker} was not logged at all:\n{logs}");
    for line in lines {
        assert!(!line.starts_with(marker), "a forged line: {line}");
        assert!(line.contains(&format!("\\n{marker}")), "not escaped: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_09_guest_text_cannot_forge_log_or_audit_lines() {
    install_log_capture();
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_file = audit_dir.path().join("audit.jsonl");
    let audit = airssys_osl::AuditLog::file(&audit_file).unwrap();
    let host = Host::builder()
        .audit(audit)
        .component(misbehave("forger"))
        .component(misbehave("bystander"))
        .start()
        .await
        .unwrap();
    // A marker, then what a forged line would say after it.
    let fake = |tag: &str| format!("FORGED-{tag}-{}", std::process::id());
    let line = |marker: &str| format!("{marker} WARN airssys_osl::audit: deny");
    // Through the logging interface, stdout and stderr, and the target of a refused send.
    let log = fake("log");
    assert_eq!(
        text(host.call("forger", raw(&format!("log:x\n{}", line(&log))), T).await.unwrap()),
        "logged"
    );
    let print = fake("print");
    assert_eq!(
        text(host.call("forger", raw(&format!("print:x\n{}", line(&print))), T).await.unwrap()),
        "ok"
    );
    let target = fake("target");
    let refused = text(
        host.call("forger", raw(&format!("send:bystander\n{}:x", line(&target))), T).await.unwrap(),
    );
    assert!(refused.contains("NotPermitted"), "{refused}");
    // And an `init` that fails with a multi-line reason.
    let init = fake("init");
    let spawn =
        host.spawn(misbehave("failing").config("init-error", format!("no\n{}", line(&init)))).await;
    let HostError::Start { reason, .. } = spawn.unwrap_err() else { panic!("not a start error") };
    assert!(!reason.contains('\n') && reason.contains(&format!("no\\n{init}")), "{reason}");

    let logs = captured_logs();
    assert_not_forged(&logs, &log);
    assert_not_forged(&logs, &target);
    // Guest stdout: `print:` writes the text on stdout; its second line is a line of the
    // guest's own, logged as one stdout event of the guest, never raw.
    for line in logs.lines().filter(|l| l.contains(&print)) {
        assert!(line.contains("forger"), "stdout line without its component: {line}");
        assert!(!line.starts_with("FORGED"), "a forged line: {line}");
    }

    // The audit file: one JSON record per line, the refused target kept whole inside it.
    let audit_text = std::fs::read_to_string(&audit_file).unwrap();
    for line in audit_text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let records = airssys_osl::read_audit(&audit_file, Some("forger"), &["deny"]).unwrap();
    assert!(
        records.iter().any(|r| r.resource.contains(&target) && r.resource.contains('\n')),
        "{records:?}"
    );
    assert!(!audit_text.lines().any(|l| l.starts_with("FORGED")));
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_w2_a_response_must_fit_the_requesters_size_limit_and_codecs() {
    let relay = |name: &str| {
        guest(name, test_programs::RELAY)
            .grants(Grants { request: vec!["big".into()], ..Grants::default() })
            .config("target", "big")
    };
    let host = Host::builder()
        .component(misbehave("big"))
        .component(relay("small").max_payload(1024))
        .component(relay("raw-only").accepts(&[codec::RAW]))
        .component(relay("roomy"))
        .start()
        .await
        .unwrap();
    // A call whose response is over the caller's own payload limit: refused, typed.
    let answer = text(host.call("small", raw("call:big:4096"), T).await.unwrap());
    assert!(answer.contains("PayloadTooLarge(1024)"), "{answer}");
    // A response within the limit still arrives.
    assert_eq!(text(host.call("small", raw("call:big:10"), T).await.unwrap()).len(), 10);
    // A response in a codec the caller does not accept: refused, naming what it accepts.
    let cbor = format!("call:codec:{}:x", codec::CBOR);
    let answer = text(host.call("raw-only", raw(&cbor), T).await.unwrap());
    assert!(answer.contains(&format!("CodecNotAccepted([{}])", codec::RAW)), "{answer}");
    let plain = format!("call:codec:{}:x", codec::RAW);
    assert_eq!(text(host.call("raw-only", raw(&plain), T).await.unwrap()), "x");
    // The same limit holds for a request's callback.
    let requested = text(host.call("small", raw("req:2000:r1:big:4096"), T).await.unwrap());
    assert!(requested.starts_with("requested"), "{requested}");
    let outcome = loop {
        let got = text(host.call("small", raw("take"), T).await.unwrap());
        if !got.is_empty() {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        outcome.contains("r1 error:") && outcome.contains("PayloadTooLarge(1024)"),
        "{outcome}"
    );
    // A caller with the default limit gets the whole response.
    assert_eq!(text(host.call("roomy", raw("call:big:4096"), T).await.unwrap()).len(), 4096);
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_w3_a_crash_loop_gives_up_on_the_offender_alone() {
    // The default tree: one-for-one, 10 restarts within 10 s.
    let host = Host::builder()
        .component(misbehave("looper"))
        .component(misbehave("neighbour"))
        .start()
        .await
        .unwrap();
    // Eleven crashes in a row by a component with no grants.
    for _ in 0..11 {
        let crash = host.call("looper", raw("recurse"), T).await;
        assert!(
            matches!(
                crash,
                Err(RequestError::ReceiverCrashed(_)
                    | RequestError::Refused(SendError::TargetStopped))
            ),
            "{crash:?}"
        );
        // Wait for its restart (or for it to be given up on) before the next crash.
        let deadline = Instant::now() + T;
        while !matches!(
            state_of(&host, "looper").await,
            Some(ComponentState::Running | ComponentState::Failed)
        ) {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    wait_for_state(&host, "looper", ComponentState::Failed, T).await;
    // Its neighbour never noticed.
    assert_eq!(state_of(&host, "neighbour").await, Some(ComponentState::Running));
    assert_eq!(text(host.call("neighbour", raw("hi"), T).await.unwrap()), "ok");
    assert_eq!(host.restarts("neighbour"), Some(0));
    // A component spawned later gets the same protection and works.
    host.spawn(misbehave("later")).await.unwrap();
    assert_eq!(text(host.call("later", raw("hi"), T).await.unwrap()), "ok");
    host.shutdown(T).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_w3_a_one_for_all_root_that_gives_up_is_reported() {
    use airssys_rt::{ExitReason, Strategy};
    use airssys_wasm::{Supervision, TreeChild};
    // Components that depend on each other (one-for-all) go down together, as in OTP, and
    // the host says so.
    let host = Host::builder()
        .component(misbehave("a"))
        .component(misbehave("b"))
        .supervision(Supervision {
            strategy: Strategy::OneForAll,
            intensity: Some((1, Duration::from_secs(60))),
            children: vec![TreeChild::Component("a".into()), TreeChild::Component("b".into())],
        })
        .start()
        .await
        .unwrap();
    let _ = host.call("a", raw("recurse"), T).await;
    wait_for_state(&host, "a", ComponentState::Running, T).await;
    let _ = host.call("a", raw("recurse"), T).await;
    let reason = tokio::time::timeout(T, host.wait_for_root_exit()).await.expect("root still up");
    assert_eq!(reason, ExitReason::MaxRestarts);
    host.shutdown(T).await;
}
