//! Network operations.

use std::path::PathBuf;

/// Open a TCP connection to `host:port`.
#[derive(Debug, Clone)]
pub struct TcpConnect {
    /// `host:port` (the policy matches it as given, before name resolution).
    pub address: String,
}

impl TcpConnect {
    /// Connect to `address`.
    pub fn new(address: impl Into<String>) -> Self {
        TcpConnect { address: address.into() }
    }
}

/// Listen for TCP connections on `address:port`.
#[derive(Debug, Clone)]
pub struct TcpListen {
    /// `address:port`.
    pub address: String,
}

impl TcpListen {
    /// Listen on `address`.
    pub fn new(address: impl Into<String>) -> Self {
        TcpListen { address: address.into() }
    }
}

/// Bind a UDP socket to `address:port`.
#[derive(Debug, Clone)]
pub struct UdpBind {
    /// `address:port`.
    pub address: String,
}

impl UdpBind {
    /// Bind to `address`.
    pub fn new(address: impl Into<String>) -> Self {
        UdpBind { address: address.into() }
    }
}

/// Connect to a Unix domain socket.
#[derive(Debug, Clone)]
pub struct UnixConnect {
    /// The socket's path.
    pub path: PathBuf,
}

impl UnixConnect {
    /// Connect to the socket at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        UnixConnect { path: path.into() }
    }
}
