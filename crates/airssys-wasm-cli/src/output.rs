//! How results and errors are printed: text for people, JSON (`-o json`) for programs.

use crate::Globals;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Write to stdout. A reader that went away (`airssys logs -f | head`) ends the program
/// quietly, as it would a shell tool.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Print a result: `text` in text mode (unless it is empty), `json` in JSON mode.
pub fn emit(g: &Globals, text: &str, json: serde_json::Value) {
    match g.format {
        Format::Text => {
            if !text.is_empty() {
                out(&format!("{text}\n"));
            }
        }
        Format::Json => out(&format!("{json}\n")),
    }
}

/// A progress note on stderr (not in quiet mode).
pub fn note(g: &Globals, text: &str) {
    if !g.quiet {
        eprintln!("{text}");
    }
}

/// Print an error: `error: ...` with its causes on stderr, or a JSON object in JSON mode.
pub fn error(g: &Globals, error: &anyhow::Error) {
    match g.format {
        Format::Text => eprintln!("error: {error:#}"),
        Format::Json => {
            out(&format!("{}\n", serde_json::json!({ "error": format!("{error:#}") })));
        }
    }
}
