//! Filesystem operations.

use std::path::PathBuf;
use std::time::SystemTime;

use super::pathbuf;

/// Read a whole file.
#[derive(Debug, Clone)]
pub struct FileRead {
    /// The file.
    pub path: PathBuf,
}

impl FileRead {
    /// Read `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileRead { path: pathbuf(path) }
    }
}

/// Create or truncate a file and write `data` to it.
#[derive(Debug, Clone)]
pub struct FileWrite {
    /// The file.
    pub path: PathBuf,
    /// Its new contents.
    pub data: Vec<u8>,
}

impl FileWrite {
    /// Write `data` to `path`.
    pub fn new(path: impl Into<PathBuf>, data: impl Into<Vec<u8>>) -> Self {
        FileWrite { path: pathbuf(path), data: data.into() }
    }
}

/// Append `data` to a file, creating it if needed.
#[derive(Debug, Clone)]
pub struct FileAppend {
    /// The file.
    pub path: PathBuf,
    /// What to append.
    pub data: Vec<u8>,
}

impl FileAppend {
    /// Append `data` to `path`.
    pub fn new(path: impl Into<PathBuf>, data: impl Into<Vec<u8>>) -> Self {
        FileAppend { path: pathbuf(path), data: data.into() }
    }
}

/// Delete a file (or an empty directory).
#[derive(Debug, Clone)]
pub struct FileDelete {
    /// The file.
    pub path: PathBuf,
}

impl FileDelete {
    /// Delete `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileDelete { path: pathbuf(path) }
    }
}

/// Create a directory.
#[derive(Debug, Clone)]
pub struct DirCreate {
    /// The directory.
    pub path: PathBuf,
    /// Create missing parents too (they must still be inside what the policy allows: the
    /// check is on the deepest existing ancestor's canonical path plus the rest).
    pub recursive: bool,
}

impl DirCreate {
    /// Create `path` (its parent must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DirCreate { path: pathbuf(path), recursive: false }
    }
}

/// List a directory.
#[derive(Debug, Clone)]
pub struct DirList {
    /// The directory.
    pub path: PathBuf,
}

impl DirList {
    /// List `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DirList { path: pathbuf(path) }
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's file name.
    pub name: String,
    /// True for a directory.
    pub is_dir: bool,
}

/// Read a file's metadata (following symlinks).
#[derive(Debug, Clone)]
pub struct FileMetadata {
    /// The file.
    pub path: PathBuf,
}

impl FileMetadata {
    /// The metadata of `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileMetadata { path: pathbuf(path) }
    }
}

/// A file's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Size in bytes.
    pub len: u64,
    /// True for a directory.
    pub is_dir: bool,
    /// True for a regular file.
    pub is_file: bool,
    /// True when it cannot be written.
    pub readonly: bool,
    /// Last modification, where the platform records it.
    pub modified: Option<SystemTime>,
}

/// Rename (move) a file or directory.
#[derive(Debug, Clone)]
pub struct FileRename {
    /// What to move.
    pub from: PathBuf,
    /// Where to.
    pub to: PathBuf,
}

impl FileRename {
    /// Move `from` to `to`.
    pub fn new(from: impl Into<PathBuf>, to: impl Into<PathBuf>) -> Self {
        FileRename { from: pathbuf(from), to: pathbuf(to) }
    }
}
