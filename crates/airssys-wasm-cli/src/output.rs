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

/// Print a result: `text` in text mode (unless it is empty), `json` in JSON mode.
pub fn emit(g: &Globals, text: &str, json: serde_json::Value) {
    match g.format {
        Format::Text => {
            if !text.is_empty() {
                println!("{text}");
            }
        }
        Format::Json => println!("{json}"),
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
            println!("{}", serde_json::json!({ "error": format!("{error:#}") }));
        }
    }
}
