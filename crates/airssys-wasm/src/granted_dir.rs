//! Granted directories, opened once. A component's directory grants are opened when the
//! component is prepared (at host start, before any guest runs, or at its `spawn`), and every
//! instance of it (pool members, restarts) gets that same open directory as its WASI
//! preopen. Nothing is looked up by path again: a guest that replaces a granted directory
//! with a symlink (`../secret`) changes nothing for the next instance, which still sees the
//! directory that was granted (wherever it was renamed to), and cap-std keeps every access
//! beneath it.
//!
//! wasmtime-wasi only preopens by path, so the `wasi:filesystem/preopens` import is shadowed
//! in the linker by one that hands out these handles (`preopens.rs`).

use std::path::{Path, PathBuf};

use wasmtime_wasi::filesystem::Dir;
use wasmtime_wasi::{FsPerms, OpenMode};

/// One directory grant, open.
#[derive(Clone)]
pub(crate) struct GrantedDir {
    /// The open directory, with the grant's permissions.
    pub(crate) dir: Dir,
    /// Where the guest sees it.
    pub(crate) guest: String,
    /// The directory's path when it was opened, read back from the open handle (no symlink
    /// in it): what checks against other paths compare.
    pub(crate) canonical: PathBuf,
    /// Read-write.
    pub(crate) writable: bool,
}

impl std::fmt::Debug for GrantedDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantedDir")
            .field("canonical", &self.canonical)
            .field("guest", &self.guest)
            .field("writable", &self.writable)
            .finish()
    }
}

impl GrantedDir {
    /// Open `host` (the path as the operator wrote it) for the guest path `guest`.
    pub(crate) fn open(host: &Path, guest: &str, writable: bool) -> Result<Self, String> {
        let file = open_dir(host).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("granted directory {} does not exist", host.display())
            }
            _ => format!("cannot grant directory {}: {e}", host.display()),
        })?;
        let metadata = file
            .metadata()
            .map_err(|e| format!("cannot grant directory {}: {e}", host.display()))?;
        if !metadata.is_dir() {
            return Err(format!("granted directory {} is not a directory", host.display()));
        }
        let canonical = path_of(&file, host)
            .map_err(|e| format!("cannot grant directory {}: {e}", host.display()))?;
        let (perms, mode) = if writable {
            (FsPerms::ReadWrite, OpenMode::READ | OpenMode::WRITE)
        } else {
            (FsPerms::ReadOnly, OpenMode::READ)
        };
        // As wasmtime-wasi's own preopens: blocking work goes to tokio's blocking pool.
        let dir = Dir::new(file, perms, mode, false);
        Ok(GrantedDir { dir, guest: guest.to_owned(), canonical, writable })
    }
}

/// Open a directory as wasmtime-wasi does for a preopen (`O_PATH` where there is one, so that
/// a directory the host may traverse but not list can still be granted).
fn open_dir(path: &Path) -> std::io::Result<std::fs::File> {
    use rustix::fs::OFlags;
    use std::os::unix::fs::OpenOptionsExt;
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    let flags = OFlags::DIRECTORY | OFlags::PATH;
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    let flags = OFlags::DIRECTORY;
    std::fs::OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path)
}

/// The path of an open directory. On Linux it is read from the handle itself, so it names
/// exactly the directory that was opened; elsewhere the path is resolved again and checked
/// to be the same directory.
fn path_of(file: &std::fs::File, opened: &Path) -> std::io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let _ = opened;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        use std::os::unix::fs::MetadataExt;
        let canonical = std::fs::canonicalize(opened)?;
        let (now, held) = (std::fs::metadata(&canonical)?, file.metadata()?);
        if (now.dev(), now.ino()) != (held.dev(), held.ino()) {
            return Err(std::io::Error::other("the directory was replaced while it was opened"));
        }
        Ok(canonical)
    }
}
