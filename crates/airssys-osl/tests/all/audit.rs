//! The audit log: a record for every decision, allowed or denied, under load too; a log
//! that cannot be written fails the operation instead of losing the record.

use std::sync::Arc;

use airssys_osl::ops::*;
use airssys_osl::{
    Action, ActivityLog, AuditLog, Osl, OslError, Principal, SecurityMiddleware, SecurityPolicy,
};

use crate::util::*;

/// Many concurrent operations, half allowed and half denied: the JSON-lines audit file has
/// exactly one well-formed record per decision, with the right decision and rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_is_recorded_under_load() {
    let (_guard, dir) = tempdir();
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f"), "x").unwrap();
    let audit_path = dir.join("audit.jsonl");
    let policy = SecurityPolicy::new().allow("good", &[Action::FsRead], &under(&data)).unwrap();
    let osl = Arc::new(
        Osl::builder()
            .middleware(SecurityMiddleware::new(
                Arc::new(policy),
                AuditLog::file(&audit_path).unwrap(),
            ))
            .build(),
    );
    let mut tasks = Vec::new();
    for i in 0..400 {
        let osl = Arc::clone(&osl);
        let file = data.join("f");
        tasks.push(tokio::spawn(async move {
            let who = Principal::new(if i % 2 == 0 { "good" } else { "evil" });
            osl.run(&who, FileRead::new(file)).await.is_ok()
        }));
    }
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.unwrap());
    }
    assert_eq!(allowed, 200);
    let text = std::fs::read_to_string(&audit_path).unwrap();
    let records: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("a whole JSON line")).collect();
    assert_eq!(records.len(), 400);
    let allow = records.iter().filter(|r| r["decision"] == "allow").count();
    assert_eq!(allow, 200);
    for r in &records {
        let good = r["principal"] == "good";
        assert_eq!(r["decision"] == "allow", good, "{r}");
        assert_eq!(r["action"], "fs-read");
        assert_eq!(r["operation"], "file-read");
        assert!(r["rule"].as_str().unwrap().starts_with(if good {
            "acl[0] allow"
        } else {
            "default deny"
        }));
    }
    let mut ids: Vec<u64> = records.iter().map(|r| r["op_id"].as_u64().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 400, "each run has its own id");
}

/// An audit log that cannot be written (a full device) refuses the operation: nothing runs
/// unaudited.
#[tokio::test]
async fn unwritable_audit_log_fails_the_operation() {
    let (_guard, dir) = tempdir();
    let policy = SecurityPolicy::new().allow("alice", &[], &under(&dir)).unwrap();
    let osl = Osl::builder()
        .middleware(SecurityMiddleware::new(
            Arc::new(policy),
            AuditLog::file(std::path::Path::new("/dev/full")).unwrap(),
        ))
        .build();
    let target = dir.join("should-not-exist");
    let error = osl.run(&alice(), FileWrite::new(&target, "x")).await.unwrap_err();
    assert!(matches!(error, OslError::AuditUnavailable(_)), "{error}");
    assert!(!target.exists());
}

/// The tracing sink refuses to record when no subscriber keeps its events: the operation
/// fails rather than run unaudited.
#[tokio::test(flavor = "current_thread")]
async fn tracing_audit_without_a_subscriber_fails_the_operation() {
    let (_guard, dir) = tempdir();
    std::fs::write(dir.join("f"), "x").unwrap();
    let policy = Arc::new(SecurityPolicy::new().allow("alice", &[], &under(&dir)).unwrap());
    let osl = Osl::builder()
        .middleware(SecurityMiddleware::new(Arc::clone(&policy), AuditLog::tracing()))
        .build();
    let quiet = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
    let error = osl.run(&alice(), FileRead::new(dir.join("f"))).await.unwrap_err();
    assert!(matches!(error, OslError::AuditUnavailable(_)), "{error}");
    drop(quiet);
    let _recording = tracing::subscriber::set_default(
        tracing_subscriber::fmt().with_writer(std::io::sink).finish(),
    );
    let read = airssys_osl::helpers::read_file(&policy, &alice(), dir.join("f")).await.unwrap();
    assert_eq!(read, b"x");
}

/// The activity log records each run with its outcome, refusals included, as JSON lines.
#[tokio::test]
async fn activity_log_records_runs_and_refusals() {
    let (_guard, dir) = tempdir();
    let log_path = dir.join("activity.jsonl");
    std::fs::write(dir.join("f"), "x").unwrap();
    let policy = SecurityPolicy::new().allow("alice", &[Action::FsRead], &under(&dir)).unwrap();
    let osl = Osl::builder()
        .middleware(ActivityLog::file(&log_path).unwrap())
        .middleware(SecurityMiddleware::new(Arc::new(policy), AuditLog::memory()))
        .build();
    osl.run(&alice(), FileRead::new(dir.join("f"))).await.unwrap();
    osl.run(&bob(), FileRead::new(dir.join("f"))).await.unwrap_err();
    osl.run(&alice(), FileRead::new(dir.join("missing"))).await.unwrap_err();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["outcome"], "ok");
    assert_eq!(lines[0]["resources"], dir.join("f").display().to_string());
    assert_eq!(lines[1]["outcome"], "error");
    assert!(lines[1]["error"].as_str().unwrap().contains("bob may not fs-read"));
    assert_eq!(lines[2]["outcome"], "error");
}
