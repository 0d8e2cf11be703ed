//! `airssys build`: compile a component project to a WebAssembly component: a Rust project
//! with cargo for `wasm32-wasip2`, a Python one with componentize-py, a JavaScript one with
//! componentize-js. Nothing is installed silently: a missing toolchain is an error that says
//! how to install it.

use std::io::BufRead;
use std::path::{Path, PathBuf};
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

/// Whether `dir` is a component project `airssys build` builds.
pub fn is_project(dir: &Path) -> bool {
    ["Cargo.toml", "app.py", "app.js"].iter().any(|f| dir.join(f).is_file())
}

/// Build the component project in `dir` (Rust, Python or JavaScript); the files made.
pub fn build_project(dir: &Path, debug: bool, quiet: bool) -> anyhow::Result<Vec<PathBuf>> {
    build_project_into(dir, &dir.join("target"), debug, quiet)
}

/// [`build_project`], a Rust project's build going into `target_dir` (a workspace member's
/// into its workspace's `target/`).
pub fn build_project_into(
    dir: &Path,
    target_dir: &Path,
    debug: bool,
    quiet: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    Ok(if dir.join("Cargo.toml").is_file() {
        build_into(dir, target_dir, !debug, quiet)?
    } else if dir.join("app.py").is_file() {
        vec![build_python(dir, quiet)?]
    } else if dir.join("app.js").is_file() {
        vec![build_js(dir, debug, quiet)?]
    } else {
        bail!(
            "{} is not a component project (no Cargo.toml, app.py or app.js): `airssys new \
             NAME [--lang rust|python|js]` makes one",
            dir.display()
        );
    })
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
    let artifacts = build_project(&dir, args.debug, g.quiet)?;
    let text = artifacts.iter().map(|a| format!("built {}", a.display())).collect::<Vec<_>>();
    emit(g, &text.join("\n"), serde_json::json!({ "built": artifacts }));
    Ok(ExitCode::SUCCESS)
}

/// Whether `program` runs (answers `--version`).
fn runs(program: &std::ffi::OsStr) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Run a toolchain's build in `dir`, its output shown unless `quiet`.
fn run_tool(mut command: Command, dir: &Path, what: &str, quiet: bool) -> anyhow::Result<PathBuf> {
    let output = dir.join(crate::new::FOREIGN_OUTPUT);
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    command.current_dir(dir).stdin(Stdio::null());
    if quiet {
        command.stdout(Stdio::null()).stderr(Stdio::null());
    } else {
        // Only the CLI's own report goes to stdout.
        command.stdout(Stdio::from(std::io::stderr()));
    }
    let status = command.status().with_context(|| format!("cannot run {what}"))?;
    if !status.success() || !output.is_file() {
        if quiet {
            bail!("{what} failed (run without -q to see its output)");
        }
        bail!("{what} failed (its errors are above)");
    }
    Ok(output)
}

/// Build a Python project (`app.py`, `airssys.py`, `wit/`) with componentize-py, found as
/// `$COMPONENTIZE_PY`, in the project's `.venv`, or on PATH.
fn build_python(dir: &Path, quiet: bool) -> anyhow::Result<PathBuf> {
    let version = crate::new::COMPONENTIZE_PY;
    // The build runs in `dir`: a tool named by a relative path must not be looked up there.
    let dir = &std::path::absolute(dir)?;
    let from_env = std::env::var_os("COMPONENTIZE_PY").map(|tool| {
        let named = Path::new(&tool);
        if named.components().count() > 1 {
            std::path::absolute(named).map(Into::into).unwrap_or(tool)
        } else {
            tool
        }
    });
    let candidates = [
        from_env,
        Some(dir.join(".venv/bin/componentize-py").into_os_string()),
        Some("componentize-py".into()),
    ];
    let Some(tool) = candidates.into_iter().flatten().find(|c| runs(c)) else {
        bail!(
            "componentize-py is not installed; install it with: pip install \
             componentize-py=={version} (or set COMPONENTIZE_PY to its path)"
        );
    };
    componentize_py(&tool, dir, quiet)
}

/// Build the Python project in `dir` with the componentize-py at `tool`.
pub fn componentize_py(tool: &std::ffi::OsStr, dir: &Path, quiet: bool) -> anyhow::Result<PathBuf> {
    let mut command = Command::new(tool);
    command.args(["-d", "wit", "-w", "component", "componentize", "app", "-p", "."]);
    command.args(["-o", crate::new::FOREIGN_OUTPUT]);
    run_tool(command, dir, "componentize-py", quiet)
}

/// Build a JavaScript project (`app.js`, `airssys.js`, `build.mjs`, `wit/`) with
/// componentize-js, installed in the project by `npm install`.
pub fn build_js(dir: &Path, debug: bool, quiet: bool) -> anyhow::Result<PathBuf> {
    let dir = &std::path::absolute(dir)?;
    if !runs("node".as_ref()) {
        bail!("node is not installed: JavaScript components are built with node 18 or later");
    }
    if !dir.join("node_modules/@bytecodealliance/componentize-js").is_dir() {
        bail!(
            "componentize-js is not installed in {}: run `npm install` there (it installs what \
             package.json pins)",
            dir.display()
        );
    }
    let mut command = Command::new("node");
    command.args(["build.mjs", "app.js", "wit", crate::new::FOREIGN_OUTPUT]);
    if debug {
        command.arg("--debug");
    }
    run_tool(command, dir, "componentize-js", quiet)
}

/// Build the project (or workspace) in `dir` into its own `target/`; the `.wasm` files made.
pub fn build(dir: &Path, release: bool, quiet: bool) -> anyhow::Result<Vec<PathBuf>> {
    build_into(dir, &dir.join("target"), release, quiet)
}

/// Build the crate (or workspace) in `dir` into `target_dir` (a workspace member into its
/// workspace's `target/`); the `.wasm` files made.
pub fn build_into(
    dir: &Path,
    target_dir: &Path,
    release: bool,
    quiet: bool,
) -> anyhow::Result<Vec<PathBuf>> {
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
        .arg(target_dir)
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
