//! The AirsSys benchmark suite.
//!
//! `cargo run --release -p airssys-bench -- [--quick] [--json PATH] [FILTER]`
//!
//! Every figure is measured on the real path and printed next to a baseline measured in the
//! same run on the same machine, as a ratio (lower is better for both). Targets live here, not
//! in timed tests.

mod cluster;
mod density;
mod harness;
mod http;
mod languages;
mod observer;
mod osl;
mod peers;
mod publish;
mod report;
mod rt;
mod scaling;
mod storage;
mod storm;
mod upgrade;
mod wasm;

use std::path::PathBuf;

use clap::Parser;

use crate::harness::{Group, Suite};
use crate::report::Figure;

/// Every single figure, in the order they run.
const SUITES: &[Suite] = &[
    Suite { name: "rt.tell_throughput", run: rt::tell_throughput },
    Suite { name: "rt.ask_round_trip", run: rt::ask_round_trip },
    Suite { name: "rt.spawn_first_message_stop", run: rt::spawn_first_stop },
    Suite { name: "rt.fan_in_8_senders", run: rt::fan_in },
    Suite { name: "rt.churn_stop_start_100k", run: rt::churn },
    Suite { name: "rt.idle_actor_memory_100k", run: rt::idle_memory },
    Suite { name: "peers.tell_throughput", run: peers::tell_throughput },
    Suite { name: "peers.ask_round_trip", run: peers::ask_round_trip },
    Suite { name: "peers.spawn_ask_stop", run: peers::spawn_ask_stop },
    Suite { name: "wasm.host_to_component_send", run: wasm::host_to_component },
    Suite { name: "wasm.component_to_component_send", run: wasm::component_to_component },
    Suite { name: "wasm.call_round_trip_p50", run: wasm::call_round_trip },
    Suite { name: "wasm.request_callback_p50", run: wasm::request_callback },
    Suite { name: "wasm.spawn_p50", run: wasm::spawn },
    Suite { name: "wasm.restart_p50", run: wasm::restart },
    Suite { name: "wasm.operator_restart_p50", run: wasm::operator_restart },
    Suite { name: "wasm.idle_component_rss_10k", run: wasm::idle_memory },
    Suite { name: "wasm.send_security_overhead", run: wasm::security_overhead },
    Suite { name: "wasm.observer_overhead", run: observer::overhead },
    Suite { name: "wasm.storage_get", run: storage::guest_get },
    Suite { name: "wasm.storage_set", run: storage::guest_set },
    Suite { name: "wasm.storage_writes_1_component", run: storage::writes_1 },
    Suite { name: "wasm.storage_writes_8_components", run: storage::writes_8 },
    Suite { name: "osl.file_read_4k", run: osl::file_read },
    Suite { name: "osl.spawn_true", run: osl::spawn_true },
];

/// Figures measured together, at several sizes.
const GROUPS: &[Group] = &[
    Group { name: "rt.restart_storm", run: storm::restart_storm },
    Group { name: "wasm.scale_components", run: scaling::components },
    Group { name: "wasm.memory_layout", run: density::figures },
    Group { name: "wasm.live_100k", run: density::live },
    Group { name: "wasm.payload_sizes", run: scaling::payloads },
    Group { name: "wasm.epoch_preemption", run: scaling::preemption },
    Group { name: "wasm.publish_fan_out", run: publish::fan_out },
    Group { name: "wasm.upgrade", run: upgrade::figures },
    Group { name: "wasm.http", run: http::figures },
    Group { name: "wasm.language", run: languages::figures },
    Group { name: "cluster", run: cluster::figures },
];

/// Every figure's (or group's) name, for the error when a filter matches none.
fn names() -> Vec<&'static str> {
    SUITES.iter().map(|s| s.name).chain(GROUPS.iter().map(|g| g.name)).collect()
}

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
        return harness::memory_probe(&probe[0], probe[1].parse()?);
    }
    let scale = Scale::new(args.quick);
    let filter = args.filter.clone().unwrap_or_default();
    let wanted = |name: &str| {
        filter.is_empty() || filter.split(',').any(|f| !f.is_empty() && name.contains(f))
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    let mut figures: Vec<Figure> = Vec::new();
    for suite in SUITES {
        if !wanted(suite.name) {
            continue;
        }
        eprintln!("running {} ...", suite.name);
        let figure = (suite.run)(&runtime, scale)?;
        report::print_row(&figure);
        figures.push(figure);
    }
    for group in GROUPS {
        if !wanted(group.name) {
            continue;
        }
        eprintln!("running {} ...", group.name);
        figures.extend((group.run)(&runtime, scale)?);
    }
    if figures.is_empty() {
        anyhow::bail!("no benchmark matches {filter:?}; names: {}", names().join(", "));
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
