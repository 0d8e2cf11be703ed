//! Shared fixtures of the fuzz targets: one tokio runtime and one host with real guests per
//! fuzzing process, kept across inputs, so that "the host keeps serving" is checked after
//! every input rather than on a fresh host each time.

pub mod storage_model;

use std::sync::OnceLock;
use std::time::Duration;

use airssys_wasm::storage::Quota;
use airssys_wasm::{ComponentSpec, Grants, Host, HostBuilder, Payload, Source, codec};

/// Longest any single host operation may take before the target calls it a hang.
pub const HANG: Duration = Duration::from_secs(10);

/// The timeout the targets give calls and requests.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The fuzzing process's runtime.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Run `f` on the runtime; a hang (more than [`HANG`]) is a finding.
pub fn block_on<F: Future>(what: &str, f: F) -> F::Output {
    runtime().block_on(async {
        match tokio::time::timeout(HANG, f).await {
            Ok(out) => out,
            Err(_) => panic!("hang: {what} did not finish within {HANG:?}"),
        }
    })
}

/// The components of the fuzzing host.
pub const ECHO: &str = "echo";
/// Echo with a small payload limit (64 bytes) and only raw and JSON accepted.
pub const STRICT: &str = "strict";
/// The SDK calculator (typed decode of json, cbor, messagepack inside the guest).
pub const CALC: &str = "calc";
/// Counts messages; traps on `crash`, fails on `fail`.
pub const COUNTER: &str = "counter";
/// Relays to `echo` (text commands).
pub const RELAY: &str = "relay";
/// A pool of two echo instances.
pub const POOL: &str = "pool";
/// Every component the host starts with.
pub const NAMES: [&str; 6] = [ECHO, STRICT, CALC, COUNTER, RELAY, POOL];

/// A spec of each of the host's components, by name.
pub fn spec(name: &str) -> ComponentSpec {
    let file = |path: &str| Source::File(path.into());
    match name {
        STRICT => ComponentSpec::new(STRICT, file(test_programs::ECHO))
            .max_payload(64)
            .accepts(&[codec::RAW, codec::JSON]),
        CALC => ComponentSpec::new(CALC, file(test_programs::CALC))
            .storage(Quota { bytes: 4096, keys: 16 })
            .config("name", CALC),
        COUNTER => ComponentSpec::new(COUNTER, file(test_programs::COUNTER)),
        RELAY => ComponentSpec::new(RELAY, file(test_programs::RELAY))
            .config("target", ECHO)
            .grants(Grants {
                send: vec![ECHO.into()],
                request: vec![ECHO.into()],
                ..Grants::default()
            })
            .rate(1000, 100)
            .pending_requests(8),
        POOL => ComponentSpec::new(POOL, file(test_programs::ECHO)).instances(2),
        _ => ComponentSpec::new(ECHO, file(test_programs::ECHO)),
    }
}

/// The fuzzing host: [`NAMES`], with storage in a temporary directory.
pub struct Fixture {
    pub host: Host,
    pub dir: tempfile::TempDir,
}

/// The process's host, started on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // Inputs crash `counter` on purpose: the root supervisor must not give up on it.
        let mut builder =
            HostBuilder::default().data_dir(dir.path()).intensity(u32::MAX, Duration::from_secs(1));
        for name in NAMES {
            builder = builder.component(spec(name));
        }
        let host = block_on("host start", builder.start()).expect("the fuzzing host starts");
        Fixture { host, dir }
    })
}

/// Put back any of the host's components that an input stopped (a control `stop`), so that
/// every input starts with all of them.
pub fn respawn_missing(host: &Host) {
    block_on("respawn", async {
        let running: Vec<String> =
            host.components().await.iter().map(|c| c.address.to_string()).collect();
        for name in NAMES {
            let present = running.iter().any(|a| a == name || a.starts_with(&format!("{name}/")));
            if !present {
                host.spawn(spec(name)).await.expect("a stopped component can be spawned again");
            }
        }
    });
}

/// The host still serves: `echo` answers a call with its payload, and each other component
/// answers too (a crash-restarted one within a few tries).
pub fn assert_serving(host: &Host) {
    block_on("liveness probe", async {
        let probe = Payload { codec: codec::RAW, bytes: b"probe".to_vec() };
        for name in [ECHO, STRICT, POOL] {
            let got = host.call(name, probe.clone(), CALL_TIMEOUT).await;
            assert_eq!(got, Ok(Some(probe.clone())), "{name} stopped answering");
        }
        for name in [COUNTER, RELAY] {
            let mut last = None;
            for _ in 0..50 {
                match host
                    .call(
                        name,
                        Payload { codec: codec::RAW, bytes: b"self".to_vec() },
                        CALL_TIMEOUT,
                    )
                    .await
                {
                    Ok(Some(_)) => {
                        last = None;
                        break;
                    }
                    other => last = Some(other),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(last.is_none(), "{name} stopped answering: {last:?}");
        }
    });
}
