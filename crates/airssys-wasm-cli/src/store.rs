//! The local component store (`airssys install`, `list`, `remove`): verified components
//! under `$AIRSSYS_HOME/components` (default `~/.local/share/airssys`), precompiled into
//! `$AIRSSYS_HOME/cache`, which a manifest uses with `[engine] cache_dir`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::Globals;
use crate::output::emit;

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The component file.
    file: PathBuf,
    /// The name to install it under (default: the file name without extension).
    #[arg(long)]
    name: Option<String>,
    /// Require its signature (`<file>.sig`) by one of these public keys (hex); repeatable.
    #[arg(long = "trusted", value_name = "HEX")]
    trusted: Vec<String>,
    /// Install it without checking a signature.
    #[arg(long, conflicts_with = "trusted")]
    allow_unsigned: bool,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The installed component's name.
    name: String,
}

/// The store's root.
pub fn home() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("AIRSSYS_HOME") {
        return Ok(PathBuf::from(home));
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME") {
        return Ok(PathBuf::from(data).join("airssys"));
    }
    let home = std::env::var_os("HOME").context("neither AIRSSYS_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/share/airssys"))
}

/// The artifact cache under `home`: `run`, `up`, `inspect` and `install` keep compiled
/// components there, so that a second start of the same component skips compilation.
pub fn cache_dir(home: &Path) -> PathBuf {
    home.join("cache")
}

/// The artifact cache `run`, `up` and `inspect` use by default, when it can be used. When it
/// cannot (no home directory, or one the cache's ownership checks refuse), a note says why
/// and the command compiles without a cache, as it would have before there was one.
pub fn default_cache(g: &Globals) -> Option<PathBuf> {
    let checked = home().and_then(|home| {
        let dir = cache_dir(&home);
        airssys_wasm::inspect::check_cache_dir(&dir)
            .with_context(|| format!("cannot use {} as the artifact cache", dir.display()))?;
        Ok(dir)
    });
    match checked {
        Ok(dir) => Some(dir),
        Err(e) => {
            crate::output::note(g, &format!("warning: compiling without a cache: {e:#}"));
            None
        }
    }
}

fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.')
}

pub fn install(args: InstallArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let bytes = crate::keys::read_component(&args.file)?;
    // The signature is checked against these bytes, and these bytes (with that signature)
    // are what is installed.
    let checked = if args.trusted.is_empty() {
        if !args.allow_unsigned {
            bail!(
                "pass --trusted KEY to check {}'s signature, or --allow-unsigned to install it \
                 unchecked",
                args.file.display()
            );
        }
        None
    } else {
        let trusted = crate::keys::parse_keys(&args.trusted)?;
        Some(crate::keys::check_bytes(&args.file, &bytes, &trusted)?)
    };
    let signer = checked.as_ref().map(|(key, _)| key.to_hex());
    let home = home()?;
    let report = airssys_wasm::inspect::inspect(&bytes, Some(&cache_dir(&home))).map_err(|e| {
        anyhow::Error::new(e)
            .context(format!("{} is not a WebAssembly component", args.file.display()))
    })?;
    if let Some(why) = report.misfit {
        bail!("{} does not fit the AirsSys contract: {why}", args.file.display());
    }
    let name = args.name.unwrap_or_else(|| {
        args.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    });
    if !valid(&name) {
        bail!("{name:?} is not a valid name: use letters, digits, '-', '_' and '.'");
    }
    let components = home.join("components");
    std::fs::create_dir_all(&components)
        .with_context(|| format!("cannot create {}", components.display()))?;
    let target = components.join(format!("{name}.wasm"));
    std::fs::write(&target, &bytes)
        .with_context(|| format!("cannot write {}", target.display()))?;
    let sig = components.join(format!("{name}.wasm.sig"));
    match &checked {
        Some((_, text)) => std::fs::write(&sig, text)?,
        // Installed unchecked: no signature is kept (an old one would claim too much).
        None => {
            let _ = std::fs::remove_file(&sig);
        }
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!("precompiling {name}"));
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    let compiled = airssys_wasm::inspect::precompile(&bytes, &cache_dir(&home));
    spinner.finish_and_clear();
    let compiled = compiled?;
    let text = format!(
        "installed {name} -> {}{}{}",
        target.display(),
        signer.as_ref().map(|s| format!(" (signed by {s})")).unwrap_or_default(),
        if compiled { ", precompiled" } else { ", already precompiled" }
    );
    emit(
        g,
        &text,
        serde_json::json!({ "installed": name, "path": target, "signer": signer, "sha256": report.sha256 }),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn list(g: &Globals) -> anyhow::Result<ExitCode> {
    let dir = home()?.join("components");
    let mut entries = Vec::new();
    if let Ok(read) = std::fs::read_dir(&dir) {
        for entry in read.flatten() {
            let path = entry.path();
            let Some(name) =
                path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".wasm"))
            else {
                continue;
            };
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            let signed = dir.join(format!("{name}.wasm.sig")).is_file();
            entries.push((name.to_owned(), size, signed, path));
        }
    }
    entries.sort();
    let mut text = format!("{:<32} {:>10} {:<6} PATH", "NAME", "BYTES", "SIGNED");
    for (name, size, signed, path) in &entries {
        text.push_str(&format!(
            "\n{name:<32} {size:>10} {:<6} {}",
            if *signed { "yes" } else { "no" },
            path.display()
        ));
    }
    let json: Vec<_> = entries
        .iter()
        .map(|(n, s, signed, p)| serde_json::json!({ "name": n, "bytes": s, "signed": signed, "path": p }))
        .collect();
    emit(g, &text, json.into());
    Ok(ExitCode::SUCCESS)
}

pub fn remove(args: RemoveArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    if !valid(&args.name) {
        bail!("{:?} is not a valid name", args.name);
    }
    let dir = home()?.join("components");
    let file = dir.join(format!("{}.wasm", args.name));
    if !file.is_file() {
        bail!("{} is not installed (see `airssys list`)", args.name);
    }
    std::fs::remove_file(&file)?;
    let _ = std::fs::remove_file(dir.join(format!("{}.wasm.sig", args.name)));
    emit(g, &format!("removed {}", args.name), serde_json::json!({ "removed": args.name }));
    Ok(ExitCode::SUCCESS)
}
