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
