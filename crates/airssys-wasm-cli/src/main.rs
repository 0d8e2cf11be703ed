//! The `airssys` command line: scaffold, build and inspect components; run apps (`up`, `run`)
//! and talk to a running one over its control socket (`ps`, `send`, `call`, `stop`,
//! `restart`, `store`, `audit`, `logs`); keep a local component store (`install`, `list`,
//! `remove`); sign and verify components (`keygen`, `sign`, `verify`).
//!
//! Exit codes: 0 success, 1 failure, 2 usage error. Every command takes `-o text|json`.
//! Only this crate prints to stdout.

#![allow(clippy::print_stdout, reason = "the command line reports on stdout")]

mod app;
mod compile;
mod control;
mod demo;
mod inspect;
mod keys;
mod logs;
mod new;
mod output;
mod progress;
mod socket_owner;
mod store;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use airssys_wasm_cli::payload;
use clap::{ArgAction, Parser, Subcommand};

use crate::output::Format;

/// Run WebAssembly components as supervised, isolated actors.
#[derive(Debug, Parser)]
#[command(name = "airssys", version, about, propagate_version = true)]
struct Cli {
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Text)]
    output: Format,
    /// Print only errors (and the results asked for).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Log more (-v debug, -vv trace).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    /// The running app to talk to, by its manifest (default: ./airssys.toml).
    #[arg(long, global = true, value_name = "MANIFEST")]
    app: Option<PathBuf>,
    /// The running app to talk to, by its control socket (overrides --app).
    #[arg(long, global = true, env = "AIRSSYS_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new component project (a Rust crate using the guest SDK) and its app manifest.
    New(new::NewArgs),
    /// Compile a component project to a WebAssembly component (wasm32-wasip2).
    Build(compile::BuildArgs),
    /// Show a component's imports and exports, and whether it fits the AirsSys contract.
    Inspect(inspect::InspectArgs),
    /// Run an app from its manifest in the foreground until Ctrl-C, then stop it gracefully.
    Up(app::UpArgs),
    /// Run an app like `up`, and when a source file of one of its component projects
    /// changes, rebuild it and upgrade the changed components in place (`up --watch`).
    Dev(app::UpArgs),
    /// Run one component file with grants given as flags (development mode).
    Run(app::RunArgs),
    /// List the running app's components: state, mailbox, restarts, messages handled.
    Ps,
    /// Send a message to a component of the running app (fire-and-forget).
    Send(control::MessageArgs),
    /// Call a component of the running app and print its response.
    Call(control::MessageArgs),
    /// Stop a component of the running app.
    Stop(control::NameArgs),
    /// Restart a component of the running app (fresh instances from its file).
    Restart(control::NameArgs),
    /// Replace a running component's code in place: its address, mailbox and queued
    /// messages stay; a new code that fails is rolled back.
    Upgrade(control::UpgradeArgs),
    /// Read and edit a component's durable storage in the running app.
    #[command(subcommand)]
    Store(control::StoreCommand),
    /// Show the running app's audit records, filtered.
    Audit(control::AuditArgs),
    /// Show the running app's recent logs (-f: keep following).
    Logs(control::LogsArgs),
    /// Verify and precompile a component into the local component store.
    Install(store::InstallArgs),
    /// List the components in the local component store.
    List,
    /// Remove a component from the local component store.
    Remove(store::RemoveArgs),
    /// Make an Ed25519 key pair for signing components.
    Keygen(keys::KeygenArgs),
    /// Sign a component (writes `<file>.sig`).
    Sign(keys::SignArgs),
    /// Verify a component's signature against trusted keys.
    Verify(keys::VerifyArgs),
    /// Tour the example apps: build them from source, run each, and show what happened.
    Demo(demo::DemoArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What every command gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Globals {
    pub format: Format,
    pub quiet: bool,
    pub verbose: u8,
    pub app: Option<PathBuf>,
    pub socket: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let globals = Globals {
        format: cli.output,
        quiet: cli.quiet,
        verbose: cli.verbose,
        app: cli.app,
        socket: cli.socket,
    };
    match run(cli.command, &globals) {
        Ok(code) => code,
        Err(error) => {
            output::error(&globals, &error);
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, g: &Globals) -> anyhow::Result<ExitCode> {
    match command {
        Command::New(args) => new::run(args, g),
        Command::Build(args) => compile::run(args, g),
        Command::Inspect(args) => inspect::run(args, g),
        Command::Up(args) => app::up(args, g),
        Command::Dev(args) => app::up(args.watching(), g),
        Command::Run(args) => app::run(args, g),
        Command::Ps => control::ps(g),
        Command::Send(args) => control::send(args, g),
        Command::Call(args) => control::call(args, g),
        Command::Stop(args) => control::stop(args, g),
        Command::Restart(args) => control::restart(args, g),
        Command::Upgrade(args) => control::upgrade(args, g),
        Command::Store(command) => control::store(command, g),
        Command::Audit(args) => control::audit(args, g),
        Command::Logs(args) => control::logs(args, g),
        Command::Install(args) => store::install(args, g),
        Command::List => store::list(g),
        Command::Remove(args) => store::remove(args, g),
        Command::Keygen(args) => keys::keygen(args, g),
        Command::Sign(args) => keys::sign(args, g),
        Command::Verify(args) => keys::verify(args, g),
        Command::Demo(args) => demo::run(args, g),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "airssys", &mut script);
            output::out(&String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
    }
}
