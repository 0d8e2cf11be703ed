//! An allowed and a denied operation through the full pipeline, with the audit lines they
//! left: `cargo run -p airssys-osl --example audited`.

#![allow(clippy::print_stdout, reason = "an example prints what happens")]

use std::sync::Arc;

use airssys_osl::ops::{FileRead, ProcessSpawn, ProcessWait};
use airssys_osl::{
    Action, ActivityLog, AuditLog, Osl, Principal, Rbac, SecurityMiddleware, SecurityPolicy,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().canonicalize()?;
    let reports = root.join("reports");
    std::fs::create_dir(&reports)?;
    std::fs::write(reports.join("q3.txt"), "revenue: up")?;
    std::fs::write(root.join("payroll.txt"), "confidential")?;

    // Alice may read the reports directory; "analyst" role members may run `echo`; nobody
    // may read anything ending in `.key`, whatever else says.
    let echo = airssys_osl::path::resolve_program("echo")?;
    let rbac = Rbac::builder()
        .role("analyst", &[(&[Action::ProcessSpawn], &echo.display().to_string())], &[])
        .assign("alice", "analyst")
        .build()?;
    let policy = SecurityPolicy::new()
        .allow("alice", &[Action::FsRead], &format!("{}/**", reports.display()))?
        .allow("*", &[Action::ProcessControl], "*")?
        .deny("*", &[], "**/*.key")?
        .rbac(rbac);
    let audit_path = root.join("audit.jsonl");
    let osl = Osl::builder()
        .middleware(ActivityLog::console())
        .middleware(SecurityMiddleware::new(Arc::new(policy), AuditLog::file(&audit_path)?))
        .build();
    let alice = Principal::new("alice");

    println!("1. alice reads reports/q3.txt (allowed by an ACL entry)");
    let text = osl.run(&alice, FileRead::new(reports.join("q3.txt"))).await?;
    println!("   -> {:?}", String::from_utf8_lossy(&text));

    println!("2. alice reads reports/../payroll.txt (the canonical path is outside reports/)");
    match osl.run(&alice, FileRead::new(reports.join("../payroll.txt"))).await {
        Ok(_) => println!("   -> read?! (this would be a bug)"),
        Err(e) => println!("   -> refused: {e}"),
    }

    println!("3. alice runs `echo hi` (allowed through her role)");
    let pid = osl.run(&alice, ProcessSpawn::new("echo").args(["hi"])).await?;
    let exit = osl.run(&alice, ProcessWait::new(pid)).await?;
    println!("   -> exit {:?}, stdout {:?}", exit.code, String::from_utf8_lossy(&exit.stdout));

    println!("\nThe audit log ({}):", audit_path.display());
    for line in std::fs::read_to_string(&audit_path)?.lines() {
        println!("   {line}");
    }
    Ok(())
}
