//! Network operations.

use std::path::PathBuf;

/// Open a TCP connection to `ip:port`. Addresses are IP literals (`127.0.0.1:80`,
/// `[::1]:80`), never host names: the policy decides on the address actually connected to,
/// so a name cannot resolve around it. Resolve names first if you must.
#[derive(Debug, Clone)]
pub struct TcpConnect {
    /// `ip:port`; the security middleware replaces it with its canonical form.
    pub address: String,
}

impl TcpConnect {
    /// Connect to `address`.
    pub fn new(address: impl Into<String>) -> Self {
        TcpConnect { address: address.into() }
    }
}

/// Listen for TCP connections on `ip:port`.
#[derive(Debug, Clone)]
pub struct TcpListen {
    /// `ip:port`.
    pub address: String,
}

impl TcpListen {
    /// Listen on `address`.
    pub fn new(address: impl Into<String>) -> Self {
        TcpListen { address: address.into() }
    }
}

/// Bind a UDP socket to `ip:port`.
#[derive(Debug, Clone)]
pub struct UdpBind {
    /// `ip:port`.
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
