//! `airssys inspect`: what a component imports and exports, and whether it fits the AirsSys
//! contract. Exits 1 when it does not fit.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::Globals;
use crate::output::emit;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The component file (`.wasm`).
    file: PathBuf,
}

pub fn run(args: InspectArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    let bytes = crate::keys::read_component(&args.file)?;
    let cache = crate::store::default_cache(g);
    let report = airssys_wasm::inspect::inspect(&bytes, cache.as_deref()).map_err(|e| {
        anyhow::Error::new(e)
            .context(format!("{} is not a WebAssembly component", args.file.display()))
    })?;
    let mut text = format!(
        "{}\n  size: {} bytes\n  sha256: {}\nimports:\n",
        args.file.display(),
        report.size,
        report.sha256
    );
    for item in &report.imports {
        text.push_str(&format!("  {:<9} {}\n", item.kind, item.name));
    }
    text.push_str("exports:\n");
    for item in &report.exports {
        text.push_str(&format!("  {:<9} {}\n", item.kind, item.name));
    }
    match (&report.misfit, report.contract, report.world) {
        (None, Some(version), _) => {
            text.push_str(&format!("world: airssys:component@{version}\n"));
            text.push_str(&format!("fits the AirsSys contract: yes (airssys:component@{version})"))
        }
        (None, None, Some("wasi:http/proxy")) => text.push_str(
            "world: wasi:http/proxy (a standard HTTP handler: serve it with an [[http]] route, \
             or `airssys run FILE --listen ADDR`)",
        ),
        (None, None, Some("wasi:cli/command")) => text.push_str(
            "world: wasi:cli/command (a standard command: `airssys run FILE` runs it once)",
        ),
        (None, None, _) => text.push_str("fits the AirsSys contract: yes"),
        (Some(why), _, _) => {
            text.push_str("world: none this host runs\n");
            text.push_str(&format!("fits the AirsSys contract: no: {why}"))
        }
    }
    emit(g, &text, serde_json::to_value(&report)?);
    Ok(if report.misfit.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
