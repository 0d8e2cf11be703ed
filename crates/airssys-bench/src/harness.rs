//! What every figure is measured with: timing pairs, medians and percentiles, RSS, and
//! memory probes run in fresh child processes.

use std::time::Duration;

use anyhow::Context as _;
use tokio::runtime::Runtime;

use crate::Scale;
use crate::report::Figure;

/// One figure and how to produce it.
pub struct Suite {
    pub name: &'static str,
    pub run: fn(&Runtime, Scale) -> anyhow::Result<Figure>,
}

/// Several figures produced by one run (a cost measured at several sizes).
pub struct Group {
    pub name: &'static str,
    pub run: fn(&Runtime, Scale) -> anyhow::Result<Vec<Figure>>,
}

/// The median of `v` (not empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The `p` quantile of `v` (not empty), `p` in 0..=1.
pub fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Run `sample` `samples` times alternating with `baseline`, so that both see the same machine
/// conditions; return the medians in ns per operation.
pub fn paired(
    rt: &Runtime,
    scale: Scale,
    ops: u64,
    sample: impl Fn(u64) -> tokio::task::JoinHandle<Duration>,
    baseline: impl Fn(u64) -> tokio::task::JoinHandle<Duration>,
) -> anyhow::Result<(f64, f64)> {
    // Warm up both paths once.
    rt.block_on(sample(ops / 10 + 1))?;
    rt.block_on(baseline(ops / 10 + 1))?;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..scale.samples {
        ours.push(rt.block_on(sample(ops))?.as_nanos() as f64 / ops as f64);
        base.push(rt.block_on(baseline(ops))?.as_nanos() as f64 / ops as f64);
    }
    Ok((median(ours), median(base)))
}

// ----- memory ------------------------------------------------------------------------------

/// This process's resident set, in bytes.
pub fn rss_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").context("reading /proc/self/statm")?;
    let pages: u64 =
        statm.split_whitespace().nth(1).context("malformed /proc/self/statm")?.parse()?;
    Ok(pages * 4096)
}

/// Runs in a child process (`--memory-probe KIND COUNT`): keep `count` idle things of `kind`
/// live and print the RSS growth per thing, in bytes, on stdout.
pub fn memory_probe(kind: &str, count: usize) -> anyhow::Result<()> {
    if kind == "density" {
        let figures = crate::density::live_probe(count)?;
        let line: Vec<String> = figures.iter().map(f64::to_string).collect();
        #[allow(clippy::print_stdout, reason = "the probe reports to its parent on stdout")]
        {
            println!("{}", line.join(" "));
        }
        return Ok(());
    }
    let per = if kind.starts_with("wasm") {
        crate::wasm::memory_probe(kind, count)?
    } else if kind.starts_with("language-") {
        crate::languages::memory_probe(kind, count)?
    } else {
        crate::rt::idle_probe(kind, count)?
    };
    #[allow(clippy::print_stdout, reason = "the probe reports to its parent on stdout")]
    {
        println!("{per}");
    }
    Ok(())
}

/// RSS growth per thing of `kind`, measured by [`memory_probe`] in a fresh child process.
pub fn probe(kind: &str, count: usize) -> anyhow::Result<f64> {
    probe_all(kind, count)?.first().copied().context("the memory probe printed nothing")
}

/// Every figure a probe of `kind` printed on its line.
pub fn probe_all(kind: &str, count: usize) -> anyhow::Result<Vec<f64>> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["--memory-probe", kind, &count.to_string()])
        .output()
        .context("starting the memory probe")?;
    anyhow::ensure!(
        out.status.success(),
        "memory probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout)?;
    Ok(line.split_whitespace().map(str::parse).collect::<Result<_, _>>()?)
}

/// How long to let a probe's tasks run once and park.
pub const SETTLE: Duration = Duration::from_millis(300);
