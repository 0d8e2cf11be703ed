//! §14 graceful shutdown of the whole system.

use std::time::Duration;

use airssys_rt::{ChildSpec, SpawnError, Strategy, SupervisorSpec, System};

use crate::util::*;

/// §14: shutdown stops top-level actors in reverse spawn order, supervisors stop their
/// children in reverse start order, then no new actor is accepted.
#[tokio::test(start_paused = true)]
async fn s14_shutdown_in_tree_order() {
    let system = System::new();
    let log = Log::new();
    let _x = system.spawn(Worker::new("x", &log)).unwrap();
    let (l1, l2) = (log.clone(), log.clone());
    let _sup = system
        .spawn_supervisor(
            SupervisorSpec::new(Strategy::OneForOne)
                .child(ChildSpec::actor("c1", move || Worker::trapping("c1", &l1)))
                .child(ChildSpec::actor("c2", move || Worker::trapping("c2", &l2))),
        )
        .await
        .unwrap();
    let _y = system.spawn(Worker::new("y", &log)).unwrap();
    settle().await;
    let report = system.shutdown(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.stopped, 3);
    let stops: Vec<String> =
        log.entries().into_iter().filter(|e| e.ends_with(":stopped")).collect();
    assert_eq!(stops, ["y:stopped", "c2:stopped", "c1:stopped", "x:stopped"]);
    assert_eq!(system.actor_count(), 0);
    assert_eq!(system.spawn(Worker::new("z", &log)).unwrap_err(), SpawnError::ShuttingDown);
}

/// §14: an actor that does not stop by the deadline is killed and reported.
#[tokio::test(start_paused = true)]
async fn s14_deadline_kills_and_reports() {
    let system = System::new();
    let log = Log::new();
    let slow = system.spawn(Worker::new("slow", &log)).unwrap();
    system.register("slow", &slow.handle()).unwrap();
    slow.tell(WMsg::Sleep(Duration::from_secs(3600))).await.unwrap();
    settle().await;
    let report = system.shutdown(Duration::from_secs(2)).await;
    assert_eq!(report.killed, vec![(slow.id(), Some("slow".into()))]);
    assert!(report.elapsed >= Duration::from_secs(2));
    assert!(report.elapsed < Duration::from_secs(10));
    assert!(!slow.is_alive());
    assert!(!log.entries().contains(&"slow:stopped".to_string()));
}
