//! Whose control socket is this? The socket lives in the project's `.airssys/` directory,
//! which in a shared project directory another local user may have created first. The
//! client talks only to a socket of its own user, in a private directory of its own user,
//! served by a process of its own user; `up` refuses a directory that is not its own and
//! says whose it is.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use anyhow::bail;

fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The directory holding the control socket must be a real directory (not a symlink) of this
/// user that nobody else may write (`up`, which makes it private itself, checks only whose
/// it is: `private` false).
pub fn check_dir(dir: &Path, private: bool) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => bail!("cannot inspect the control directory {}: {e}", dir.display()),
    };
    if !meta.file_type().is_dir() {
        bail!(
            "the control directory {} is not a directory (a symlink or a file): remove it, or \
             choose another socket with --socket PATH",
            dir.display()
        );
    }
    if meta.uid() != me() {
        bail!(
            "the control directory {} belongs to another user (uid {}), not to you (uid {}): \
             someone else made it, and a socket in it could be theirs; remove it (or ask its \
             owner to), or choose another socket with --socket PATH",
            dir.display(),
            meta.uid(),
            me()
        );
    }
    if private && meta.mode() & 0o022 != 0 {
        bail!(
            "the control directory {} may be written by other users (mode {:o}): make it \
             private with `chmod 700 {}`",
            dir.display(),
            meta.mode() & 0o7777,
            dir.display()
        );
    }
    Ok(())
}

/// Before connecting: the socket and its directory are this user's.
pub fn check_socket(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        check_dir(dir, true)?;
    }
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    if !meta.file_type().is_socket() {
        bail!("{} is not a socket: refusing to talk to it", path.display());
    }
    if meta.uid() != me() {
        bail!(
            "the control socket {} belongs to another user (uid {}): refusing to talk to it",
            path.display(),
            meta.uid()
        );
    }
    Ok(())
}

/// After connecting: the process serving the socket runs as this user (closes the race
/// between the checks above and the connect).
pub fn check_peer(stream: &std::os::unix::net::UnixStream, path: &Path) -> anyhow::Result<()> {
    let peer = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| anyhow::anyhow!("cannot tell who serves {}: {e}", path.display()))?;
    if peer.uid.as_raw() != me() {
        bail!(
            "the control socket {} is served by another user (uid {}): refusing to talk to it",
            path.display(),
            peer.uid.as_raw()
        );
    }
    Ok(())
}
