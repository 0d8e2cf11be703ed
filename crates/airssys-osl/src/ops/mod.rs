//! The typed operations, the [`Op`] and [`Output`] enums the middleware sees, and the
//! [`Operation`] trait that ties each operation to its output.

mod fs;
mod net;
mod process;

use std::path::PathBuf;

pub use fs::{
    DirCreate, DirEntry, DirList, FileAppend, FileDelete, FileMetadata, FileRead, FileRename,
    FileWrite, Metadata,
};
pub use net::{TcpConnect, TcpListen, UdpBind, UnixConnect};
pub use process::{ExitOutput, ProcessId, ProcessKill, ProcessSignal, ProcessSpawn, ProcessWait};

use crate::path::Access;
use crate::permission::Action;

/// A typed operation: it converts to and from [`Op`] (what middleware sees) and names its
/// output type.
pub trait Operation: Into<Op> + TryFrom<Op, Error = Op> + Send + 'static {
    /// What a successful run produces.
    type Output: Into<Output> + TryFrom<Output, Error = Output> + Send + 'static;
    /// The operation's name in logs and audit records (`file-read`, ...).
    const NAME: &'static str;
}

/// A resource an operation touches, as the security middleware checks it. Paths and programs
/// are given mutably so that they can be replaced by the canonical form that was checked.
#[derive(Debug)]
#[non_exhaustive]
pub enum Resource<'a> {
    /// A filesystem path.
    Path {
        /// The action on it.
        action: Action,
        /// The path; the security middleware replaces it with its canonical form.
        path: &'a mut PathBuf,
        /// How the operation touches it (decides how it is canonicalised).
        access: Access,
    },
    /// A socket address (`ip:port`); replaced by its canonical form.
    Address {
        /// The action on it.
        action: Action,
        /// The address.
        address: &'a mut String,
    },
    /// A program to start; replaced by its canonical path.
    Program(&'a mut String),
    /// Anything else, matched as given (`host:port`, a process id).
    Name {
        /// The action on it.
        action: Action,
        /// The resource.
        name: String,
    },
}

macro_rules! operations {
    ($($variant:ident => $output:ty, $name:literal;)*) => {
        /// Any operation, as the middleware sees it.
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum Op {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant($variant),
            )*
        }

        impl Op {
            /// The operation's name (`file-read`, ...).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Op::$variant(_) => $name,)*
                }
            }
        }

        $(
            impl From<$variant> for Op {
                fn from(op: $variant) -> Op {
                    Op::$variant(op)
                }
            }

            impl TryFrom<Op> for $variant {
                type Error = Op;
                fn try_from(op: Op) -> Result<Self, Op> {
                    match op {
                        Op::$variant(op) => Ok(op),
                        other => Err(other),
                    }
                }
            }

            impl Operation for $variant {
                type Output = $output;
                const NAME: &'static str = $name;
            }
        )*
    };
}

operations! {
    FileRead => Vec<u8>, "file-read";
    FileWrite => (), "file-write";
    FileAppend => (), "file-append";
    FileDelete => (), "file-delete";
    DirCreate => (), "dir-create";
    DirList => Vec<DirEntry>, "dir-list";
    FileMetadata => Metadata, "file-metadata";
    FileRename => (), "file-rename";
    ProcessSpawn => ProcessId, "process-spawn";
    ProcessWait => ExitOutput, "process-wait";
    ProcessKill => (), "process-kill";
    ProcessSignal => (), "process-signal";
    TcpConnect => tokio::net::TcpStream, "tcp-connect";
    TcpListen => tokio::net::TcpListener, "tcp-listen";
    UdpBind => tokio::net::UdpSocket, "udp-bind";
    UnixConnect => tokio::net::UnixStream, "unix-connect";
}

impl Op {
    /// The resources this operation touches, each with the action it needs.
    pub fn resources(&mut self) -> Vec<Resource<'_>> {
        use Access::{Create, Entry, Existing};
        let path = |action, path, access| Resource::Path { action, path, access };
        let address = |action, address| Resource::Address { action, address };
        match self {
            Op::FileRead(op) => vec![path(Action::FsRead, &mut op.path, Existing)],
            Op::FileWrite(op) => vec![path(Action::FsWrite, &mut op.path, Create)],
            Op::FileAppend(op) => vec![path(Action::FsWrite, &mut op.path, Create)],
            Op::FileDelete(op) => vec![path(Action::FsWrite, &mut op.path, Entry)],
            Op::DirCreate(op) => vec![path(Action::FsWrite, &mut op.path, Create)],
            Op::DirList(op) => vec![path(Action::FsRead, &mut op.path, Existing)],
            Op::FileMetadata(op) => vec![path(Action::FsRead, &mut op.path, Existing)],
            Op::FileRename(op) => vec![
                path(Action::FsWrite, &mut op.from, Entry),
                path(Action::FsWrite, &mut op.to, Entry),
            ],
            Op::ProcessSpawn(op) => {
                let mut resources = vec![Resource::Program(&mut op.program)];
                if let Some(cwd) = &mut op.cwd {
                    resources.push(path(Action::FsRead, cwd, Existing));
                }
                resources
            }
            Op::ProcessWait(op) => vec![control(op.pid)],
            Op::ProcessKill(op) => vec![control(op.pid)],
            Op::ProcessSignal(op) => vec![control(op.pid)],
            Op::TcpConnect(op) => vec![address(Action::NetConnect, &mut op.address)],
            Op::TcpListen(op) => vec![address(Action::NetListen, &mut op.address)],
            Op::UdpBind(op) => vec![address(Action::NetUdp, &mut op.address)],
            Op::UnixConnect(op) => vec![path(Action::UnixConnect, &mut op.path, Existing)],
        }
    }

    /// The resources as text, for logs (`path`, `program`, `host:port`).
    pub fn describe(&mut self) -> String {
        let parts: Vec<String> = self
            .resources()
            .into_iter()
            .map(|r| match r {
                Resource::Path { path, .. } => path.display().to_string(),
                Resource::Program(p) => p.clone(),
                Resource::Address { address, .. } => address.clone(),
                Resource::Name { name, .. } => name,
            })
            .collect();
        parts.join(" -> ")
    }
}

fn control(pid: ProcessId) -> Resource<'static> {
    Resource::Name { action: Action::ProcessControl, name: pid.0.to_string() }
}

/// Any operation's output, as the middleware sees it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Output {
    /// Nothing (writes, deletes, kills).
    Unit,
    /// File contents.
    Bytes(Vec<u8>),
    /// A directory listing.
    Entries(Vec<DirEntry>),
    /// File metadata.
    Metadata(Metadata),
    /// A started process.
    Process(ProcessId),
    /// A finished process.
    Exit(ExitOutput),
    /// A TCP connection.
    TcpStream(tokio::net::TcpStream),
    /// A TCP listener.
    TcpListener(tokio::net::TcpListener),
    /// A UDP socket.
    UdpSocket(tokio::net::UdpSocket),
    /// A Unix socket connection.
    UnixStream(tokio::net::UnixStream),
}

macro_rules! outputs {
    ($($ty:ty => $variant:ident;)*) => {$(
        impl From<$ty> for Output {
            fn from(value: $ty) -> Output {
                Output::$variant(value)
            }
        }
        impl TryFrom<Output> for $ty {
            type Error = Output;
            fn try_from(output: Output) -> Result<Self, Output> {
                match output {
                    Output::$variant(value) => Ok(value),
                    other => Err(other),
                }
            }
        }
    )*};
}

outputs! {
    Vec<u8> => Bytes;
    Vec<DirEntry> => Entries;
    Metadata => Metadata;
    ProcessId => Process;
    ExitOutput => Exit;
    tokio::net::TcpStream => TcpStream;
    tokio::net::TcpListener => TcpListener;
    tokio::net::UdpSocket => UdpSocket;
    tokio::net::UnixStream => UnixStream;
}

impl From<()> for Output {
    fn from((): ()) -> Output {
        Output::Unit
    }
}

impl TryFrom<Output> for () {
    type Error = Output;
    fn try_from(output: Output) -> Result<(), Output> {
        match output {
            Output::Unit => Ok(()),
            other => Err(other),
        }
    }
}

/// A path given by the caller.
pub(crate) fn pathbuf(path: impl Into<PathBuf>) -> PathBuf {
    path.into()
}
