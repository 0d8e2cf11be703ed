//! Grants hold against hostile components: a directory grant cannot be redirected by a
//! symlink swap (the host opens it once and reuses that handle), and no component may write
//! where another's granted command lives.

use std::os::unix::fs::PermissionsExt;

use airssys_wasm::Host;

use crate::util::*;

/// A component with a read-write grant replaces a granted subdirectory (its own nested grant,
/// and another component's grant) with a symlink leading out, to the host's data directory,
/// then traps. After the restarts, neither reaches the outside: both still see the directory
/// they were granted (now renamed), and the neighbour is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_03_symlink_swap_cannot_redirect_a_grant() {
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside");
    let work = root.path().join("work");
    let nested = work.join("nested");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(nested.join("own.txt"), "inside").unwrap();
    let host = Host::builder()
        .data_dir(&outside)
        .component(
            guest("attacker", test_programs::GRANT_SWAPPER)
                .dir(&work, "/work", true)
                .dir(&nested, "/nested", true),
        )
        .component(guest("victim", test_programs::MISBEHAVE).dir(&nested, "/data", false))
        .component(guest("neighbour", test_programs::ECHO))
        .start()
        .await
        .unwrap();
    std::fs::write(outside.join("secret.txt"), "outside secret").unwrap();
    assert!(outside.join("storage.redb").exists());
    let ask = |who: &'static str, what: &str| {
        let host = &host;
        let what = what.to_owned();
        async move { text(host.call(who, raw(&what), T).await.unwrap()) }
    };
    assert_eq!(ask("attacker", "read:/nested/own.txt").await, "inside");
    assert_eq!(ask("victim", "read:/data/own.txt").await, "inside");

    assert_eq!(ask("attacker", "swap:/work/nested:../outside").await, "swapped");
    // On the host, the granted path now leads out.
    assert_eq!(std::fs::read_to_string(nested.join("secret.txt")).unwrap(), "outside secret");
    // Both restart: their next instances get their grants again.
    assert!(host.call("attacker", raw("trap"), T).await.is_err());
    assert!(host.call("victim", raw("recurse"), T).await.is_err());

    for (who, path) in [("attacker", "/nested"), ("victim", "/data")] {
        for file in ["secret.txt", "storage.redb"] {
            let answer = ask(who, &format!("read:{path}/{file}")).await;
            assert!(answer.starts_with("error"), "{who} read {path}/{file} outside: {answer}");
        }
        // Still the directory that was granted, wherever it went.
        assert_eq!(ask(who, &format!("read:{path}/own.txt")).await, "inside");
    }
    assert_eq!(ask("attacker", "write:/nested/planted.txt:x").await, "written");
    assert!(!outside.join("planted.txt").exists());
    assert!(work.join("nested.away/planted.txt").exists());
    assert!(host.restarts("attacker").unwrap() >= 1 && host.restarts("victim").unwrap() >= 1);
    assert_eq!(ask("neighbour", "hello").await, "hello");
    host.shutdown(T).await;
}

/// A script in a directory, executable.
fn script(dir: &std::path::Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tool = bin.join("tool.sh");
    std::fs::write(&tool, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    tool
}

/// A command granted to one component inside a directory another may write is refused, at
/// start and for later spawns in both directions, naming both; the components already
/// running carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_04_a_command_writable_by_another_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tool = script(dir.path());
    let tool = tool.to_str().unwrap();
    let runner = || guest("runner", test_programs::MISBEHAVE).command(tool, &[]);
    let writer = || guest("writer", test_programs::MISBEHAVE).dir(dir.path(), "/w", true);
    let names_both =
        |e: &str| e.contains("\"runner\"") && e.contains("\"writer\"") && e.contains("tool.sh");

    let started = Host::builder().component(writer()).component(runner()).start().await;
    let Err(error) = started else { panic!("a writable command was granted") };
    let error = error.to_string();
    assert!(names_both(&error), "{error}");

    // A command already granted: a later component may not be given write access over it.
    let audit = || airssys_osl::AuditLog::file(&dir.path().join("audit.jsonl")).unwrap();
    let host = Host::builder()
        .audit(audit())
        .component(runner())
        .component(guest("neighbour", test_programs::ECHO))
        .start()
        .await
        .unwrap();
    let error = host.spawn(writer()).await.expect_err("spawned a writer over a command");
    assert!(names_both(&error.to_string()), "{error}");
    let ran = text(host.call("runner", raw(&format!("run:5000:{tool}")), T).await.unwrap());
    assert_eq!(ran, "exit 0: hi\n");
    assert_eq!(text(host.call("neighbour", raw("hello"), T).await.unwrap()), "hello");
    host.shutdown(T).await;

    // A writable directory already granted: a later command inside it is refused.
    let host = Host::builder().audit(audit()).component(writer()).start().await.unwrap();
    let error = host.spawn(runner()).await.expect_err("spawned a command inside a writable dir");
    assert!(names_both(&error.to_string()), "{error}");
    assert_eq!(text(host.call("writer", raw("write:/w/x.txt:y"), T).await.unwrap()), "written");
    // Once the writer is gone, the command may be granted.
    host.stop("writer").await.unwrap();
    host.spawn(runner()).await.unwrap();
    let ran = text(host.call("runner", raw(&format!("run:5000:{tool}")), T).await.unwrap());
    assert_eq!(ran, "exit 0: hi\n");
    host.shutdown(T).await;
}
