//! airssys-osl figures: operations through the full pipeline (activity log to a file,
//! security with an ACL, audit log to a file) against the same raw tokio operation, in the
//! same run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_osl::ops::{FileRead, ProcessSpawn, ProcessWait};
use airssys_osl::{
    Action, ActivityLog, AuditLog, Osl, Principal, SecurityMiddleware, SecurityPolicy,
};
use tokio::runtime::Runtime;

use crate::Scale;
use crate::report::Figure;

struct Setup {
    _dir: tempfile::TempDir,
    file: PathBuf,
    osl: Arc<Osl>,
    who: Principal,
}

fn setup() -> anyhow::Result<Setup> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().canonicalize()?;
    let data = root.join("data");
    std::fs::create_dir(&data)?;
    let file = data.join("4k.bin");
    std::fs::write(&file, vec![7u8; 4096])?;
    let truth = airssys_osl::path::resolve_program("true")?;
    let policy = SecurityPolicy::new()
        .allow("bench", &[Action::FsRead], &format!("{}/**", data.display()))?
        .allow("bench", &[Action::ProcessSpawn], &truth.display().to_string())?
        .allow("bench", &[Action::ProcessControl], "*")?;
    let osl = Osl::builder()
        .middleware(ActivityLog::file(&root.join("activity.jsonl"))?)
        .middleware(SecurityMiddleware::new(
            Arc::new(policy),
            AuditLog::file(&root.join("audit.jsonl"))?,
        ))
        .build();
    Ok(Setup { _dir: dir, file, osl: Arc::new(osl), who: Principal::new("bench") })
}

/// Alternate samples of ours and the baseline; medians in ns per operation.
fn alternate<F, G>(
    rt: &Runtime,
    samples: usize,
    n: u64,
    ours: F,
    base: G,
) -> anyhow::Result<(f64, f64)>
where
    F: Fn(u64) -> tokio::task::JoinHandle<anyhow::Result<Duration>>,
    G: Fn(u64) -> tokio::task::JoinHandle<anyhow::Result<Duration>>,
{
    rt.block_on(ours(n / 10 + 1))??;
    rt.block_on(base(n / 10 + 1))??;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        a.push(rt.block_on(ours(n))??.as_nanos() as f64 / n as f64);
        b.push(rt.block_on(base(n))??.as_nanos() as f64 / n as f64);
    }
    Ok((crate::harness::median(a), crate::harness::median(b)))
}

/// A 4 KiB file read through the pipeline against `tokio::fs::read` of the same file.
pub fn file_read(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let s = setup()?;
    let n = if scale.samples < 20 { 2_000 } else { 10_000 };
    let (osl, who, file) = (Arc::clone(&s.osl), s.who.clone(), s.file.clone());
    let ours = |n: u64| {
        let (osl, who, file) = (Arc::clone(&osl), who.clone(), file.clone());
        rt.spawn(async move {
            let start = Instant::now();
            for _ in 0..n {
                let bytes = osl.run(&who, FileRead::new(&file)).await?;
                anyhow::ensure!(bytes.len() == 4096);
            }
            Ok(start.elapsed())
        })
    };
    let base = |n: u64| {
        let file = file.clone();
        rt.spawn(async move {
            let start = Instant::now();
            for _ in 0..n {
                let bytes = tokio::fs::read(&file).await?;
                anyhow::ensure!(bytes.len() == 4096);
            }
            Ok(start.elapsed())
        })
    };
    let (ours, base) = alternate(rt, scale.samples, n, ours, base)?;
    let allowed = base * 1.2 + 5_000.0;
    Ok(Figure {
        name: "osl.file_read_4k".into(),
        value: ours,
        unit: format!("ns/op (+{:.0} ns over raw)", ours - base),
        baseline: Some(crate::report::Baseline { name: "tokio::fs::read".into(), value: base }),
        ratio: Some(ours / base),
        target: "<= 1.2x raw + 5 us".into(),
        met: Some(ours <= allowed),
        peers: Vec::new(),
        note: None,
    })
}

/// Spawning `true` and waiting for it through the pipeline against tokio's `Command`.
pub fn spawn_true(rt: &Runtime, scale: Scale) -> anyhow::Result<Figure> {
    let s = setup()?;
    let n = if scale.samples < 20 { 100 } else { 300 };
    let truth = airssys_osl::path::resolve_program("true")?;
    let (osl, who) = (Arc::clone(&s.osl), s.who.clone());
    let ours = |n: u64| {
        let (osl, who) = (Arc::clone(&osl), who.clone());
        rt.spawn(async move {
            let start = Instant::now();
            for _ in 0..n {
                let pid = osl.run(&who, ProcessSpawn::new("true")).await?;
                let exit = osl.run(&who, ProcessWait::new(pid)).await?;
                anyhow::ensure!(exit.success());
            }
            Ok(start.elapsed())
        })
    };
    let base = |n: u64| {
        let truth = truth.clone();
        rt.spawn(async move {
            let start = Instant::now();
            for _ in 0..n {
                let out = tokio::process::Command::new(&truth)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await?;
                anyhow::ensure!(out.status.success());
            }
            Ok(start.elapsed())
        })
    };
    let (ours, base) = alternate(rt, scale.samples.min(7), n, ours, base)?;
    Ok(Figure {
        name: "osl.spawn_true".into(),
        value: ours,
        unit: format!("ns/op (+{:.0} ns over raw)", ours - base),
        baseline: Some(crate::report::Baseline {
            name: "tokio Command::output of true".into(),
            value: base,
        }),
        ratio: Some(ours / base),
        target: "<= 1.2x raw + 5 us".into(),
        met: Some(ours <= base * 1.2 + 5_000.0),
        peers: Vec::new(),
        note: None,
    })
}
