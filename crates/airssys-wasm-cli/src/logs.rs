//! Logs of a running app: printed to stderr in a readable form, and kept (the last 2000
//! lines) for `airssys logs`, which can also follow new lines.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use airssys_osl::Escaped;
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

const KEEP: usize = 2000;

/// The recent log lines, and a channel of new ones.
#[derive(Debug)]
pub struct LogBuffer {
    lines: Mutex<VecDeque<String>>,
    new: broadcast::Sender<String>,
}

impl LogBuffer {
    fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == KEEP {
            lines.pop_front();
        }
        lines.push_back(line.clone());
        let _ = self.new.send(line);
    }

    /// The last `n` lines.
    pub fn recent(&self, n: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().skip(lines.len().saturating_sub(n)).cloned().collect()
    }

    /// New lines from now on.
    pub fn follow(&self) -> broadcast::Receiver<String> {
        self.new.subscribe()
    }
}

#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

/// Every value is escaped (`airssys_osl::Escaped`): a kept line is one line, whatever text
/// a guest put in a message or a field.
impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        let value = Escaped(value);
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}");
        let value = Escaped(&value);
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

struct Capture(Arc<LogBuffer>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        let meta = event.metadata();
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.0.push(format!(
            "{secs:.3} {:>5} {}: {}{}",
            meta.level(),
            meta.target(),
            line.message,
            line.fields
        ));
    }
}

/// Install the app's logging: readable lines on stderr (`-q`: warnings, errors and audit
/// records only, since audit records must reach a subscriber;
/// `-v`: debug; `-vv`: trace; `RUST_LOG` overrides), and the buffer `airssys logs` reads.
pub fn install(quiet: bool, verbose: u8) -> Arc<LogBuffer> {
    let buffer =
        Arc::new(LogBuffer { lines: Mutex::new(VecDeque::new()), new: broadcast::channel(1024).0 });
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{level},cranelift=warn,wasmtime=warn,airssys_osl::audit=info"
        ))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false))
        .with(Capture(Arc::clone(&buffer)))
        .try_init();
    buffer
}
