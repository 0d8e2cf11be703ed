//! Limits: CPU time per message (epoch deadline) and linear memory. Exceeding one crashes
//! only the offending component; the host and other components keep running.

use std::time::{Duration, Instant};

use airssys_wasm::{ComponentSpec, EngineConfig, Host, RequestError, Source};

use crate::util::{T, guest, raw};

/// A spinning guest is trapped at its CPU deadline, and while it spins a bystander keeps
/// answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinner_is_trapped_while_a_bystander_progresses() {
    let host = Host::builder()
        .component(
            ComponentSpec::new("spinner", Source::File(test_programs::MISBEHAVE.into()))
                .cpu_per_message(Duration::from_millis(500)),
        )
        .component(ComponentSpec::new("bystander", Source::File(test_programs::COUNTER.into())))
        .start()
        .await
        .unwrap();
    let start = Instant::now();
    let spin = {
        let host = &host;
        async move { host.call("spinner", raw("spin"), T).await }
    };
    let bystander = async {
        let mut answered = 0;
        while start.elapsed() < Duration::from_millis(400) {
            host.call("bystander", raw("tick"), T).await.unwrap();
            answered += 1;
        }
        answered
    };
    let (spun, answered) = tokio::join!(spin, bystander);
    match spun {
        Err(RequestError::ReceiverCrashed(reason)) => {
            assert!(reason.contains("interrupt"), "unexpected trap: {reason}")
        }
        other => panic!("the spinner was not trapped: {other:?}"),
    }
    assert!(answered >= 10, "the bystander answered only {answered} times while the spinner spun");
    assert!(start.elapsed() < Duration::from_secs(5), "the trap came late: {:?}", start.elapsed());
    // The spinner was restarted and works again.
    assert_eq!(host.call("spinner", raw("hello"), T).await.unwrap(), Some(raw("ok")));
    assert_eq!(host.restarts("spinner"), Some(1));
    host.shutdown(T).await;
}

/// Growing memory past the limit traps the guest; the host and its neighbours are fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_traps_only_the_hog() {
    let host = Host::builder()
        .engine(EngineConfig { max_memory_bytes: 16 << 20, ..EngineConfig::default() })
        .component(ComponentSpec::new("hog", Source::File(test_programs::MISBEHAVE.into())))
        .component(ComponentSpec::new("neighbour", Source::File(test_programs::COUNTER.into())))
        .start()
        .await
        .unwrap();
    // Within the limit: fine.
    assert_eq!(host.call("hog", raw("grow:4"), T).await.unwrap(), Some(raw("1024")));
    match host.call("hog", raw("grow:64"), T).await {
        Err(RequestError::ReceiverCrashed(_)) => {}
        other => panic!("the memory hog was not trapped: {other:?}"),
    }
    assert_eq!(host.call("neighbour", raw("x"), T).await.unwrap(), Some(raw("1")));
    assert_eq!(host.call("hog", raw("hello"), T).await.unwrap(), Some(raw("ok")));
    host.shutdown(T).await;
}

/// `Host::components` reports each live instance's linear memory, which follows its growth
/// and starts again from the fresh instance after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_report_their_memory() {
    let host = Host::builder()
        .component(guest("m", test_programs::MISBEHAVE).cpu_per_message(Duration::from_millis(300)))
        .start()
        .await
        .unwrap();
    let memory = || async { host.components().await[0].memory_bytes };
    let before = memory().await;
    assert!(before > 0, "an instance has some linear memory");
    host.call("m", raw("grow:8"), T).await.unwrap();
    let grown = memory().await;
    assert!(grown >= before + (8 << 20), "{before} -> {grown}");
    assert!(host.call("m", raw("spin"), T).await.is_err());
    for _ in 0..100 {
        if host.restarts("m") == Some(1) && memory().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fresh = memory().await;
    assert!(fresh > 0 && fresh < grown, "{grown} -> {fresh}");
    host.shutdown(T).await;
}

/// The CPU budget counts the time a guest computes, not the time it waits for a thread: with
/// twelve components computing at once on two worker threads, each for a fifth of its budget,
/// every call takes longer than the budget in wall-clock time, yet none is trapped; a true
/// spinner among them still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_overload_healthy_guests_keep_their_budget_and_a_spinner_traps() {
    const BUSY: usize = 12;
    let budget = Duration::from_millis(500);
    let mut builder = Host::builder()
        .component(guest("calibrate", test_programs::MISBEHAVE).cpu_per_message(T))
        .component(guest("spinner", test_programs::MISBEHAVE).cpu_per_message(budget));
    for i in 0..BUSY {
        builder = builder.component(
            guest(&format!("busy{i}"), test_programs::MISBEHAVE).cpu_per_message(budget),
        );
    }
    let host = builder.start().await.unwrap();
    // How many iterations of `burn` make a fifth of the budget, computing alone.
    let mut n: u64 = 1 << 20;
    let per_iteration = loop {
        let start = Instant::now();
        host.call("calibrate", raw(&format!("burn:{n}")), T).await.unwrap();
        let took = start.elapsed();
        if took >= Duration::from_millis(20) {
            break took.as_secs_f64() / n as f64;
        }
        n *= 2;
    };
    let work = ((budget.as_secs_f64() / 5.0) / per_iteration) as u64;
    let start = Instant::now();
    let calls = (0..BUSY).map(|i| {
        let host = &host;
        async move { host.call(&format!("busy{i}"), raw(&format!("burn:{work}")), T).await }
    });
    let spin = host.call("spinner", raw("spin"), T);
    let (answers, spun) = tokio::join!(futures_util::future::join_all(calls), spin);
    let overloaded = start.elapsed();
    for (i, answer) in answers.into_iter().enumerate() {
        assert!(answer.is_ok(), "busy{i} was trapped under overload: {answer:?}");
        assert_eq!(host.restarts(&format!("busy{i}")), Some(0));
    }
    assert!(
        matches!(&spun, Err(RequestError::ReceiverCrashed(reason)) if reason.contains("interrupt")),
        "the spinner was not trapped: {spun:?}"
    );
    // The overload was real: computing alone, the calls would have taken 12 x a fifth of the
    // budget on two threads, more than the budget in wall-clock time.
    assert!(overloaded > budget, "no overload: all calls done in {overloaded:?}");
    host.shutdown(T).await;
}

/// Guests that compute through a tick share the worker threads but one: with as many
/// spinners as worker threads, a bystander still answers at once, not once per tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinners_as_many_as_workers_leave_a_bystander_a_thread() {
    let host = std::sync::Arc::new(
        Host::builder()
            .component(
                guest("spinner0", test_programs::MISBEHAVE)
                    .cpu_per_message(Duration::from_millis(300)),
            )
            .component(
                guest("spinner1", test_programs::MISBEHAVE)
                    .cpu_per_message(Duration::from_millis(300)),
            )
            .component(guest("bystander", test_programs::COUNTER))
            .start()
            .await
            .unwrap(),
    );
    let spinners: Vec<_> = (0..2)
        .map(|i| {
            let host = std::sync::Arc::clone(&host);
            tokio::spawn(async move { host.call(&format!("spinner{i}"), raw("spin"), T).await })
        })
        .collect();
    let mut answered = 0;
    while spinners.iter().any(|s| !s.is_finished()) {
        host.call("bystander", raw("tick"), T).await.unwrap();
        answered += 1;
    }
    for spinner in spinners {
        assert!(matches!(spinner.await.unwrap(), Err(RequestError::ReceiverCrashed(_))));
    }
    // Sharing the threads tick by tick, it would get one call in per 10 ms tick at best
    // (about 60 in the spinners' 600 ms of computing).
    assert!(answered >= 200, "the bystander answered only {answered} calls while two guests spun");
}
