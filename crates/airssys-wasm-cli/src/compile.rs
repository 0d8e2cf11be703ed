//! `airssys build`: compile a component project to a WebAssembly component with cargo, for
//! `wasm32-wasip2`. Nothing is installed silently: a missing target is an error that says how
//! to add it.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};

use crate::Globals;
use crate::output::emit;

pub const TARGET: &str = "wasm32-wasip2";

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The project directory (default: the current one).
    path: Option<PathBuf>,
    /// Build without optimisations (faster to compile, slower to run).
    #[arg(long)]
    debug: bool,
}

/// Fail unless the Rust `wasm32-wasip2` target is installed.
pub fn check_target() -> anyhow::Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .stderr(Stdio::null())
        .output()
        .context("cannot run rustc: install Rust from https://rustup.rs")?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() || !libdir.is_dir() {
        bail!("the Rust target {TARGET} is not installed; add it with: rustup target add {TARGET}");
    }
    Ok(())
}

pub fn run(args: BuildArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let dir = args.path.unwrap_or_else(|| PathBuf::from("."));
    let artifacts = build(&dir, !args.debug, g.quiet)?;
    let text = artifacts.iter().map(|a| format!("built {}", a.display())).collect::<Vec<_>>();
    emit(g, &text.join("\n"), serde_json::json!({ "built": artifacts }));
    Ok(ExitCode::SUCCESS)
}

/// Build the project (or workspace) in `dir` into its own `target/`; the `.wasm` files made.
pub fn build(dir: &std::path::Path, release: bool, quiet: bool) -> anyhow::Result<Vec<PathBuf>> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "no Cargo.toml in {}: run `airssys build` in a component project (`airssys new NAME` \
             makes one)",
            dir.display()
        );
    }
    check_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--target", TARGET, "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest)
        // Always the project's own target/ (what its manifest's `source` points into), even
        // when CARGO_TARGET_DIR says otherwise.
        .arg("--target-dir")
        .arg(dir.join("target"))
        .stdout(Stdio::piped())
        .stderr(if quiet { Stdio::null() } else { Stdio::inherit() });
    if release {
        command.arg("--release");
    }
    // Flags for the host build must not reach the guest build.
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET"] {
        command.env_remove(var);
    }
    let mut child = command.spawn().context("cannot run cargo")?;
    let mut artifacts = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if message["reason"] != "compiler-artifact" {
                continue;
            }
            for file in message["filenames"].as_array().into_iter().flatten() {
                if let Some(file) = file.as_str().filter(|f| f.ends_with(".wasm")) {
                    artifacts.push(PathBuf::from(file));
                }
            }
        }
    }
    let status = child.wait().context("cargo did not finish")?;
    if !status.success() {
        bail!("cargo build failed (its errors are above)");
    }
    if artifacts.is_empty() {
        bail!(
            "the build produced no .wasm file: is the crate a cdylib (`crate-type = [\"cdylib\"]`)?"
        );
    }
    Ok(artifacts)
}
