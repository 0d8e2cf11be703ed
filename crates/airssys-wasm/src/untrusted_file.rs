//! Reading a file whose path comes from a manifest, a flag or a neighbour of a component
//! (`.wasm`, `.sig`): only a regular file, and only up to a size bound.
//!
//! A path can name `/dev/zero`, a FIFO, a directory or a huge (sparse) file. Reading such a
//! thing to its end would block forever or exhaust memory, so the file is opened without
//! blocking (a FIFO with no writer does not hang the open), its type and size are taken from
//! the opened handle (not from the path, which may change in between), and it is read through
//! a reader that stops one byte past the bound.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest component file the host, and the CLI, read (256 MiB).
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;

/// The largest signature (`.sig`) file read (16 KiB; a real one is about 300 bytes).
pub const MAX_SIGNATURE_BYTES: u64 = 16 << 10;

/// The largest manifest or key file read (4 MiB).
pub const MAX_TEXT_BYTES: u64 = 4 << 20;

fn kind(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn too_large(limit: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("it is larger than the limit of {limit} bytes"),
    )
}

/// The bytes of the regular file at `path`, at most `limit` of them. A file of another kind
/// (directory, device, FIFO, socket) or larger than `limit` is an error of kind
/// `InvalidInput` / `InvalidData` that says so, returned without reading it.
pub fn read(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {}, not a regular file", kind(meta.file_type())),
        ));
    }
    if meta.len() > limit {
        return Err(too_large(limit));
    }
    // The size may have grown since the stat: the reader stops one byte past the bound.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// Like [`read`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}
