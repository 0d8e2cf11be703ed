//! Guest stdout and stderr, routed into the host's logs line by line, tagged with the
//! component's address.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line kept; a longer one is logged in pieces of this size.
const MAX_LINE: usize = 4096;

/// One of a component's output streams.
#[derive(Clone)]
pub(crate) struct LogStream {
    component: Arc<str>,
    stream: &'static str,
}

impl LogStream {
    pub(crate) fn stdout(component: &Arc<str>) -> Self {
        LogStream { component: Arc::clone(component), stream: "stdout" }
    }

    pub(crate) fn stderr(component: &Arc<str>) -> Self {
        LogStream { component: Arc::clone(component), stream: "stderr" }
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
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end_matches(['\n', '\r']);
        // Guest text: escaped, so that it cannot end the log line and forge another.
        let text = airssys_osl::Escaped(text);
        tracing::info!(component = &*self.to.component, stream = self.to.stream, "{text}");
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
