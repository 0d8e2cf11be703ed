//! The `airssys` command line. Its commands (`new`, `build`, `inspect`, `up`, `run`, `ps`,
//! ...) arrive with the CLI issue; today it only reports its version and what it cannot do yet.

use clap::Parser;

/// Run WebAssembly components as supervised, isolated actors.
#[derive(Debug, Parser)]
#[command(name = "airssys", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    eprintln!(
        "airssys: no commands are supported yet; this build has the actor runtime only \
         (see README.md, \"Status\")"
    );
    std::process::exit(1);
}
