//! Guest stdout and stderr, routed into the host's logs line by line, tagged with the
//! component's address, within the component's output budget.
//!
//! A guest can write as fast as it likes; the host's logs (and whatever reads them) cannot.
//! Each component has one [`OutputBudget`] for its stdout, its stderr and its `logging`
//! calls: two token buckets, lines and bytes per second, with bursts. A line over the budget
//! is dropped and counted; the next line that is kept is preceded by a warning saying how
//! many were dropped, and the total is in `ComponentInfo::output_dropped`.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line kept; a longer one is logged in pieces of this size.
const MAX_LINE: usize = 4096;

/// How much output (stdout, stderr and `logging` together) a component may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    /// Lines per second, on average.
    pub lines_per_second: u32,
    /// Lines that may go at once.
    pub burst_lines: u32,
    /// Bytes per second, on average.
    pub bytes_per_second: u64,
    /// Bytes that may go at once.
    pub burst_bytes: u64,
}

impl Default for OutputLimit {
    /// 200 lines and 256 KiB a second, bursts of 2000 lines and 2 MiB.
    fn default() -> Self {
        OutputLimit {
            lines_per_second: 200,
            burst_lines: 2000,
            bytes_per_second: 256 << 10,
            burst_bytes: 2 << 20,
        }
    }
}

struct Buckets {
    lines: f64,
    bytes: f64,
    last: Instant,
    /// Lines dropped since the last one kept.
    dropped: u64,
}

/// A component's output budget, shared by its streams and its instances (a restart does
/// not refill it).
pub(crate) struct OutputBudget {
    limit: OutputLimit,
    buckets: Mutex<Buckets>,
    /// Lines dropped in all.
    dropped_total: AtomicU64,
    /// The last lines written, oldest first (for a live observer).
    recent: Mutex<std::collections::VecDeque<String>>,
}

/// How many of its last lines a component's output keeps for an observer, and how long
/// each may be.
const RECENT_LINES: usize = 20;
const RECENT_LINE_BYTES: usize = 512;

impl OutputBudget {
    pub(crate) fn new(limit: OutputLimit) -> Self {
        OutputBudget {
            limit,
            buckets: Mutex::new(Buckets {
                lines: f64::from(limit.burst_lines),
                bytes: limit.burst_bytes as f64,
                last: Instant::now(),
                dropped: 0,
            }),
            dropped_total: AtomicU64::new(0),
            recent: Mutex::default(),
        }
    }

    /// Keep `line` (written) among the last lines, cut to a bounded length.
    pub(crate) fn keep(&self, stream: &str, line: &str) {
        let end = line.floor_char_boundary(RECENT_LINE_BYTES);
        let mut recent = crate::sync::lock(&self.recent);
        if recent.len() == RECENT_LINES {
            recent.pop_front();
        }
        recent.push_back(format!("{stream}: {}", &line[..end]));
    }

    /// The last lines written, oldest first, each with its stream (`stdout: ...`).
    pub(crate) fn recent(&self) -> Vec<String> {
        crate::sync::lock(&self.recent).iter().cloned().collect()
    }

    /// Lines dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// Take a line of `len` bytes from the budget: `Some(n)` if it may be written, `n` being
    /// the lines dropped since the last one written; `None` if it is dropped.
    fn take(&self, len: usize) -> Option<u64> {
        let l = &self.limit;
        let mut b = crate::sync::lock(&self.buckets);
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64().min(3600.0);
        b.last = now;
        b.lines = (b.lines + elapsed * f64::from(l.lines_per_second)).min(f64::from(l.burst_lines));
        b.bytes = (b.bytes + elapsed * l.bytes_per_second as f64).min(l.burst_bytes as f64);
        // A line longer than the whole byte burst could never go: it goes when the bucket
        // is full, and empties it.
        let cost = (len as f64).min(l.burst_bytes as f64);
        if b.lines < 1.0 || b.bytes < cost {
            b.dropped += 1;
            self.dropped_total.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        b.lines -= 1.0;
        b.bytes -= cost;
        Some(std::mem::take(&mut b.dropped))
    }

    /// Whether `component` may write a line of `len` bytes now; when lines were dropped
    /// before it, a warning says how many first.
    pub(crate) fn admit(&self, component: &str, len: usize) -> bool {
        match self.take(len) {
            None => false,
            Some(0) => true,
            Some(dropped) => {
                tracing::warn!(
                    component,
                    dropped,
                    "{dropped} lines of output dropped: over the component's output budget"
                );
                true
            }
        }
    }
}

/// One of a component's output streams.
#[derive(Clone)]
pub(crate) struct LogStream {
    component: Arc<str>,
    stream: &'static str,
    budget: Arc<OutputBudget>,
}

impl LogStream {
    pub(crate) fn stdout(component: &Arc<str>, budget: &Arc<OutputBudget>) -> Self {
        LogStream { component: Arc::clone(component), stream: "stdout", budget: Arc::clone(budget) }
    }

    pub(crate) fn stderr(component: &Arc<str>, budget: &Arc<OutputBudget>) -> Self {
        LogStream { component: Arc::clone(component), stream: "stderr", budget: Arc::clone(budget) }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter { to: self.clone(), line: Vec::new() })
    }
}

struct LineWriter {
    to: LogStream,
    line: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self) {
        if self.line.is_empty() {
            return;
        }
        if self.to.budget.admit(&self.to.component, self.line.len()) {
            let text = String::from_utf8_lossy(&self.line);
            let text = text.trim_end_matches(['\n', '\r']);
            self.to.budget.keep(self.to.stream, text);
            // Guest text: escaped, so that it cannot end the log line and forge another.
            let text = airssys_osl::Escaped(text);
            tracing::info!(component = &*self.to.component, stream = self.to.stream, "{text}");
        }
        self.line.clear();
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        for &b in buf {
            self.line.push(b);
            if b == b'\n' || self.line.len() >= MAX_LINE {
                self.emit();
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.emit();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.emit();
    }
}
