//! `airssys up`'s progress while a large app starts: how many instances have run their
//! first `init`, of all it starts, on stderr.
//!
//! On a terminal the count is redrawn in place; with `--progress` (for logs and pipes) it
//! is a line each time. Either way it shows only once the start has taken a moment (a small
//! app starts without it), and ends with how many started (all, unless the start failed) and how long it took. Nothing is
//! shown in quiet mode.

use std::future::Future;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_wasm::StartProgress;

use crate::Globals;

/// How long a start runs before its progress shows, and how often it is redrawn.
const FIRST: Duration = Duration::from_millis(500);
const EVERY: Duration = Duration::from_millis(250);

/// Run `start` (which counts in `progress`), showing its progress on stderr: on a terminal,
/// or always when `forced`.
pub async fn shown_while<T>(
    g: &Globals,
    progress: &Arc<StartProgress>,
    forced: bool,
    start: impl Future<Output = T>,
) -> T {
    let terminal = std::io::stderr().is_terminal();
    if g.quiet || !(terminal || forced) {
        return start.await;
    }
    let began = Instant::now();
    let mut shown = false;
    tokio::pin!(start);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + FIRST, EVERY);
    let outcome = loop {
        tokio::select! {
            outcome = &mut start => break outcome,
            _ = ticks.tick() => {
                let (done, total) = (progress.done(), progress.total());
                if total > 0 {
                    show(terminal, &format!("starting: {done}/{total} instances"));
                    shown = true;
                }
            }
        }
    };
    if shown {
        let (done, total) = (progress.done(), progress.total());
        let took = began.elapsed().as_secs_f64();
        show(terminal, &format!("{done}/{total} instances started, in {took:.1} s"));
        if terminal {
            eprintln!();
        }
    }
    outcome
}

/// One progress line: redrawn in place on a terminal, a line of its own otherwise.
fn show(terminal: bool, text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = if terminal { write!(err, "\r\x1b[2K{text}") } else { writeln!(err, "{text}") };
    let _ = err.flush();
}
