//! §10 the named registry.

use airssys_rt::{RegistryError, SpawnError, SpawnOptions, System};

use crate::util::*;

/// §10: register, look up (typed and untyped), and automatic removal when the actor stops.
#[tokio::test]
async fn s10_register_lookup_and_auto_removal() {
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    system.register("db", &a.handle()).unwrap();
    let found = system.lookup::<Worker>("db").expect("registered");
    assert_eq!(found, a);
    assert_eq!(found.ask(|r| WMsg::Echo(3, r), T).await, Ok(3));
    assert_eq!(system.whereis("db").unwrap().id(), a.id());
    assert_eq!(system.registered(), vec!["db".into()]);
    a.stop();
    a.wait_for_exit().await;
    assert!(system.whereis("db").is_none());
    assert!(system.registered().is_empty());
}

/// §10: a name belongs to one live actor at a time; it is free again once that actor stops.
#[tokio::test]
async fn s10_names_are_unique() {
    let system = System::new();
    let log = Log::new();
    let a = system.spawn_with(Worker::new("a", &log), SpawnOptions::new().name("svc")).unwrap();
    let err = system.spawn_with(Worker::new("b", &log), SpawnOptions::new().name("svc"));
    assert_eq!(err.unwrap_err(), SpawnError::NameTaken("svc".into()));
    let b = system.spawn(Worker::new("b", &log)).unwrap();
    assert_eq!(system.register("svc", &b.handle()), Err(RegistryError::NameTaken("svc".into())));
    a.kill();
    a.wait_for_exit().await;
    system.register("svc", &b.handle()).unwrap();
    assert_eq!(system.whereis("svc").unwrap().id(), b.id());
}

/// §10: a typed lookup with the wrong actor type finds nothing; unregister removes a name.
#[tokio::test]
async fn s10_typed_lookup_and_unregister() {
    struct Other;
    impl airssys_rt::Actor for Other {
        type Msg = ();
        async fn handle(
            &mut self,
            _: (),
            _: &mut airssys_rt::Context<Self>,
        ) -> Result<(), airssys_rt::BoxError> {
            Ok(())
        }
    }
    let system = System::new();
    let a = system.spawn(Worker::new("a", &Log::new())).unwrap();
    system.register("w", &a.handle()).unwrap();
    assert!(system.lookup::<Other>("w").is_none());
    assert_eq!(system.unregister("w").unwrap().id(), a.id());
    assert!(system.whereis("w").is_none());
    assert!(a.handle().name().is_none());
}

/// What a watcher saw when the watched actor's DOWN (or EXIT) reached it: whether the name
/// still led to the old actor, and whether it could register a new actor under it at once.
fn claim_name_on_notice(
    log: &Log,
    who: &str,
    old: airssys_rt::ActorId,
    ctx: &mut airssys_rt::Context<crate::probe::Probe>,
) {
    let system = ctx.system().clone();
    let still = system.whereis("svc").is_some_and(|h| h.id() == old);
    let replacement =
        system.spawn_with(crate::probe::Probe::new("new", log), SpawnOptions::new().name("svc"));
    log.push(format!("{who}: old still registered {still}, claimed {}", replacement.is_ok()));
}

/// §10: the name of an actor that is gone is free before its DOWN and EXIT are delivered:
/// whoever handles them can register the name at once. This holds for plain actors and for
/// supervised children that will not be restarted (temporary, or transient after a normal
/// exit).
#[tokio::test]
async fn s10_names_are_released_before_down_and_exit() {
    use crate::probe::{Probe, run};
    use airssys_rt::{ChildSpec, Restart, Strategy, SupervisorSpec};

    for case in ["plain", "temporary", "transient-normal"] {
        let system = System::new();
        let log = Log::new();
        let target: airssys_rt::ActorHandle = match case {
            "plain" => system
                .spawn_with(Probe::new("svc", &log), SpawnOptions::new().name("svc"))
                .unwrap()
                .handle(),
            _ => {
                let restart =
                    if case == "temporary" { Restart::Temporary } else { Restart::Transient };
                let child_log = log.clone();
                let spec = SupervisorSpec::new(Strategy::OneForOne).child(
                    ChildSpec::actor_with(
                        "svc",
                        move || Probe::new("svc", &child_log),
                        SpawnOptions::new().name("svc"),
                    )
                    .restart(restart),
                );
                system.spawn_supervisor(spec).await.unwrap();
                system.whereis("svc").unwrap()
            }
        };
        let (l1, l2) = (log.clone(), log.clone());
        let old = target.id();
        let monitor = system
            .spawn(
                Probe::new("monitor", &log)
                    .on_down(move |_, ctx| claim_name_on_notice(&l1, "down", old, ctx)),
            )
            .unwrap();
        let linked = target.clone();
        let link = system
            .spawn(
                Probe::new("link", &log)
                    .trapping()
                    .on_start(move |ctx| {
                        ctx.link(&linked);
                        Ok(())
                    })
                    .on_exit(move |_, ctx| claim_name_on_notice(&l2, "exit", old, ctx)),
            )
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        monitor
            .tell(run(move |ctx| {
                ctx.monitor_name("svc");
                let _ = tx.send(());
                Ok(())
            }))
            .await
            .unwrap();
        rx.await.unwrap();
        let _ = link.ask(|r| crate::probe::PMsg::Echo(0, r), T).await.unwrap();
        // The target ends: by a normal stop (transient), by a crash (the others).
        let t = target.downcast::<Probe>().unwrap();
        match case {
            "transient-normal" => {
                t.tell(run(|ctx| {
                    ctx.stop();
                    Ok(())
                }))
                .await
                .unwrap();
            }
            _ => {
                t.tell(run(|_| Err("crash".into()))).await.unwrap();
            }
        }
        let wait = || async {
            loop {
                let e = log.entries();
                if e.iter().any(|l| l.starts_with("down:"))
                    && e.iter().any(|l| l.starts_with("exit:"))
                {
                    return e;
                }
                tokio::task::yield_now().await;
            }
        };
        let entries = tokio::time::timeout(T, wait()).await.expect("down and exit delivered");
        for who in ["down", "exit"] {
            let line = entries.iter().find(|l| l.starts_with(&format!("{who}:"))).unwrap();
            assert!(line.contains("old still registered false"), "{case}: {entries:?}");
        }
        assert!(
            entries.iter().any(|l| l.ends_with("claimed true")),
            "{case}: nobody could claim the name: {entries:?}"
        );
    }
}
