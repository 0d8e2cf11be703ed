//! The engine: the on-disk artifact cache, fuel, per-component memory, stack overflow.

use std::time::Duration;

use airssys_wasm::{ComponentSpec, EngineConfig, Host, RequestError, Source};

use crate::util::Chain as _;
use crate::util::{T, cache_entries, from_cache, guest, raw, text};

fn cached_engine(dir: &std::path::Path) -> EngineConfig {
    EngineConfig { cache_dir: Some(dir.to_owned()), ..EngineConfig::default() }
}

/// The second start of the same component with the same engine settings loads the compiled
/// artifact instead of compiling; a damaged entry is discarded and rebuilt, never loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_start_loads_the_compiled_artifact_and_damage_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let start = || async {
        Host::builder()
            .engine(cached_engine(dir.path()))
            .component(guest("echo", test_programs::ECHO))
            .start()
            .await
            .unwrap()
    };

    let first = start().await;
    assert!(!from_cache(&first, "echo").await);
    assert_eq!(text(first.call("echo", raw("one"), T).await.unwrap()), "one");
    first.shutdown(T).await;
    let entries = cache_entries(dir.path());
    assert_eq!(entries.len(), 1, "one artifact per component and engine: {entries:?}");

    let second = start().await;
    assert!(from_cache(&second, "echo").await, "the second start compiled again");
    assert_eq!(text(second.call("echo", raw("two"), T).await.unwrap()), "two");
    second.shutdown(T).await;

    // Damage the entry: flip a byte in the middle, then truncate it.
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entries[0], &bytes).unwrap();
    let third = start().await;
    assert!(!from_cache(&third, "echo").await, "a damaged artifact was loaded");
    assert_eq!(text(third.call("echo", raw("three"), T).await.unwrap()), "three");
    third.shutdown(T).await;

    std::fs::write(&entries[0], &bytes[..100]).unwrap();
    let fourth = start().await;
    assert!(!from_cache(&fourth, "echo").await, "a truncated artifact was loaded");
    fourth.shutdown(T).await;
    // The rebuilt entry is sound again.
    let fifth = start().await;
    assert!(from_cache(&fifth, "echo").await);
    fifth.shutdown(T).await;
}

/// A component metered with fuel traps when a handler burns through its budget; the same
/// work in an unmetered neighbour completes, and the metered one is restarted and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_is_opt_in_per_component() {
    let host = Host::builder()
        .component(guest("metered", test_programs::MISBEHAVE).fuel_per_message(5_000_000))
        .component(guest("free", test_programs::MISBEHAVE))
        .start()
        .await
        .unwrap();
    assert!(host.call("metered", raw("burn:1000"), T).await.is_ok());
    match host.call("metered", raw("burn:100000000"), T).await {
        Err(RequestError::ReceiverCrashed(reason)) => {
            assert!(reason.contains("fuel"), "unexpected trap: {reason}")
        }
        other => panic!("the metered component was not stopped by fuel: {other:?}"),
    }
    assert!(host.call("free", raw("burn:100000000"), T).await.is_ok());
    // Each message gets a fresh budget: many small handlers never run out.
    for _ in 0..20 {
        assert!(host.call("metered", raw("burn:100000"), T).await.is_ok());
    }
    assert_eq!(host.restarts("metered"), Some(1));
    assert_eq!(host.restarts("free"), Some(0));
    host.shutdown(T).await;
}

/// A component's own memory limit, below the engine's, traps it when it grows past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_component_memory_limit() {
    let host = Host::builder()
        .component(guest("small", test_programs::MISBEHAVE).max_memory(8 << 20))
        .component(guest("large", test_programs::MISBEHAVE))
        .start()
        .await
        .unwrap();
    match host.call("small", raw("grow:16"), T).await {
        Err(RequestError::ReceiverCrashed(reason)) => {
            assert!(reason.contains("memory"), "not the memory limit: {reason}")
        }
        other => panic!("growing past the limit did not trap: {other:?}"),
    }
    assert_eq!(text(host.call("large", raw("grow:16"), T).await.unwrap()), "4096");
    host.shutdown(T).await;

    let too_large = Host::builder()
        .engine(EngineConfig { max_memory_bytes: 16 << 20, ..EngineConfig::default() })
        .component(guest("greedy", test_programs::MISBEHAVE).max_memory(32 << 20))
        .start()
        .await;
    let error = too_large.expect_err("a limit above the engine's was accepted").chain();
    assert!(error.contains("greedy") && error.contains("memory"), "{error}");
}

/// Unbounded recursion in a guest is a trap (a crash and a restart), not a host crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_overflow_is_a_trap() {
    let host =
        Host::builder().component(guest("deep", test_programs::MISBEHAVE)).start().await.unwrap();
    match host.call("deep", raw("recurse"), T).await {
        Err(RequestError::ReceiverCrashed(reason)) => {
            assert!(reason.contains("stack"), "unexpected trap: {reason}")
        }
        other => panic!("recursion did not trap: {other:?}"),
    }
    assert_eq!(text(host.call("deep", raw("after"), T).await.unwrap()), "ok");
    assert_eq!(host.restarts("deep"), Some(1));
    host.shutdown(T).await;
}

/// A slow responder makes its caller time out, and a second caller that waits longer gets
/// the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_responder_times_out_its_impatient_caller() {
    let host =
        Host::builder().component(guest("slow", test_programs::MISBEHAVE)).start().await.unwrap();
    let impatient = host.call("slow", raw("sleep:300"), Duration::from_millis(50)).await;
    assert_eq!(impatient, Err(RequestError::Timeout));
    assert_eq!(text(host.call("slow", raw("sleep:10"), T).await.unwrap()), "slept");
    host.shutdown(T).await;
}

/// Bytes that are not a component, a truncated component, and a core module are each
/// refused at load with an error naming the component; a wrong source path names the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_inputs_are_refused_at_load() {
    let component = std::fs::read(test_programs::ECHO).unwrap();
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let cases: [(&str, Vec<u8>); 4] = [
        ("text", b"hello, not wasm".to_vec()),
        ("empty", Vec::new()),
        ("truncated", component[..component.len() / 3].to_vec()),
        ("core", core_module),
    ];
    for (name, bytes) in cases {
        let result = Host::builder()
            .component(ComponentSpec::new(name, Source::Bytes(bytes.into())))
            .start()
            .await;
        let error = result.expect_err(name).chain();
        assert!(error.contains(&format!("{name:?}")), "{name}: {error}");
    }
    let missing = Host::builder()
        .component(guest("ghost", "/nonexistent/ghost.wasm"))
        .start()
        .await
        .expect_err("a missing file was accepted")
        .chain();
    assert!(missing.contains("/nonexistent/ghost.wasm"), "{missing}");
}

/// Malformed and foreign components spawned into a running host: bytes that are not wasm,
/// nothing, a truncated component, a core module, a component of another world, and one
/// that imports an interface the host does not provide. Each is refused with an error that
/// names the component and says what is wrong; the host keeps serving the component it runs,
/// and the refused names stay free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_components_are_refused_while_the_others_keep_running() {
    let component = std::fs::read(test_programs::ECHO).unwrap();
    // What each error must say besides the name: that it cannot be loaded (wasmtime's own
    // parser error follows), and for the last two, what is missing.
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("text", b"hello, not wasm".to_vec(), "cannot be loaded"),
        ("empty", Vec::new(), "cannot be loaded"),
        ("truncated", component[..component.len() / 2].to_vec(), "cannot be loaded"),
        ("core", b"\0asm\x01\0\0\0".to_vec(), "cannot be loaded"),
        ("misfit", std::fs::read(test_programs::MISFIT).unwrap(), "airssys:component"),
        ("stranger", std::fs::read(test_programs::STRANGER).unwrap(), "test:stranger/extra"),
    ];
    let host = Host::builder().component(guest("echo", test_programs::ECHO)).start().await.unwrap();
    for (name, bytes, says) in cases {
        let error = host
            .spawn(ComponentSpec::new(name, Source::Bytes(bytes.into())))
            .await
            .expect_err(name);
        // What is wrong is the error's source (wasmtime's own error, or the contract's).
        let error = crate::util::chain(&error);
        assert!(error.contains(&format!("{name:?}")), "{name}: {error}");
        assert!(error.contains(says), "{name}: {error}");
        assert_eq!(text(host.call("echo", raw(name), T).await.unwrap()), name);
        assert!(matches!(
            host.call(name, raw("x"), T).await,
            Err(RequestError::Refused(airssys_wasm::SendError::UnknownTarget(_)))
        ));
    }
    let live: Vec<String> = host.components().await.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(live, ["echo"]);
    // A good component may take a refused one's name.
    host.spawn(guest("stranger", test_programs::ECHO)).await.unwrap();
    assert_eq!(text(host.call("stranger", raw("hi"), T).await.unwrap()), "hi");
    host.shutdown(T).await;
}

/// A cache directory that other users may write to is refused: loading an entry runs its
/// code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_cache_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let error = Host::builder()
        .engine(cached_engine(dir.path()))
        .component(guest("echo", test_programs::ECHO))
        .start()
        .await
        .expect_err("a world-writable cache was used")
        .chain();
    assert!(error.contains("writable by others"), "{error}");
    // A fresh directory is created private.
    let fresh = dir.path().join("fresh");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let host = Host::builder()
        .engine(cached_engine(&fresh))
        .component(guest("echo", test_programs::ECHO))
        .start()
        .await
        .unwrap();
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the cache directory is not private: {mode:o}");
    host.shutdown(T).await;
}

/// Reading and compiling a component run off the executor: while `Host::spawn` compiles a
/// component, a running component goes on answering calls, even on a runtime with one
/// thread (where a compilation on the executor would stop everything until it is done).
#[tokio::test(flavor = "current_thread")]
async fn a_compilation_does_not_delay_messages_to_running_components() {
    let host = std::sync::Arc::new(
        Host::builder().component(guest("echo", test_programs::ECHO)).start().await.unwrap(),
    );
    let spawning = {
        let host = std::sync::Arc::clone(&host);
        // Another guest, so that its code is compiled now (no artifact cache: it is not set).
        tokio::spawn(async move { host.spawn(crate::util::relay("relay")).await })
    };
    let mut answered_meanwhile = 0;
    while !spawning.is_finished() {
        assert_eq!(text(host.call("echo", raw("ping"), T).await.unwrap()), "ping");
        answered_meanwhile += 1;
    }
    spawning.await.unwrap().unwrap();
    assert!(host.components().await.iter().any(|c| &*c.address == "relay"));
    assert!(
        answered_meanwhile >= 5,
        "only {answered_meanwhile} calls were answered while another component compiled"
    );
}

/// A host whose instance pool is full refuses the next spawn with an error that names the
/// limit and the setting to raise; the components running go on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_refuses_the_next_spawn_by_name() {
    let engine = EngineConfig { pool_components: Some(3), ..Default::default() };
    let host = Host::builder().engine(engine).start().await.unwrap();
    let echo = |name: &str| ComponentSpec::new(name, Source::File(test_programs::ECHO.into()));
    for i in 0..3 {
        host.spawn(echo(&format!("e{i}"))).await.unwrap();
    }
    let refused = host.spawn(echo("e3")).await;
    let Err(error) = refused else { panic!("a fourth component started in a pool of three") };
    let error = error.to_string();
    assert!(error.contains("pool is full") && error.contains("pool_components"), "{error}");
    // The three running are unaffected, and a freed slot takes the next one.
    for i in 0..3 {
        let name = format!("e{i}");
        assert_eq!(text(host.call(&name, raw("hi"), T).await.unwrap()), "hi", "{name}");
    }
    host.stop("e0").await.unwrap();
    host.spawn(echo("e3")).await.unwrap();
    host.shutdown(Duration::from_secs(5)).await;
}

/// A pool for 20,000 components is reserved (each memory takes only what a component may
/// use, not 4 GiB of address space: 20,000 took 160 TiB before), and components run in it
/// as in a small one. (Larger pools need `vm.max_map_count` raised: each execution stack is
/// two mappings, and the default allows 65,530.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_for_twenty_thousand_components_is_reserved() {
    let engine = EngineConfig { pool_components: Some(20_000), ..Default::default() };
    let host = Host::builder().engine(engine).start().await.unwrap();
    assert!(host.is_pooling(), "the pool was not reserved: components are allocated on demand");
    let echo = ComponentSpec::new("e", Source::File(test_programs::ECHO.into()));
    host.spawn(echo).await.unwrap();
    assert_eq!(text(host.call("e", raw("hi"), T).await.unwrap()), "hi");
    host.shutdown(Duration::from_secs(5)).await;
}

/// An app whose components each fit the pool but not all together is refused before
/// anything starts, with the size that would hold them all (not halfway, with a full pool).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_too_large_for_the_pool_together_is_refused_before_it_starts() {
    let engine = EngineConfig { pool_components: Some(4), ..Default::default() };
    let echo = |name: &str, n: u32| {
        ComponentSpec::new(name, Source::File(test_programs::ECHO.into())).instances(n)
    };
    let started = Host::builder()
        .engine(engine)
        .component(echo("a", 3))
        .component(echo("b", 2))
        .start()
        .await;
    let Err(error) = started else { panic!("five instances started in a pool of four") };
    let error = error.to_string();
    assert!(error.contains("does not fit") && error.contains("at least 5"), "{error}");
}

/// Instances past the kernel's limit on memory mappings (`vm.max_map_count`) are refused
/// by name before any is made, at a host's start and at a pool's spawn alike, and the
/// components running go on answering. (Past the limit no instance can be made and the
/// process's own allocations start failing: at 65,530, a pool of 20,000 used to fail member
/// by member and then abort the process.) The limit is this machine's own; the pools are
/// sized past it, allocated on demand (no pool is reserved, which would take mappings from
/// the other tests of this process).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_past_the_mapping_limit_are_refused_by_name_before_any_is_made() {
    let limit: u32 =
        std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap().trim().parse().unwrap();
    // An instance allocated on demand takes at least four mappings.
    let past = (limit / 4 + 64).min(airssys_wasm::manifest::MAX_POOL_INSTANCES);
    let on_demand = || EngineConfig { pool_components: None, ..Default::default() };
    let echo = |name: &str, n: u32| {
        ComponentSpec::new(name, Source::File(test_programs::ECHO.into())).instances(n)
    };
    let mapping_error = |error: airssys_wasm::HostError| {
        let text = error.to_string();
        assert!(matches!(error, airssys_wasm::HostError::MappingLimit(_)), "{text}");
        assert!(text.contains("vm.max_map_count") && text.contains("sysctl -w"), "{text}");
    };

    let started = Host::builder().engine(on_demand()).component(echo("many", past)).start().await;
    mapping_error(started.expect_err("an app past the mapping limit started"));

    let host = Host::builder().engine(on_demand()).component(echo("one", 1)).start().await.unwrap();
    mapping_error(host.spawn(echo("many", past)).await.expect_err("a pool past the limit"));
    assert_eq!(text(host.call("one", raw("still here"), T).await.unwrap()), "still here");
    assert!(host.components().await.iter().all(|c| !c.address.starts_with("many")));
    host.shutdown(Duration::from_secs(5)).await;
}
