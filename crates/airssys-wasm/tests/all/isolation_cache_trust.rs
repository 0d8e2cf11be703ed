//! The threat model's items (`docs/security.md`) about the host's own files and what it
//! loads: the artifact cache (authenticated entries, a directory opened once and checked up to
//! `/`, entries per engine, signatures checked before any reuse), grants that would reach the
//! cache, the data directory, the audit log or a directory the embedder protects, a data
//! directory over the project, weak Ed25519 keys, and component or signature files that are
//! not regular or too large.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use airssys_wasm::trust::{ComponentSignature, PublicKey, SecretKey, TrustPolicy};
use airssys_wasm::{EngineConfig, Host, HostBuilder};
use sha2::Digest;

use crate::util::Chain as _;
use crate::util::{T, cache_entries, from_cache, guest, raw, text};

fn cached_engine(dir: &Path) -> EngineConfig {
    EngineConfig { cache_dir: Some(dir.to_owned()), ..EngineConfig::default() }
}

fn entry_of(dir: &Path, before: &[PathBuf]) -> PathBuf {
    let new: Vec<_> = cache_entries(dir).into_iter().filter(|e| !before.contains(e)).collect();
    assert_eq!(new.len(), 1, "one new entry: {new:?}");
    new[0].clone()
}

fn write_manifest(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("airssys.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn start_error(manifest: &Path) -> String {
    match HostBuilder::from_manifest(manifest) {
        Ok(builder) => builder.start().await.expect_err("the app started").chain(),
        Err(e) => e.chain(),
    }
}

/// An entry overwritten with another component's valid entry, or with that artifact under a
/// correct SHA-256 self-checksum in place of the tag, is not loaded: the component is compiled
/// again and behaves as itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_01_a_rewritten_cache_entry_is_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let start = |name: &'static str, path: &'static str| {
        let cache = cache.clone();
        async move {
            Host::builder()
                .engine(cached_engine(&cache))
                .component(guest(name, path))
                .start()
                .await
                .unwrap()
        }
    };
    let host = start("echo", test_programs::ECHO).await;
    host.shutdown(T).await;
    let echo_entry = entry_of(&cache, &[]);
    let host = start("counter", test_programs::COUNTER).await;
    host.shutdown(T).await;
    let counter_entry = entry_of(&cache, std::slice::from_ref(&echo_entry));
    let sound = start("echo", test_programs::ECHO).await;
    assert!(from_cache(&sound, "echo").await, "an authentic entry is loaded");
    sound.shutdown(T).await;

    // Another component's valid, authenticated entry, under echo's name.
    std::fs::copy(&counter_entry, &echo_entry).unwrap();
    let host = start("echo", test_programs::ECHO).await;
    assert!(!from_cache(&host, "echo").await, "another component's entry was loaded as echo");
    assert_eq!(text(host.call("echo", raw("mine"), T).await.unwrap()), "mine");
    host.shutdown(T).await;

    // The counter's artifact with a correct SHA-256 in front, as an attacker can compute.
    let counter = std::fs::read(&counter_entry).unwrap();
    let artifact = &counter[32..];
    let mut forged = sha2::Sha256::digest(artifact).to_vec();
    forged.extend_from_slice(artifact);
    std::fs::write(&echo_entry, &forged).unwrap();
    let host = start("echo", test_programs::ECHO).await;
    assert!(!from_cache(&host, "echo").await, "a self-checksummed entry was loaded");
    assert_eq!(text(host.call("echo", raw("still me"), T).await.unwrap()), "still me");
    host.shutdown(T).await;
    // The counter's own entry is untouched and still loads.
    let host = start("counter", test_programs::COUNTER).await;
    assert!(from_cache(&host, "counter").await);
    host.shutdown(T).await;
}

/// A grant that contains the cache directory, or lies inside it, fails the start with an
/// error naming the component, the grant and the cache; the same grant in a later spawn is
/// refused and the running neighbour keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_01_a_grant_overlapping_the_cache_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".airssys/cache/sub")).unwrap();
    let cases = [
        (".", "contains it"),
        (".airssys/cache", "contains it"),
        (".airssys/cache/sub", "lies inside it"),
    ];
    for (host_dir, how) in cases {
        let manifest = write_manifest(
            dir.path(),
            &format!(
                "[app]\nname = \"app\"\n[engine]\ncache_dir = \".airssys/cache\"\n\
                 [trust]\ndevelopment = true\n\
                 [components.thief]\nsource = \"{}\"\n\
                 [components.thief.grants]\nfilesystem = [{{ host = \"{host_dir}\", guest = \"/d\", mode = \"ro\" }}]\n",
                test_programs::ECHO
            ),
        );
        let error = start_error(&manifest).await;
        for word in ["\"thief\"", host_dir, "the host's artifact cache", ".airssys/cache", how] {
            assert!(error.contains(word), "{word:?} not in: {error}");
        }
    }
    // Spawned later.
    let cache = dir.path().join(".airssys/cache");
    let host = Host::builder()
        .engine(cached_engine(&cache))
        .component(guest("echo", test_programs::ECHO))
        .start()
        .await
        .unwrap();
    let error = host
        .spawn(guest("thief", test_programs::ECHO).dir(dir.path(), "/d", true))
        .await
        .expect_err("the spawn was allowed")
        .chain();
    assert!(error.contains("the host's artifact cache"), "{error}");
    assert_eq!(text(host.call("echo", raw("fine"), T).await.unwrap()), "fine");
    // A sibling directory is fine.
    std::fs::create_dir(dir.path().join("files")).unwrap();
    host.spawn(guest("reader", test_programs::ECHO).dir(dir.path().join("files"), "/d", true))
        .await
        .unwrap();
    host.shutdown(T).await;
}

/// A grant of the directory that holds the audit log (read-write or not) fails the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_10_a_grant_containing_the_audit_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!(
            "[app]\nname = \"app\"\n[audit]\nfile = \"logs/audit.jsonl\"\n[trust]\ndevelopment = true\n\
             [components.forger]\nsource = \"{}\"\n\
             [components.forger.grants]\nfilesystem = [{{ host = \"logs\", guest = \"/logs\", mode = \"rw\" }}]\n",
            test_programs::ECHO
        ),
    );
    let error = start_error(&manifest).await;
    for word in ["\"forger\"", "logs", "the audit log", "audit.jsonl"] {
        assert!(error.contains(word), "{word:?} not in: {error}");
    }
}

/// A directory the embedder protects (`airssys up` protects its control socket's directory
/// this way) is kept out of every grant as the host's own places are: a grant of it, or of a
/// directory inside it, fails the start with an error naming what it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_over_a_directory_the_embedder_protects_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join(".airssys");
    std::fs::create_dir_all(control.join("inner")).unwrap();
    for granted in [dir.path().to_owned(), control.clone(), control.join("inner")] {
        let error = Host::builder()
            .protect_dir(&control, "the control socket's directory")
            .component(guest("thief", test_programs::ECHO).dir(&granted, "/d", false))
            .start()
            .await
            .expect_err("the grant was allowed")
            .chain();
        for word in ["\"thief\"", "the control socket's directory"] {
            assert!(error.contains(word), "{word:?} not in: {error}");
        }
    }
}

/// Under trusted keys a component's signature is checked before any compiled code is reused:
/// bytes already in the artifact cache (compiled by a development host), or already compiled
/// by this host for a signed component, are refused when they come without a signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_checked_before_compiled_code_is_reused() {
    use airssys_wasm::{ComponentSpec, HostError, Source};
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let bytes: std::sync::Arc<[u8]> = std::fs::read(test_programs::ECHO).unwrap().into();
    let spec = |name: &str| ComponentSpec::new(name, Source::Bytes(bytes.clone()));
    let key = SecretKey::generate().unwrap();
    let keys = || TrustPolicy::Keys(vec![key.public()]);
    let untrusted = |result: Result<(), HostError>| {
        assert!(matches!(result, Err(HostError::Untrusted { .. })), "{result:?}");
    };

    let development = Host::builder()
        .engine(cached_engine(&cache))
        .component(spec("echo"))
        .start()
        .await
        .unwrap();
    development.shutdown(T).await;
    assert_eq!(cache_entries(&cache).len(), 1);
    let unsigned =
        Host::builder().engine(cached_engine(&cache)).trust(keys()).component(spec("echo"));
    untrusted(unsigned.start().await.map(drop));

    let host = Host::builder()
        .engine(cached_engine(&cache))
        .trust(keys())
        .component(spec("signed").signature(key.sign(&bytes)))
        .start()
        .await
        .unwrap();
    assert!(from_cache(&host, "signed").await);
    untrusted(host.spawn(spec("copy")).await);
    host.spawn(spec("signed-copy").signature(key.sign(&bytes))).await.unwrap();
    assert_eq!(text(host.call("signed-copy", raw("mine"), T).await.unwrap()), "mine");
    host.shutdown(T).await;
}

/// A cached artifact is named by its engine's compatibility hash: an engine with other
/// settings (the fuel-counting one) does not load another engine's entry; it compiles and
/// stores one of its own, which it loads the next time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_is_loaded_only_by_an_engine_with_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let start = |fuel: bool| {
        let spec = guest("echo", test_programs::ECHO);
        let spec = if fuel { spec.fuel_per_message(100_000_000) } else { spec };
        Host::builder().engine(cached_engine(dir.path())).component(spec).start()
    };
    for (fuel, cached, entries) in [(false, false, 1), (true, false, 2), (true, true, 2)] {
        let host = start(fuel).await.unwrap();
        assert_eq!(from_cache(&host, "echo").await, cached, "fuel: {fuel}");
        assert_eq!(text(host.call("echo", raw("hi"), T).await.unwrap()), "hi");
        host.shutdown(T).await;
        assert_eq!(cache_entries(dir.path()).len(), entries, "fuel: {fuel}");
    }
}

/// `data_dir = "."` (or a directory above the manifest) is refused with a clear error; a
/// subdirectory is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_w9_a_data_directory_over_the_project_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    for data_dir in [".", "..", "./sub/.."] {
        let manifest = write_manifest(
            &project,
            &format!(
                "[app]\nname = \"app\"\ndata_dir = \"{data_dir}\"\n[trust]\ndevelopment = true\n"
            ),
        );
        let error = start_error(&manifest).await;
        assert!(error.contains("as the data directory"), "{error}");
        assert!(error.contains("contains the manifest's own directory"), "{error}");
    }
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
    };
    let before = mode(&project);
    let manifest = write_manifest(
        &project,
        "[app]\nname = \"app\"\ndata_dir = \"data\"\n[trust]\ndevelopment = true\n",
    );
    let host = HostBuilder::from_manifest(&manifest).unwrap().start().await.unwrap();
    host.shutdown(T).await;
    assert!(project.join("data").is_dir());
    assert_eq!(mode(&project), before, "the project directory was changed");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The identity point, and the point of order 2: anyone can forge a signature under them.
const WEAK_KEYS: [&str; 2] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
];

/// A small-order key is refused as a trusted key and as a signer; a signature forged for
/// the identity key (R the identity, s zero, which the lax check accepts for any message)
/// does not load the component.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_w7_weak_keys_are_refused_and_forged_signatures_fail() {
    for weak in WEAK_KEYS {
        let error = PublicKey::from_hex(weak).expect_err("a weak key was accepted").chain();
        assert!(error.contains("weak"), "{error}");
    }
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(
        dir.path(),
        &format!("[app]\nname = \"app\"\n[trust]\nkeys = [\"{}\"]\n", WEAK_KEYS[0]),
    );
    let error = start_error(&manifest).await;
    assert!(error.contains("weak"), "{error}");

    let file = dir.path().join("echo.wasm");
    std::fs::copy(test_programs::ECHO, &file).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let mut forged_signature = vec![0u8; 64];
    forged_signature[0] = 1; // R = the identity; s = 0.
    let forged = ComponentSignature {
        sha256: hex(&sha2::Sha256::digest(&bytes)),
        key: WEAK_KEYS[0].into(),
        signature: hex(&forged_signature),
    };
    let trusted = SecretKey::generate().unwrap().public();
    let error = forged.verify_bytes(&bytes, std::slice::from_ref(&trusted)).unwrap_err();
    assert!(error.to_string().contains("weak"), "{error}");
    std::fs::write(dir.path().join("echo.wasm.sig"), forged.to_json()).unwrap();
    let error = Host::builder()
        .trust(TrustPolicy::Keys(vec![trusted.clone()]))
        .component(airssys_wasm::ComponentSpec::new(
            "echo",
            airssys_wasm::Source::File(file.clone()),
        ))
        .start()
        .await
        .expect_err("a forged signature loaded")
        .chain();
    assert!(error.contains("\"echo\"") && error.contains("weak"), "{error}");
    // A real signature by the trusted key still loads.
    let key = SecretKey::generate().unwrap();
    std::fs::write(dir.path().join("echo.wasm.sig"), key.sign(&bytes).to_json()).unwrap();
    let host = Host::builder()
        .trust(TrustPolicy::Keys(vec![key.public()]))
        .component(airssys_wasm::ComponentSpec::new("echo", airssys_wasm::Source::File(file)))
        .start()
        .await
        .unwrap();
    assert_eq!(text(host.call("echo", raw("signed"), T).await.unwrap()), "signed");
    host.shutdown(T).await;
}

fn fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// `/dev/zero`, a FIFO, a directory or a huge sparse file as a component, and `/dev/zero` or
/// an oversized file as its signature: each is a clear error, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_w8_components_and_signatures_that_are_not_regular_or_too_large_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join("pipe.wasm");
    fifo(&pipe);
    let huge = dir.path().join("huge.wasm");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(airssys_wasm::untrusted_file::MAX_COMPONENT_BYTES + 1)
        .unwrap();
    let began = Instant::now();
    let cases: [(PathBuf, &str); 4] = [
        ("/dev/zero".into(), "a character device"),
        (pipe, "a FIFO"),
        (dir.path().to_owned(), "a directory"),
        (huge, "larger than the limit"),
    ];
    for (path, why) in cases {
        let error = Host::builder()
            .component(airssys_wasm::ComponentSpec::new(
                "odd",
                airssys_wasm::Source::File(path.clone()),
            ))
            .start()
            .await
            .expect_err("it loaded")
            .chain();
        assert!(error.contains("\"odd\"") && error.contains(why), "{path:?}: {error}");
    }
    // Signatures.
    let file = dir.path().join("echo.wasm");
    std::fs::copy(test_programs::ECHO, &file).unwrap();
    let sig = dir.path().join("echo.wasm.sig");
    let key = SecretKey::generate().unwrap().public();
    let load = || {
        Host::builder()
            .trust(TrustPolicy::Keys(vec![key.clone()]))
            .component(airssys_wasm::ComponentSpec::new(
                "echo",
                airssys_wasm::Source::File(file.clone()),
            ))
            .start()
    };
    std::os::unix::fs::symlink("/dev/zero", &sig).unwrap();
    let error = load().await.expect_err("it loaded").chain();
    assert!(error.contains("a character device"), "{error}");
    std::fs::remove_file(&sig).unwrap();
    fifo(&sig);
    let error = load().await.expect_err("it loaded").chain();
    assert!(error.contains("a FIFO"), "{error}");
    std::fs::remove_file(&sig).unwrap();
    std::fs::File::create(&sig).unwrap().set_len(1 << 20).unwrap();
    let error = load().await.expect_err("it loaded").chain();
    assert!(error.contains("larger than the limit"), "{error}");
    assert!(began.elapsed() < Duration::from_secs(60), "refusing took {:?}", began.elapsed());
}

/// A system user made for one test, removed when dropped (also when the test fails).
struct LocalUser {
    name: String,
    uid: u32,
}

impl LocalUser {
    /// None (with the reason printed) when not running as root.
    fn create(tag: &str) -> Option<LocalUser> {
        if rustix_uid() != 0 {
            eprintln!("skipped: creating a second local user needs root");
            return None;
        }
        let name = format!("as{tag}{}", std::process::id());
        let status = std::process::Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", &name])
            .status();
        match status {
            Ok(s) if s.success() => {}
            other => {
                eprintln!("skipped: useradd failed: {other:?}");
                return None;
            }
        }
        let mut user = LocalUser { name, uid: u32::MAX };
        let out = std::process::Command::new("id").args(["-u", &user.name]).output().unwrap();
        user.uid = String::from_utf8_lossy(&out.stdout).trim().parse().expect("a uid");
        Some(user)
    }
}

impl Drop for LocalUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("userdel").arg(&self.name).status();
    }
}

fn rustix_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").unwrap().uid()
}

async fn cache_error(cache: &Path) -> String {
    Host::builder()
        .engine(cached_engine(cache))
        .component(guest("echo", test_programs::ECHO))
        .start()
        .await
        .expect_err("the cache was used")
        .chain()
}

/// A cache whose parent another local user owns, or that group and others may write
/// without the sticky bit, is refused with a clear error; a sticky parent like `/tmp` is
/// fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_02_a_cache_under_a_parent_others_control_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("shared");
    std::fs::create_dir(&parent).unwrap();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o777)).unwrap();
    let error = cache_error(&parent.join("cache")).await;
    assert!(error.contains("writable by group or others") && error.contains("shared"), "{error}");
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let host = Host::builder()
        .engine(cached_engine(&parent.join("cache")))
        .component(guest("echo", test_programs::ECHO))
        .start()
        .await
        .unwrap();
    host.shutdown(T).await;

    let Some(user) = LocalUser::create("cache") else { return };
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(user.uid), None).unwrap();
    std::fs::create_dir(theirs.join("cache")).unwrap();
    std::fs::set_permissions(theirs.join("cache"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let error = cache_error(&theirs.join("cache")).await;
    assert!(error.contains("owned by another user") && error.contains("theirs"), "{error}");
    // Through a symlink to it: resolved once, and still refused.
    std::os::unix::fs::symlink(theirs.join("cache"), dir.path().join("link")).unwrap();
    let error = cache_error(&dir.path().join("link")).await;
    assert!(error.contains("owned by another user"), "{error}");
    drop(user);
}

/// The cache directory is opened once: replacing its path with a symlink to another
/// directory after the host started changes neither what is loaded nor where entries go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_02_a_symlink_swap_after_start_does_not_redirect_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let first = Host::builder()
        .engine(cached_engine(&cache))
        .component(guest("echo", test_programs::ECHO))
        .start()
        .await
        .unwrap();
    first.shutdown(T).await;
    let host = Host::builder().engine(cached_engine(&cache)).start().await.unwrap();
    // Swap: the real directory moves away, the path becomes a symlink to the attacker's.
    let moved = dir.path().join("moved");
    std::fs::rename(&cache, &moved).unwrap();
    let attacker = dir.path().join("attacker");
    std::fs::create_dir(&attacker).unwrap();
    std::os::unix::fs::symlink(&attacker, &cache).unwrap();
    host.spawn(guest("echo", test_programs::ECHO)).await.unwrap();
    assert!(from_cache(&host, "echo").await, "the entry was not read from the opened directory");
    host.spawn(guest("counter", test_programs::COUNTER)).await.unwrap();
    assert!(!from_cache(&host, "counter").await);
    assert_eq!(text(host.call("echo", raw("here"), T).await.unwrap()), "here");
    host.shutdown(T).await;
    assert_eq!(cache_entries(&moved).len(), 2, "the new entry went to the opened directory");
    assert!(std::fs::read_dir(&attacker).unwrap().next().is_none(), "the symlink was followed");
}
