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
    /// Open `path` for appending (created if missing). A file whose last line is torn (a
    /// crash or power cut in the middle of a write) gets a newline first, so that the torn
    /// line stays alone and the first new record is a line of its own.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::FileExt;
        let append = || std::fs::OpenOptions::new().create(true).append(true).open(path);
        // A file this process may not read is appended to unchecked.
        let file = match std::fs::OpenOptions::new().read(true).append(true).create(true).open(path)
        {
            Ok(mut file) => {
                let len = file.metadata()?.len();
                let mut last = [b'\n'];
                if len > 0 {
                    file.read_exact_at(&mut last, len - 1)?;
                }
                if last[0] != b'\n' {
                    file.write_all(b"\n")?;
                }
                file
            }
            Err(_) => append()?,
        };
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
