//! Processes through the pipeline: real child processes.

use std::time::{Duration, Instant};

use airssys_osl::ops::*;
use airssys_osl::{Action, OslError, SecurityPolicy};

use crate::util::*;

fn shell_policy() -> SecurityPolicy {
    let sh = airssys_osl::path::resolve_program("sh").unwrap();
    SecurityPolicy::new()
        .allow("*", &[Action::ProcessSpawn], &sh.display().to_string())
        .unwrap()
        .allow("*", &[Action::ProcessControl], "*")
        .unwrap()
}

/// A spawned program runs with exactly the given arguments, environment and working
/// directory, and its output and exit code come back.
#[tokio::test]
async fn spawn_and_wait_with_captured_output() {
    let (_guard, dir) = tempdir();
    let (osl, audit) = secured(shell_policy().allow("*", &[Action::FsRead], &under(&dir)).unwrap());
    let spawn = ProcessSpawn::new("sh")
        .args([
            "-c",
            "echo \"$GREETING $1\"; pwd; echo oops >&2; env | wc -l; exit 3",
            "sh",
            "world",
        ])
        .env("GREETING", "hello")
        .cwd(&dir);
    let pid = osl.run(&alice(), spawn).await.unwrap();
    let exit = osl.run(&alice(), ProcessWait::new(pid)).await.unwrap();
    let stdout = String::from_utf8(exit.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "hello world");
    assert_eq!(lines[1], dir.display().to_string());
    // Only what was given (plus what sh itself sets, like PWD) is in the environment.
    let vars: usize = lines[2].trim().parse().unwrap();
    assert!(vars <= 4, "the environment was inherited: {vars} variables");
    assert_eq!(exit.stderr, b"oops\n");
    assert_eq!(exit.code, Some(3));
    assert!(!exit.timed_out);
    // The audit names the canonical program, and the working directory was checked too.
    let sh = airssys_osl::path::resolve_program("sh").unwrap();
    assert_eq!(audit.records()[0].resource, sh.display().to_string());
    assert_eq!(audit.records()[1].resource, dir.display().to_string());
    // Waited for: the id is forgotten.
    let again = osl.run(&alice(), ProcessWait::new(pid)).await.unwrap_err();
    assert!(matches!(again, OslError::NoSuchProcess(_)), "{again}");
}

/// A program that is not allowed is refused before it starts; an unknown one is a clear
/// error.
#[tokio::test]
async fn programs_are_checked() {
    let (osl, audit) = secured(shell_policy());
    let error = osl.run(&alice(), ProcessSpawn::new("true")).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { action: Action::ProcessSpawn, .. }), "{error}");
    assert_eq!(audit.records()[0].decision, "deny");
    let error = osl.run(&alice(), ProcessSpawn::new("no-such-program-xyz")).await.unwrap_err();
    assert!(matches!(error, OslError::ProgramNotFound(_)), "{error}");
    // The working directory must be allowed too.
    let error = osl.run(&alice(), ProcessSpawn::new("sh").cwd("/")).await.unwrap_err();
    assert!(matches!(error, OslError::Denied { action: Action::FsRead, .. }), "{error}");
    // Loader variables would run arbitrary code inside an allowed program.
    let error = osl
        .run(&alice(), ProcessSpawn::new("sh").env("LD_PRELOAD", "/tmp/evil.so"))
        .await
        .unwrap_err();
    assert!(matches!(error, OslError::InvalidEnv(_)), "{error}");
    assert_eq!(audit.records().len(), 5, "every refusal is audited: {:?}", audit.records());
}

/// A process past its timeout is killed and reported as timed out.
#[tokio::test]
async fn timeout_kills() {
    let (osl, _) = secured(shell_policy());
    let start = Instant::now();
    let spawn =
        ProcessSpawn::new("sh").args(["-c", "sleep 30"]).timeout(Duration::from_millis(200));
    let pid = osl.run(&alice(), spawn).await.unwrap();
    let exit = osl.run(&alice(), ProcessWait::new(pid)).await.unwrap();
    assert!(exit.timed_out);
    assert_eq!(exit.signal, Some(9));
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// Kill and signal reach the process; only its owner may control it.
#[tokio::test]
async fn kill_signal_and_ownership() {
    let (osl, _) = secured(shell_policy());
    let pid = osl.run(&alice(), ProcessSpawn::new("sh").args(["-c", "sleep 30"])).await.unwrap();
    // Bob did not start it: for him it does not exist.
    for error in [
        osl.run(&bob(), ProcessKill::new(pid)).await.unwrap_err(),
        osl.run(&bob(), ProcessWait::new(pid)).await.unwrap_err(),
        osl.run(&bob(), ProcessSignal::new(pid, 9)).await.unwrap_err(),
    ] {
        assert!(matches!(error, OslError::NoSuchProcess(_)), "{error}");
    }
    osl.run(&alice(), ProcessSignal::new(pid, 15)).await.unwrap();
    let exit = osl.run(&alice(), ProcessWait::new(pid)).await.unwrap();
    assert_eq!(exit.signal, Some(15));

    let pid = osl.run(&alice(), ProcessSpawn::new("sh").args(["-c", "sleep 30"])).await.unwrap();
    osl.run(&alice(), ProcessKill::new(pid)).await.unwrap();
    let exit = osl.run(&alice(), ProcessWait::new(pid)).await.unwrap();
    assert_eq!(exit.signal, Some(9));
    assert!(!exit.timed_out);
}

/// Killing a process kills what it started in its group too (here a background `sleep`).
#[tokio::test]
async fn kill_reaches_the_whole_group() {
    let (_guard, dir) = tempdir();
    let (osl, _) = secured(shell_policy());
    let pid_file = dir.join("grandchild");
    let ready = dir.join("grandchild.ready");
    // The shell writes the background sleep's pid, then marks it written.
    let script =
        format!("sleep 30 & echo $! > '{}'; touch '{}'; wait", pid_file.display(), ready.display());
    let pid = osl.run(&alice(), ProcessSpawn::new("sh").args(["-c", &script])).await.unwrap();
    let started = Instant::now();
    while !ready.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "the shell never started its sleep");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let grandchild: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    osl.run(&alice(), ProcessKill::new(pid)).await.unwrap();
    let exit = osl.run(&alice(), ProcessWait::new(pid)).await.unwrap();
    assert_eq!(exit.signal, Some(9));
    // Gone, or a zombie waiting for init to reap it: the kill reached it, so this state comes
    // within moments; a sleep that survived would stay running for 30 s.
    let started = Instant::now();
    loop {
        let state = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        if state.is_empty() || state.contains(") Z ") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the background sleep survived: {state}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A child that writes more than a pipe holds does not block: output is drained while it
/// runs.
#[tokio::test]
async fn large_output_does_not_block() {
    let (osl, _) = secured(shell_policy());
    let spawn = ProcessSpawn::new("sh")
        .args(["-c", "i=0; while [ $i -lt 20000 ]; do echo 0123456789; i=$((i+1)); done"])
        .timeout(Duration::from_secs(20));
    let pid = osl.run(&alice(), spawn).await.unwrap();
    let exit = osl.run(&alice(), ProcessWait::new(pid)).await.unwrap();
    assert!(!exit.timed_out);
    assert_eq!(exit.stdout.len(), 20000 * 11);
}
