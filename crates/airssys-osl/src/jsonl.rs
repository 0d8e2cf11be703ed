//! Append-only JSON-lines files, one `write` per line.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

/// A file that records are appended to, one JSON object per line. Each line is written with
/// a single `write` to a file opened for appending, under a lock: concurrent writers wait
/// their turn (backpressure), and a line is in the file (the kernel's page cache) when
/// `append` returns.
#[derive(Debug)]
pub(crate) struct LineFile {
    file: Mutex<std::fs::File>,
}

impl LineFile {
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LineFile { file: Mutex::new(file) })
    }

    pub(crate) fn append(&self, record: &impl Serialize) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.lock().unwrap_or_else(|e| e.into_inner()).write_all(&line)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
