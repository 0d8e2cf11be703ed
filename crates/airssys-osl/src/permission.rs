//! Permissions: what an operation needs, as an action on a resource.

use serde::Serialize;

/// What is done to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Action {
    /// Read a file, list a directory, read metadata. Resource: a canonical path.
    FsRead,
    /// Create, write, append, delete, rename. Resource: a canonical path.
    FsWrite,
    /// Start a program. Resource: the program's canonical path.
    ProcessSpawn,
    /// Wait for, kill or signal a process started through the executor. Resource: its process
    /// id (only the principal that started a process can reach it at all).
    ProcessControl,
    /// Open a TCP connection. Resource: canonical `ip:port` (`1.2.3.4:80`, `[::1]:80`;
    /// IPv4-mapped IPv6 addresses are written as IPv4).
    NetConnect,
    /// Listen for TCP connections. Resource: canonical `ip:port`.
    NetListen,
    /// Bind a UDP socket. Resource: canonical `ip:port`.
    NetUdp,
    /// Connect to a Unix socket. Resource: its canonical path.
    UnixConnect,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 8] = [
        Action::FsRead,
        Action::FsWrite,
        Action::ProcessSpawn,
        Action::ProcessControl,
        Action::NetConnect,
        Action::NetListen,
        Action::NetUdp,
        Action::UnixConnect,
    ];

    /// The action's name, as in audit records (`fs-read`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::FsRead => "fs-read",
            Action::FsWrite => "fs-write",
            Action::ProcessSpawn => "process-spawn",
            Action::ProcessControl => "process-control",
            Action::NetConnect => "net-connect",
            Action::NetListen => "net-listen",
            Action::NetUdp => "net-udp",
            Action::UnixConnect => "unix-connect",
        }
    }

    /// True for actions whose resource is a filesystem path (matched with `/` as a separator,
    /// after canonicalisation).
    pub fn is_path(self) -> bool {
        matches!(self, Action::FsRead | Action::FsWrite | Action::UnixConnect)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One permission an operation needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Permission {
    /// The action.
    pub action: Action,
    /// The resource it applies to.
    pub resource: String,
}

impl Permission {
    /// A permission to do `action` to `resource`.
    pub fn new(action: Action, resource: impl Into<String>) -> Self {
        Permission { action, resource: resource.into() }
    }
}
