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
    /// Send a message to an address (a component host's messaging). Resource: the address.
    MessageSend,
    /// Request from, or call, an address. Resource: the address.
    MessageRequest,
    /// Deliver a message from a sender to a receiver that restricts its senders. Resource:
    /// the receiver's address.
    MessageAccept,
    /// Publish to a topic. Resource: the topic.
    TopicPublish,
    /// Subscribe to a topic pattern. Resource: the pattern.
    TopicSubscribe,
    /// A limit (message rate, pending requests, memory, CPU) was reached. Resource: the limit.
    Limit,
    /// A lifecycle event of a supervised principal (a crash, a restart). Resource: its
    /// address.
    Lifecycle,
    /// Use a component host's durable storage. Resource: what was refused.
    Storage,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 16] = [
        Action::FsRead,
        Action::FsWrite,
        Action::ProcessSpawn,
        Action::ProcessControl,
        Action::NetConnect,
        Action::NetListen,
        Action::NetUdp,
        Action::UnixConnect,
        Action::MessageSend,
        Action::MessageRequest,
        Action::MessageAccept,
        Action::TopicPublish,
        Action::TopicSubscribe,
        Action::Limit,
        Action::Lifecycle,
        Action::Storage,
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
            Action::MessageSend => "message-send",
            Action::MessageRequest => "message-request",
            Action::MessageAccept => "message-accept",
            Action::TopicPublish => "topic-publish",
            Action::TopicSubscribe => "topic-subscribe",
            Action::Limit => "limit",
            Action::Lifecycle => "lifecycle",
            Action::Storage => "storage",
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

/// The canonical text of a socket address, as network resources are written: IPv4-mapped
/// IPv6 addresses as IPv4 (`[::ffff:1.2.3.4]:80` is `1.2.3.4:80`), IPv6 in brackets.
pub fn canonical_socket_addr(addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V6(v6) => {
            v6.to_ipv4_mapped().map_or(std::net::IpAddr::V6(v6), Into::into)
        }
        v4 => v4,
    };
    std::net::SocketAddr::new(ip, addr.port()).to_string()
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
