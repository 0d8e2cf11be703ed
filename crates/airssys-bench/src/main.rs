//! The AirsSys benchmark suite.
//!
//! `cargo run --release -p airssys-bench -- [--quick] [--json PATH] [FILTER]`
//!
//! Every figure is measured on the real path and printed next to a baseline measured in the
//! same run on the same machine, as a ratio (lower is better for both). Targets live here, not
//! in timed tests.

mod osl;
mod peers;
mod publish;
mod report;
mod rt;
mod scaling;
mod storage;
mod storm;
mod wasm;

use std::path::PathBuf;

use clap::Parser;

use crate::report::Figure;

/// Run the AirsSys benchmarks.
#[derive(Debug, Parser)]
#[command(name = "airssys-bench", about)]
struct Args {
    /// Fewer samples and smaller workloads (finishes in well under 5 minutes on 2 cores).
    #[arg(long)]
    quick: bool,
    /// Also write the figures as a JSON array to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write a Markdown report to this file.
    #[arg(long, value_name = "PATH")]
    markdown: Option<PathBuf>,
    /// Run only figures whose name contains this text (or one of these, comma-separated).
    filter: Option<String>,
    /// Internal: measure memory in a fresh child process (used by the memory figure).
    #[arg(long, hide = true, num_args = 2, value_names = ["KIND", "COUNT"])]
    memory_probe: Option<Vec<String>>,
}

/// How much work each figure does.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Samples per figure; the median is reported.
    pub samples: usize,
    /// Messages per throughput sample.
    pub messages: u64,
    /// Round trips / spawns per latency sample.
    pub round_trips: u64,
    /// Actors for the memory figure.
    pub idle_actors: usize,
}

impl Scale {
    fn new(quick: bool) -> Self {
        if quick {
            Scale { samples: 9, messages: 200_000, round_trips: 20_000, idle_actors: 100_000 }
        } else {
            Scale { samples: 31, messages: 1_000_000, round_trips: 100_000, idle_actors: 100_000 }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(probe) = &args.memory_probe {
        return rt::memory_probe(&probe[0], probe[1].parse()?);
    }
    let scale = Scale::new(args.quick);
    let filter = args.filter.clone().unwrap_or_default();
    let wanted = |name: &str| {
        filter.is_empty() || filter.split(',').any(|f| !f.is_empty() && name.contains(f))
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    let mut figures: Vec<Figure> = Vec::new();
    for suite in rt::SUITES {
        if !wanted(suite.name) {
            continue;
        }
        eprintln!("running {} ...", suite.name);
        let figure = (suite.run)(&runtime, scale)?;
        report::print_row(&figure);
        figures.push(figure);
    }
    for group in rt::GROUPS {
        if !wanted(group.name) {
            continue;
        }
        eprintln!("running {} ...", group.name);
        figures.extend((group.run)(&runtime, scale)?);
    }
    if figures.is_empty() {
        anyhow::bail!("no benchmark matches {filter:?}; names: {}", rt::names().join(", "));
    }
    report::print_table(&figures, args.quick);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&figures)?)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, report::markdown(&figures, args.quick))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
