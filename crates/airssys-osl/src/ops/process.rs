//! Process operations. A spawned process is known by its [`ProcessId`] to the executor that
//! started it, and only the principal that started it may wait for, kill or signal it. It
//! runs in a process group of its own: a kill or a timeout kills the whole group, and when it
//! exits, whatever it left running in its group is killed too.

use std::path::PathBuf;
use std::time::Duration;

/// Start a program.
#[derive(Debug, Clone)]
pub struct ProcessSpawn {
    /// The program: a path, or a name looked up in the host's `PATH`. The security middleware
    /// replaces it with its canonical path.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its environment: exactly these variables (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Its working directory (the host's when `None`).
    pub cwd: Option<PathBuf>,
    /// Capture stdout and stderr (up to [`ProcessSpawn::MAX_CAPTURE`] bytes each) for
    /// `process-wait`; otherwise they are discarded.
    pub capture: bool,
    /// Kill the process if it runs longer than this.
    pub timeout: Option<Duration>,
    /// The name the program sees as its own (`argv[0]`); by default the program as given.
    /// The security middleware checks and runs the canonical program whatever this says, so
    /// a multi-call binary (`busybox`, reached through a symlink named `ls`) still behaves as
    /// the name it was granted under.
    pub arg0: Option<String>,
}

impl ProcessSpawn {
    /// How much of each output stream is kept when capturing.
    pub const MAX_CAPTURE: usize = 16 << 20;

    /// Start `program` with no arguments, an empty environment, output captured.
    pub fn new(program: impl Into<String>) -> Self {
        ProcessSpawn {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            capture: true,
            timeout: None,
            arg0: None,
        }
    }

    /// Add arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Run in `dir`.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Kill it after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Run it under this name (`argv[0]`).
    pub fn arg0(mut self, name: impl Into<String>) -> Self {
        self.arg0 = Some(name.into());
        self
    }

    /// Discard its output instead of capturing it.
    pub fn discard_output(mut self) -> Self {
        self.capture = false;
        self
    }
}

/// A process started by an executor (its OS process id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessId(pub u32);

/// Wait for a process to end and collect its output. Its id is forgotten afterwards.
#[derive(Debug, Clone)]
pub struct ProcessWait {
    /// The process.
    pub pid: ProcessId,
}

impl ProcessWait {
    /// Wait for `pid`.
    pub fn new(pid: ProcessId) -> Self {
        ProcessWait { pid }
    }
}

/// Kill a process (SIGKILL).
#[derive(Debug, Clone)]
pub struct ProcessKill {
    /// The process.
    pub pid: ProcessId,
}

impl ProcessKill {
    /// Kill `pid`.
    pub fn new(pid: ProcessId) -> Self {
        ProcessKill { pid }
    }
}

/// Send a signal to a process.
#[derive(Debug, Clone)]
pub struct ProcessSignal {
    /// The process.
    pub pid: ProcessId,
    /// The signal number (for example 15 for SIGTERM).
    pub signal: i32,
}

impl ProcessSignal {
    /// Send `signal` to `pid`.
    pub fn new(pid: ProcessId, signal: i32) -> Self {
        ProcessSignal { pid, signal }
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitOutput {
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// True when it was killed for running past its timeout.
    pub timed_out: bool,
    /// Captured stdout (empty when not captured).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty when not captured).
    pub stderr: Vec<u8>,
}

impl ExitOutput {
    /// True when it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}
