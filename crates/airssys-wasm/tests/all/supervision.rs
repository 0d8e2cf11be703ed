//! Traps are crashes: the instance is dropped, the supervisor restarts the component in
//! place, the crashing message is a dead letter, and the queued messages survive.

use std::sync::Arc;

use airssys_wasm::{
    ComponentSpec, ComponentState, Host, HostError, Payload, RequestError, SendError, Source,
};

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_restarts_with_fresh_state_and_records_a_dead_letter() {
    let host = Host::builder()
        .component(ComponentSpec::new("counter", Source::File(test_programs::COUNTER.into())))
        .start()
        .await
        .unwrap();
    let count = |p: Option<Payload>| String::from_utf8(p.unwrap().bytes).unwrap();
    assert_eq!(count(host.call("counter", raw("a"), T).await.unwrap()), "1");
    assert_eq!(count(host.call("counter", raw("b"), T).await.unwrap()), "2");
    // Queue the crash and a message behind it, then ask.
    host.send("counter", raw("crash")).unwrap();
    host.send("counter", raw("queued")).unwrap();
    let after = count(host.call("counter", raw("c"), T).await.unwrap());
    // Fresh instance: the queued message counted 1, this call 2.
    assert_eq!(after, "2");
    assert_eq!(host.restarts("counter"), Some(1));
    let letters = host.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].bytes, b"crash");
    assert_eq!(&*letters[0].sender, "host");
    assert!(
        letters[0].reason.contains("asked to crash") || letters[0].reason.contains("unreachable"),
        "{}",
        letters[0].reason
    );
    host.shutdown(T).await;
}

/// A handler error is returned to the caller and does not crash the component.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_error_is_returned_not_a_crash() {
    let host = Host::builder()
        .component(ComponentSpec::new("counter", Source::File(test_programs::COUNTER.into())))
        .start()
        .await
        .unwrap();
    assert_eq!(
        host.call("counter", raw("fail"), T).await,
        Err(RequestError::HandlerError("asked to fail".into()))
    );
    assert_eq!(host.restarts("counter"), Some(0));
    host.shutdown(T).await;
}

/// A caller whose request crashes the receiver is told so, with the trap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_learns_of_the_receiver_crash() {
    let host = Host::builder()
        .component(ComponentSpec::new("counter", Source::File(test_programs::COUNTER.into())))
        .start()
        .await
        .unwrap();
    match host.call("counter", raw("crash"), T).await {
        Err(RequestError::ReceiverCrashed(reason)) => assert!(!reason.is_empty()),
        other => panic!("expected ReceiverCrashed, got {other:?}"),
    }
    host.shutdown(T).await;
}

/// A component whose `init` fails does not start, and the host says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_init_fails_the_start() {
    let err = Host::builder()
        .component(
            ComponentSpec::new("counter", Source::File(test_programs::COUNTER.into()))
                .config("fail-init", "true"),
        )
        .start()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("counter") && text.contains("configured to fail"), "{text}");
}

/// Bytes that are not a component are refused at load with a clear error.
#[tokio::test]
async fn malformed_component_is_refused_at_load() {
    let err = Host::builder()
        .component(ComponentSpec::new("junk", Source::Bytes(b"not wasm at all".to_vec().into())))
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("junk"), "{err}");
}

/// Graceful shutdown calls each component's `shutdown` export (the counter logs its count
/// from there, through the host's logging interface).
#[tokio::test]
async fn graceful_shutdown_calls_the_shutdown_export() {
    install_log_capture();
    let host = Host::builder()
        .component(ComponentSpec::new("stopper", Source::File(test_programs::COUNTER.into())))
        .start()
        .await
        .unwrap();
    host.call("stopper", raw("x"), T).await.unwrap();
    host.call("stopper", raw("y"), T).await.unwrap();
    let report = host.shutdown(T).await;
    assert!(report.is_clean());
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("counter shutting down") && l.contains("stopper"))
        .unwrap_or_else(|| panic!("no shutdown log in:\n{logs}"));
    assert!(line.contains("\"count\", \"2\""), "{line}");
}

/// A guest's stdout and stderr go into the host's logs, tagged with the component.
#[tokio::test]
async fn guest_output_goes_to_the_logs() {
    install_log_capture();
    let host = Host::builder()
        .component(ComponentSpec::new("printer", Source::File(test_programs::MISBEHAVE.into())))
        .start()
        .await
        .unwrap();
    host.call("printer", raw("print:hello from the guest"), T).await.unwrap();
    host.shutdown(T).await;
    let logs = captured_logs();
    let out = logs.lines().find(|l| l.contains("hello from the guest") && l.contains("stdout"));
    let err = logs.lines().find(|l| l.contains("err:hello from the guest") && l.contains("stderr"));
    assert!(out.is_some_and(|l| l.contains("printer")), "no stdout line in:\n{logs}");
    assert!(err.is_some_and(|l| l.contains("printer")), "no stderr line in:\n{logs}");
}

/// Components added and removed at run time; names are checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_spawn_and_stop_at_run_time() {
    let host =
        Host::builder().component(guest("first", test_programs::ECHO)).start().await.unwrap();
    host.spawn(guest("second", test_programs::COUNTER)).await.unwrap();
    assert_eq!(text(host.call("second", raw("tick"), T).await.unwrap()), "1");
    let names: Vec<String> =
        host.components().await.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(names, ["first", "second"]);
    assert!(host.components().await.iter().all(|c| c.state == ComponentState::Running));

    let duplicate = host.spawn(guest("second", test_programs::ECHO)).await;
    assert!(matches!(duplicate, Err(HostError::DuplicateName(_))), "{duplicate:?}");
    for bad in ["", "host", "a/b", "sp ace", &"x".repeat(129)] {
        let refused = host.spawn(guest(bad, test_programs::ECHO)).await;
        assert!(matches!(refused, Err(HostError::InvalidName(_))), "{bad:?}: {refused:?}");
    }
    // A component whose init fails is not left behind.
    let failed =
        host.spawn(guest("broken", test_programs::COUNTER).config("fail-init", "true")).await;
    assert!(matches!(failed, Err(HostError::Start { .. })), "{failed:?}");
    assert_eq!(host.send("broken", raw("x")), Err(SendError::UnknownTarget("broken".into())));

    host.stop("second").await.unwrap();
    assert_eq!(host.send("second", raw("x")), Err(SendError::UnknownTarget("second".into())));
    assert!(matches!(host.stop("second").await, Err(HostError::NotFound(_))));
    // The name is free again.
    host.spawn(guest("second", test_programs::COUNTER)).await.unwrap();
    assert_eq!(text(host.call("second", raw("tick"), T).await.unwrap()), "1");
    host.shutdown(T).await;
}

/// A pool of instances: round-robin over members that each keep their own state and
/// address; a member can be addressed directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_members_share_the_work_and_keep_their_addresses() {
    let host = Host::builder().component(relay("workers").instances(3)).start().await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(text(host.call("workers", raw("self"), T).await.unwrap()));
    }
    seen.sort();
    assert_eq!(
        seen,
        ["workers/0", "workers/0", "workers/1", "workers/1", "workers/2", "workers/2"]
    );
    assert_eq!(text(host.call("workers/2", raw("self"), T).await.unwrap()), "workers/2");
    let members: Vec<String> =
        host.components().await.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(members, ["workers/0", "workers/1", "workers/2"]);
    host.stop("workers").await.unwrap();
    assert!(host.components().await.is_empty());
    assert_eq!(host.send("workers/1", raw("x")), Err(SendError::UnknownTarget("workers/1".into())));
    assert_eq!(host.send("workers", raw("x")), Err(SendError::UnknownTarget("workers".into())));
    // The name is free again, as a single component this time.
    host.spawn(relay("workers")).await.unwrap();
    assert_eq!(text(host.call("workers", raw("self"), T).await.unwrap()), "workers");
    host.shutdown(T).await;
}

/// A request from outside is queued (or refused) at once and answered later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_from_outside_is_admitted_now_and_answered_later() {
    let host = Host::builder().component(guest("echo", test_programs::ECHO)).start().await.unwrap();
    let pending = host.request("echo", raw("later"), T).unwrap();
    assert_eq!(text(pending.await.unwrap()), "later");
    assert!(matches!(host.request("nobody", raw("x"), T), Err(SendError::UnknownTarget(_))));
    host.shutdown(T).await;

    // Queued at once: the handler runs even if the response is never awaited, and a full
    // mailbox is refused at once.
    let host = Host::builder()
        .component(guest("counter", test_programs::COUNTER))
        .component(guest("slow", test_programs::MISBEHAVE).mailbox(1))
        .start()
        .await
        .unwrap();
    drop(host.request("counter", raw("tick"), T).unwrap());
    assert_eq!(text(host.call("counter", raw("tick"), T).await.unwrap()), "2");
    let busy = host.request("slow", raw("sleep:300"), T).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let queued = host.request("slow", raw("hello"), T).unwrap();
    assert!(matches!(host.request("slow", raw("more"), T), Err(SendError::MailboxFull)));
    assert_eq!(text(busy.await.unwrap()), "slept");
    assert_eq!(text(queued.await.unwrap()), "ok");
    host.shutdown(T).await;
}

/// Two spawns of one name at once: exactly one wins, the other is told the name is taken, and
/// the winner stays reachable. A spawn abandoned half-way leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_and_abandoned_spawns_leave_a_consistent_host() {
    let host = Host::builder().start().await.unwrap();
    let (a, b) = tokio::join!(
        host.spawn(guest("twin", test_programs::COUNTER)),
        host.spawn(guest("twin", test_programs::ECHO).instances(2)),
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one spawn must win: {a:?} {b:?}");
    let loser = if a.is_ok() { b } else { a };
    assert!(matches!(loser, Err(HostError::DuplicateName(_))), "{loser:?}");
    assert!(host.call("twin", raw("tick"), T).await.is_ok());
    host.stop("twin").await.unwrap();

    // Polled once (it compiles and reserves the name), then dropped while starting.
    {
        let slow = guest("ghost", test_programs::COUNTER).config("init-delay-ms", "200");
        let mut spawning = std::pin::pin!(host.spawn(slow));
        let first =
            std::future::poll_fn(|cx| std::task::Poll::Ready(spawning.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "the spawn finished in its first poll: {first:?}");
    }
    // Its instance finishes `init` and is then stopped by the rollback.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    host.spawn(guest("ghost", test_programs::COUNTER)).await.unwrap();
    assert_eq!(text(host.call("ghost", raw("tick"), T).await.unwrap()), "1");
    let names: Vec<String> =
        host.components().await.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(names, ["ghost"]);
    host.shutdown(T).await;
}

/// A temporary component that crashes is not restarted: it is listed as stopped, refuses
/// messages, and a pool routes around such a member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_components_stay_stopped_and_pools_route_around_them() {
    let host = Host::builder()
        .component(guest("once", test_programs::COUNTER).restart(airssys_rt::Restart::Temporary))
        .component(
            guest("pool", test_programs::COUNTER)
                .instances(2)
                .restart(airssys_rt::Restart::Temporary),
        )
        .start()
        .await
        .unwrap();
    assert!(matches!(
        host.call("once", raw("crash"), T).await,
        Err(RequestError::ReceiverCrashed(_))
    ));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let once = host.components().await.into_iter().find(|c| &*c.address == "once").unwrap();
    assert_eq!(once.state, ComponentState::Stopped);
    assert_eq!(host.send("once", raw("tick")), Err(SendError::TargetStopped));

    assert!(host.call("pool/0", raw("crash"), T).await.is_err());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let mut counts = Vec::new();
    for _ in 0..4 {
        counts.push(text(host.call("pool", raw("tick"), T).await.unwrap()));
    }
    assert_eq!(counts, ["1", "2", "3", "4"], "every message went to the live member");
    host.stop("once").await.unwrap();
    host.spawn(guest("once", test_programs::COUNTER)).await.unwrap();
    host.shutdown(T).await;
}

/// `Host::restart` starts fresh instances from the component's file; a file that no longer
/// loads is refused before anything stops, and the component keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_loads_the_new_code_before_stopping_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("counter.wasm");
    std::fs::copy(test_programs::COUNTER, &file).unwrap();
    let host = Host::builder()
        .component(ComponentSpec::new("c", Source::File(file.clone())))
        .start()
        .await
        .unwrap();
    assert_eq!(text(host.call("c", raw("tick"), T).await.unwrap()), "1");
    host.restart("c").await.unwrap();
    assert_eq!(text(host.call("c", raw("tick"), T).await.unwrap()), "1", "a fresh instance");
    std::fs::write(&file, b"not a component").unwrap();
    let error = host.restart("c").await.unwrap_err().to_string();
    assert!(error.contains("\"c\""), "{error}");
    assert_eq!(text(host.call("c", raw("tick"), T).await.unwrap()), "2", "still the old one");
    assert!(matches!(host.restart("nobody").await, Err(HostError::NotFound(_))));
    host.shutdown(T).await;
}

/// A component's `init` runs in its own actor, not in its supervisor: while one `init` sleeps
/// (at a spawn, and at a restart), another spawn, the component list and a sibling's restart
/// all go through (each bounded by `T`, far below the sleeping `init`'s ten minutes and its
/// two-minute `init_timeout`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_init_holds_up_no_spawn_restart_or_listing() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let sleepy = move |name: &str| {
        guest(name, test_programs::MISBEHAVE)
            .dir(&dir, "/data", true)
            .config("init-sleep-ms", "600000")
            .config("init-sleep-if", "/data/slow")
            .init_timeout(std::time::Duration::from_secs(120))
    };
    let host = Arc::new(
        Host::builder()
            .component(sleepy("victim"))
            .component(guest("neighbour", test_programs::COUNTER))
            .start()
            .await
            .unwrap(),
    );
    // From now on, every `init` of a sleepy component sleeps.
    let written = host.call("victim", raw("write:/data/slow:1"), T).await.unwrap();
    assert_eq!(String::from_utf8(written.unwrap().bytes).unwrap(), "written");

    // A spawn whose `init` sleeps, left running.
    let spawner = Arc::clone(&host);
    let slow_spawn = tokio::spawn(async move { spawner.spawn(sleepy("late")).await });
    // A restart whose `init` sleeps.
    let crash = host.call("victim", raw("recurse"), T).await;
    assert!(matches!(crash, Err(RequestError::ReceiverCrashed(_))), "{crash:?}");

    // Meanwhile: another spawn, the list, a sibling's crash and restart.
    tokio::time::timeout(T, host.spawn(guest("other", test_programs::ECHO)))
        .await
        .expect("a spawn waited for another component's init")
        .unwrap();
    let listed = tokio::time::timeout(T, host.components()).await.expect("the list waited");
    assert!(listed.iter().any(|c| &*c.address == "other"));
    let crashed = host.call("neighbour", raw("crash"), T).await;
    assert!(matches!(crashed, Err(RequestError::ReceiverCrashed(_))), "{crashed:?}");
    let fresh = tokio::time::timeout(T, host.call("neighbour", raw("x"), T))
        .await
        .expect("a sibling's restart waited for another component's init")
        .unwrap();
    assert_eq!(String::from_utf8(fresh.unwrap().bytes).unwrap(), "1");
    assert_eq!(text(host.call("other", raw("hi"), T).await.unwrap()), "hi");
    // The sleeping spawn is still waiting for its `init`: abandoned, it is undone.
    assert!(!slow_spawn.is_finished());
    slow_spawn.abort();
    std::fs::remove_file(data.path().join("slow")).unwrap();
    if let Ok(host) = Arc::try_unwrap(host) {
        host.shutdown(T).await;
    }
}

/// A component whose first `init` fails is reported by the spawn, and its name is free again
/// at once; the same `init` failing at a restart is a crash, counted as a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_init_fails_the_spawn_and_frees_the_name() {
    let host = Host::builder().start().await.unwrap();
    let failing = guest("fails", test_programs::COUNTER).config("fail-init", "true");
    let err = host.spawn(failing).await.unwrap_err();
    match &err {
        HostError::Start { name, reason } => {
            assert_eq!(name, "fails");
            assert!(reason.contains("configured to fail"), "{reason}");
        }
        other => panic!("not a start error: {other:?}"),
    }
    host.spawn(guest("fails", test_programs::COUNTER)).await.unwrap();
    assert_eq!(text(host.call("fails", raw("x"), T).await.unwrap()), "1");
    // A pool: the failing member is named.
    let err = host
        .spawn(guest("pool", test_programs::COUNTER).instances(3).config("fail-init", "true"))
        .await
        .unwrap_err();
    assert!(matches!(&err, HostError::Start { name, .. } if name == "pool/0"), "{err:?}");
    host.spawn(guest("pool", test_programs::COUNTER).instances(3)).await.unwrap();
}
