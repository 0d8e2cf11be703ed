//! §5, §7, §13 under load: many asks in flight while children are killed and crash at random.
//! Every ask must end with exactly one outcome, nothing may hang, and the tree must recover.

use std::time::Duration;

use airssys_rt::{AskError, ChildSpec, Strategy, SupervisorSpec, System};

use crate::util::*;

/// Asks racing with kills and crashes of their targets under a supervisor: every ask ends
/// (answered, or `NoReply` / `Timeout` / `Closed`), none hangs, and afterwards every child
/// answers again at the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s13_asks_survive_random_kills_and_crashes() {
    let system = System::new();
    let log = Log::new();
    let mut spec =
        SupervisorSpec::new(Strategy::OneForOne).intensity(100_000, Duration::from_secs(1));
    let ids: Vec<String> = (0..4).map(|i| format!("w{i}")).collect();
    for id in &ids {
        let l = log.clone();
        let name = id.clone();
        spec = spec.child(ChildSpec::actor(id.clone(), move || Worker::new(&name, &l)));
    }
    let sup = system.spawn_supervisor(spec).await.unwrap();
    let mut workers = Vec::new();
    for id in &ids {
        workers.push(sup.child::<Worker>(id).await.unwrap());
    }

    let run = async {
        let mut clients = Vec::new();
        for c in 0..4u64 {
            let workers = workers.clone();
            clients.push(tokio::spawn(async move {
                let mut outcomes = [0u32; 4];
                for i in 0..2_000u64 {
                    let w = &workers[((i + c) % 4) as usize];
                    let ask = |r| match i % 3 {
                        0 => WMsg::SlowEcho(i, Duration::from_micros(300), r),
                        _ => WMsg::Echo(i, r),
                    };
                    match w.ask(ask, Duration::from_secs(2)).await {
                        Ok(n) => {
                            assert_eq!(n, i, "answer for another request");
                            outcomes[0] += 1;
                        }
                        Err(AskError::NoReply(_)) => outcomes[1] += 1,
                        Err(AskError::Timeout) => outcomes[2] += 1,
                        Err(AskError::Closed) => outcomes[3] += 1,
                        Err(e) => panic!("unexpected ask error: {e}"),
                    }
                }
                outcomes
            }));
        }
        let chaos = {
            let workers = workers.clone();
            tokio::spawn(async move {
                for i in 0..300u64 {
                    let w = &workers[(i * 7 % 4) as usize];
                    if i % 2 == 0 {
                        w.kill();
                    } else {
                        let _ = w.try_tell(WMsg::Panic("chaos"));
                    }
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            })
        };
        let mut total = [0u32; 4];
        for c in clients {
            let o = c.await.unwrap();
            for k in 0..4 {
                total[k] += o[k];
            }
        }
        chaos.await.unwrap();
        total
    };
    // A liveness bound, not a speed target: a hang fails the test instead of blocking CI.
    let total = tokio::time::timeout(Duration::from_secs(120), run).await.expect("asks hung");
    assert_eq!(total.iter().sum::<u32>(), 8_000);
    assert!(total[0] > 0, "some asks must succeed: {total:?}");
    // Requests in progress when their actor died got `NoReply` at once (not a timeout);
    // queued ones waited for the restarted instance and were answered.
    assert!(total[1] > 0, "the chaos never hit a request in progress: {total:?}");
    assert_eq!(total[2], 0, "no ask should need its timeout: {total:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    for w in &workers {
        assert_eq!(w.ask(|r| WMsg::Echo(9, r), T).await, Ok(9), "child did not recover");
        assert!(w.metrics().restarts > 0);
    }
    assert!(sup.actor().is_alive());
}

/// Kill racing with the first poll, with stops and with exits, many times over: every actor
/// ends, and the system forgets all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s7_kill_and_stop_races() {
    let system = System::new();
    let log = Log::new();
    let mut refs = Vec::new();
    for i in 0..2_000 {
        let a = system.spawn(Worker::new("r", &log)).unwrap();
        match i % 4 {
            0 => a.kill(),
            1 => {
                a.stop();
                a.kill();
            }
            2 => {
                let _ = a.try_tell(WMsg::Panic("x"));
                a.kill();
            }
            _ => {
                let _ = a.try_tell(WMsg::StopSelf);
                a.stop();
            }
        }
        refs.push(a);
    }
    let all = async {
        for a in &refs {
            a.wait_for_exit().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all).await.expect("an actor never exited");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(system.actor_count(), 0);
}
