//! Links and monitors between components (WIT `links`), as in Erlang: real relay guests link
//! to and monitor each other, and crash, stop and restart.

use std::time::Duration;

use airssys_wasm::{Grants, Host, RequestError};

use crate::util::{T, raw, recorded, relay, text};

async fn ask(host: &Host, component: &str, command: &str) -> String {
    text(host.call(component, raw(command), T).await.unwrap())
}

/// Crash `component` (its handler traps) and wait until its supervisor has restarted it.
async fn crash(host: &Host, component: &str) {
    let before = host.restarts(component).unwrap();
    let crashed = host.call(component, raw("crash"), T).await;
    assert!(matches!(crashed, Err(RequestError::ReceiverCrashed(_))), "{crashed:?}");
    for _ in 0..500 {
        if host.restarts(component) > Some(before)
            && host.call(component, raw("self"), T).await.is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{component} was not restarted");
}

/// Wait until `component` has been restarted `n` times (failing if it takes long).
async fn restarted(host: &Host, component: &str, n: u32) {
    for _ in 0..500 {
        if host.restarts(component) == Some(n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(host.restarts(component), Some(n));
}

async fn two_relays() -> Host {
    Host::builder().component(relay("watcher")).component(relay("worker")).start().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_reports_a_crash_once_and_a_new_one_sees_the_next() {
    let host = two_relays().await;
    let first = ask(&host, "watcher", "monitor:worker").await;
    let id1 = first.strip_prefix("monitor ").expect("a monitor id").to_owned();

    crash(&host, "worker").await;
    let notices = recorded(&host, "watcher", "notices", 1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].starts_with(&format!("down {id1} worker crashed:")), "{notices:?}");
    assert!(notices[0].contains("unreachable"), "the reason names the trap: {notices:?}");

    // Monitors fire once: the restarted worker is watched again only by a new monitor, and
    // its next crash is reported for that one alone.
    let second = ask(&host, "watcher", "monitor:worker").await;
    let id2 = second.strip_prefix("monitor ").expect("a monitor id").to_owned();
    assert_ne!(id1, id2);
    crash(&host, "worker").await;
    let notices = recorded(&host, "watcher", "notices", 2).await;
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices[1].starts_with(&format!("down {id2} worker crashed:")), "{notices:?}");
    // The watcher itself was never disturbed.
    assert_eq!(host.restarts("watcher"), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_monitor_reports_nothing() {
    let host = two_relays().await;
    let first = ask(&host, "watcher", "monitor:worker").await;
    let id1 = first.strip_prefix("monitor ").unwrap().to_owned();
    assert_eq!(ask(&host, "watcher", &format!("demonitor:{id1}")).await, "true");
    assert_eq!(ask(&host, "watcher", &format!("demonitor:{id1}")).await, "false");
    // A second monitor, made after the first was removed, is the positive signal: when its
    // notice has come, one for the first would have come before it.
    let second = ask(&host, "watcher", "monitor:worker").await;
    let id2 = second.strip_prefix("monitor ").unwrap().to_owned();
    crash(&host, "worker").await;
    let notices = recorded(&host, "watcher", "notices", 1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].starts_with(&format!("down {id2} worker crashed:")), "{notices:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_component_is_reported_as_shut_down() {
    let host = two_relays().await;
    let first = ask(&host, "watcher", "monitor:worker").await;
    let id = first.strip_prefix("monitor ").unwrap().to_owned();
    host.stop("worker").await.unwrap();
    let notices = recorded(&host, "watcher", "notices", 1).await;
    assert_eq!(notices, [format!("down {id} worker shutdown")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_takes_down_a_partner_that_does_not_trap_exits() {
    let host = two_relays().await;
    assert_eq!(ask(&host, "watcher", "link:worker").await, "linked");
    crash(&host, "worker").await;
    // The watcher crashed with its partner, and its supervisor restarted it.
    restarted(&host, "watcher", 1).await;
    // Links belong to an instance: the restarted watcher is not linked, so it can link anew
    // and be taken down again by the worker's next crash.
    assert_eq!(ask(&host, "watcher", "link:worker").await, "linked");
    crash(&host, "worker").await;
    restarted(&host, "watcher", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_that_traps_exits_gets_a_notice_instead() {
    let host = two_relays().await;
    assert_eq!(ask(&host, "watcher", "trap-exits:true").await, "ok");
    assert_eq!(ask(&host, "watcher", "link:worker").await, "linked");
    crash(&host, "worker").await;
    let notices = recorded(&host, "watcher", "notices", 1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].starts_with("exit worker crashed:"), "{notices:?}");
    assert_eq!(host.restarts("watcher"), Some(0));
    // A link made in `init` (config) is made again by each new instance.
    let host = Host::builder()
        .component(relay("worker"))
        .component(relay("watcher").config("trap-exits", "true").config("link", "worker"))
        .start()
        .await
        .unwrap();
    crash(&host, "worker").await;
    let notices = recorded(&host, "watcher", "notices", 1).await;
    assert!(notices[0].starts_with("exit worker crashed:"), "{notices:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_from_a_crashed_partner_takes_down_the_other_side_too() {
    // Links go both ways: the worker linked to the watcher, the watcher crashes.
    let host = two_relays().await;
    assert_eq!(ask(&host, "worker", "link:watcher").await, "linked");
    crash(&host, "watcher").await;
    restarted(&host, "worker", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_need_a_grant_and_one_live_target() {
    let no_link = Grants { link: Vec::new(), ..Grants::all_messaging() };
    let host = Host::builder()
        .component(relay("watcher").grants(no_link))
        .component(relay("other"))
        .component(relay("pool").instances(2))
        .start()
        .await
        .unwrap();
    assert_eq!(ask(&host, "watcher", "link:other").await, "LinkError::NotPermitted");
    assert_eq!(ask(&host, "watcher", "monitor:other").await, "LinkError::NotPermitted");
    assert_eq!(ask(&host, "other", "link:nobody").await, "LinkError::UnknownTarget(\"nobody\")");
    assert_eq!(ask(&host, "other", "monitor:nobody").await, "LinkError::UnknownTarget(\"nobody\")");
    assert_eq!(ask(&host, "other", "link:pool").await, "LinkError::Pool(\"pool\")");
    // A member of a pool is one component.
    let monitored = ask(&host, "other", "monitor:pool/1").await;
    assert!(monitored.starts_with("monitor "), "{monitored}");
    // Linking to oneself does nothing (and does not crash).
    assert_eq!(ask(&host, "other", "link:other").await, "linked");
    assert_eq!(ask(&host, "other", "unlink:watcher").await, "false");
    assert_eq!(host.restarts("other"), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_side_linked_to_gets_a_notice_when_it_traps_exits() {
    // The worker made the link; the watcher, linked to, traps exits.
    let host = two_relays().await;
    assert_eq!(ask(&host, "watcher", "trap-exits:true").await, "ok");
    assert_eq!(ask(&host, "worker", "link:watcher").await, "linked");
    crash(&host, "worker").await;
    let notices = recorded(&host, "watcher", "notices", 1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].starts_with("exit worker crashed:"), "{notices:?}");
    assert_eq!(host.restarts("watcher"), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_unlink_the_partners_end_has_no_effect() {
    let host = two_relays().await;
    assert_eq!(ask(&host, "watcher", "link:worker").await, "linked");
    assert_eq!(ask(&host, "watcher", "unlink:worker").await, "true");
    // A monitor made after the unlink: its notice comes after any exit signal of the same
    // end would have, so when it is there, the watcher has outlived the worker's crash.
    let monitored = ask(&host, "watcher", "monitor:worker").await;
    let id = monitored.strip_prefix("monitor ").unwrap().to_owned();
    crash(&host, "worker").await;
    let notices = recorded(&host, "watcher", "notices", 1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].starts_with(&format!("down {id} worker crashed:")), "{notices:?}");
    assert_eq!(host.restarts("watcher"), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_holds_a_bounded_number_of_links_and_monitors() {
    let host = two_relays().await;
    let answer = ask(&host, "watcher", "monitor-many:5000:worker").await;
    assert_eq!(answer, "monitored 1024, then LinkError::NotPermitted");
    // The refusal is audited as a limit, and the watcher keeps working.
    assert_eq!(ask(&host, "watcher", "self").await, "watcher");
    assert_eq!(host.restarts("watcher"), Some(0));
}
