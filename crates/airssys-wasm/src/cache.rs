//! The on-disk cache of compiled components, so that a second start skips compilation.
//!
//! An entry is named after the SHA-256 of the component's bytes and of the engine's
//! compatibility hash (wasmtime version, target, and every setting that changes generated
//! code, such as fuel), so an artifact is only ever loaded into an engine that made an
//! identical one. Entries are written to a temporary file and renamed into place, so readers
//! never see a partial entry.
//!
//! Trust: loading an artifact runs its machine code, so nothing is loaded that this cache's
//! key holder did not write.
//!
//! - **Authenticated entries.** Each file starts with an HMAC-SHA256 tag over the entry's
//!   name and the artifact, keyed with a 32-byte secret made from the operating system's
//!   randomness when the cache is first used and kept in the directory (`hmac.key`, 0600).
//!   An entry whose tag does not verify (damaged, rewritten with a fresh self-checksum,
//!   copied from another cache or another entry's name) is discarded with a warning and the
//!   component compiled again; it is never deserialized.
//! - **A private directory, opened once.** The path is resolved once; every directory from
//!   `/` down to the cache is then opened without following symlinks and checked: each
//!   ancestor owned by root or by this user and not writable by group or others unless it
//!   has the sticky bit (like `/tmp`); the cache itself owned by this user, not writable by
//!   group or others. Every later read and write goes through that directory handle, so
//!   renaming the path or putting a symlink in its place afterwards changes nothing. Entries
//!   that are not regular files owned by this user are never loaded.
//! - **Out of every component's reach.** The host refuses any filesystem grant that
//!   contains the cache directory or lies inside it (`protected.rs`), so no component can
//!   read the key or write an entry.
//!
//! The cache only grows (one entry per component version and engine configuration); clear
//! the directory to reclaim space. Temporary files left by a crash are swept at start.

use std::hash::Hasher;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component as PathPart, Path, PathBuf};
use std::time::Duration;

use hmac::Mac;
use rustix::fs::{AtFlags, Mode, OFlags};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

/// The SHA-256 of a component's bytes.
pub(crate) type Digest32 = [u8; 32];

pub(crate) fn digest(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

type HmacSha256 = hmac::Hmac<Sha256>;

/// The file in the cache directory that holds the entries' key.
const KEY_FILE: &str = "hmac.key";

/// Bytes of the authentication tag at the start of each entry.
const TAG: usize = 32;

/// The largest entry read (a compiled component is a few times its source's size).
const MAX_ENTRY_BYTES: u64 = 4 * crate::untrusted_file::MAX_COMPONENT_BYTES;

/// Feeds `Hash` output into SHA-256, whose result (unlike `DefaultHasher`'s) is stable
/// across Rust releases.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Only `write` is used; the digest is taken from the inner state.
        0
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A directory of compiled artifacts for one engine.
pub(crate) struct ArtifactCache {
    /// The cache directory, opened once when the cache was made.
    dir: OwnedFd,
    /// Its canonical path, for messages and for the check of grants against it.
    path: PathBuf,
    /// The key of the entries' tags.
    key: [u8; 32],
    /// Hex of the engine's compatibility hash; part of every entry's name.
    engine_key: String,
}

impl std::fmt::Debug for ArtifactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactCache").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Temporary files older than this are leftovers of a crash.
const STALE_TEMP: Duration = Duration::from_secs(3600);

fn our_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn refused(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, message)
}

/// An ancestor of the cache may be replaced by its owner, and by anyone who may write it
/// (unless the sticky bit keeps them to their own entries).
fn check_ancestor(path: &Path, stat: &rustix::fs::Stat) -> std::io::Result<()> {
    if stat.st_uid != 0 && stat.st_uid != our_uid() {
        return Err(refused(format!(
            "{} is owned by another user (uid {}), who could replace the cache; use a \
             directory whose parents belong to you or to root",
            path.display(),
            stat.st_uid
        )));
    }
    if stat.st_mode & 0o022 != 0 && stat.st_mode & 0o1000 == 0 {
        return Err(refused(format!(
            "{} is writable by group or others (mode {:o}, no sticky bit), who could replace \
             the cache; use a directory whose parents only their owner can write",
            path.display(),
            stat.st_mode & 0o7777
        )));
    }
    Ok(())
}

fn check_cache_dir(path: &Path, stat: &rustix::fs::Stat) -> std::io::Result<()> {
    if stat.st_uid != our_uid() || stat.st_mode & 0o022 != 0 {
        return Err(refused(format!(
            "{} must be owned by this user and not writable by others (loading an entry runs \
             its code); use a private directory",
            path.display()
        )));
    }
    Ok(())
}

/// Open the canonical directory `path` from `/` down, one component at a time without
/// following symlinks, checking each on the opened handle.
fn open_checked(path: &Path) -> std::io::Result<OwnedFd> {
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut fd = rustix::fs::open("/", dir_flags, Mode::empty())?;
    let mut at = PathBuf::from("/");
    let names: Vec<_> = path
        .components()
        .filter_map(|c| match c {
            PathPart::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Err(refused("the cache directory cannot be /".into()));
    }
    check_ancestor(&at, &rustix::fs::fstat(&fd)?)?;
    for (i, name) in names.iter().enumerate() {
        at.push(name);
        let next = rustix::fs::openat(&fd, *name, dir_flags, Mode::empty()).map_err(|e| {
            if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
                refused(format!("{} was replaced while it was being checked", at.display()))
            } else {
                std::io::Error::from(e)
            }
        })?;
        let stat = rustix::fs::fstat(&next)?;
        if i + 1 == names.len() {
            check_cache_dir(&at, &stat)?;
        } else {
            check_ancestor(&at, &stat)?;
        }
        fd = next;
    }
    Ok(fd)
}

/// A regular file of this user in `dir`, opened without following a symlink, and its size.
fn open_entry(dir: &OwnedFd, name: &str) -> std::io::Result<Option<(std::fs::File, u64, u32)>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(rustix::io::Errno::LOOP) => {
            return Err(refused(format!("{name} is a symlink")));
        }
        Err(e) => return Err(e.into()),
    };
    let stat = rustix::fs::fstat(&fd)?;
    let regular = rustix::fs::FileType::from_raw_mode(stat.st_mode).is_file();
    if !regular || stat.st_uid != our_uid() {
        return Err(refused(format!("{name} is not a regular file of this user")));
    }
    Ok(Some((std::fs::File::from(fd), stat.st_size as u64, stat.st_mode)))
}

fn read_all(file: std::fs::File, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "too large"));
    }
    Ok(bytes)
}

/// Write `bytes` to a new private temporary file in `dir`; its name.
fn write_temp(dir: &OwnedFd, stem: &str, bytes: &[u8]) -> std::io::Result<String> {
    let temp = format!(".{stem}.{}.{:016x}.tmp", std::process::id(), fastrand::u64(..));
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, temp.as_str(), flags, Mode::from_raw_mode(0o600))?;
    let mut file = std::fs::File::from(fd);
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_data()) {
        let _ = rustix::fs::unlinkat(dir, temp.as_str(), AtFlags::empty());
        return Err(e);
    }
    Ok(temp)
}

/// The cache's key: read from `hmac.key`, or made and written there the first time.
fn key(dir: &OwnedFd, path: &Path) -> std::io::Result<[u8; 32]> {
    let bad = || {
        refused(format!(
            "its key {} is not a private 32-byte file of this user; remove the cache directory's \
             contents to start afresh",
            path.join(KEY_FILE).display()
        ))
    };
    for _ in 0..2 {
        match open_entry(dir, KEY_FILE) {
            Ok(Some((file, size, mode))) => {
                if size != 32 || mode & 0o077 != 0 {
                    return Err(bad());
                }
                let bytes = read_all(file, 32)?;
                return bytes.try_into().map_err(|_| bad());
            }
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(bad()),
            Err(e) => return Err(e),
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
        let temp = write_temp(dir, "key", &key)?;
        // Never replaces a key another host made meanwhile: that one is read instead.
        let placed = rustix::fs::renameat_with(
            dir,
            temp.as_str(),
            dir,
            KEY_FILE,
            rustix::fs::RenameFlags::NOREPLACE,
        );
        let _ = rustix::fs::unlinkat(dir, temp.as_str(), AtFlags::empty());
        match placed {
            Ok(()) => return Ok(key),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(bad())
}

impl ArtifactCache {
    pub(crate) fn new(dir: &Path, engine: &wasmtime::Engine) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        // Resolved once; from here on only the handle is used.
        let path = std::fs::canonicalize(dir)?;
        let fd = open_checked(&path)?;
        let key = key(&fd, &path)?;
        sweep(&fd);
        let mut hasher = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_key = hex(&hasher.0.finalize()[..16]);
        Ok(ArtifactCache { dir: fd, path, key, engine_key })
    }

    /// The cache directory, canonical.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn name(&self, digest: &Digest32) -> String {
        format!("{}-{}.cwasm", hex(digest), self.engine_key)
    }

    fn mac(&self, name: &str, artifact: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(name.as_bytes());
        mac.update(&[0]);
        mac.update(artifact);
        mac
    }

    fn discard(&self, name: &str) {
        let _ = rustix::fs::unlinkat(&self.dir, name, AtFlags::empty());
    }

    /// The cached component for `digest`, if an authentic entry exists.
    pub(crate) fn load(&self, engine: &wasmtime::Engine, digest: &Digest32) -> Option<Component> {
        let name = self.name(digest);
        let shown = self.path.join(&name);
        let read = open_entry(&self.dir, &name)
            .and_then(|file| file.map(|(file, _, _)| read_all(file, MAX_ENTRY_BYTES)).transpose());
        let file = match read {
            Ok(Some(file)) => file,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(path = %shown.display(), error = %e, "cannot use a cached artifact; compiling");
                return None;
            }
        };
        let authentic =
            file.len() > TAG && self.mac(&name, &file[TAG..]).verify_slice(&file[..TAG]).is_ok();
        if !authentic {
            tracing::warn!(
                path = %shown.display(),
                "cached artifact is not authenticated by this cache's key (damaged, or written \
                 by someone else); discarding it and compiling"
            );
            self.discard(&name);
            return None;
        }
        match deserialize(engine, &file[TAG..]) {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %shown.display(), error = %e, "cached artifact does not load; compiling");
                self.discard(&name);
                None
            }
        }
    }

    /// Store `component` under `digest`. Failing to write is logged, never fatal: the cache
    /// only saves time.
    pub(crate) fn store(&self, digest: &Digest32, component: &Component) {
        let artifact = match component.serialize() {
            Ok(artifact) => artifact,
            Err(e) => {
                tracing::warn!(error = %e, "cannot serialize a compiled component; not caching it");
                return;
            }
        };
        let name = self.name(digest);
        let mut file = Vec::with_capacity(TAG + artifact.len());
        file.extend_from_slice(&self.mac(&name, &artifact).finalize().into_bytes());
        file.extend_from_slice(&artifact);
        let written = write_temp(&self.dir, &hex(&digest[..8]), &file).and_then(|temp| {
            rustix::fs::renameat(&self.dir, temp.as_str(), &self.dir, name.as_str()).map_err(|e| {
                let _ = rustix::fs::unlinkat(&self.dir, temp.as_str(), AtFlags::empty());
                std::io::Error::from(e)
            })
        });
        if let Err(e) = written {
            tracing::warn!(path = %self.path.join(&name).display(), error = %e, "cannot write to the artifact cache");
        }
    }
}

/// Remove temporary files a crashed writer left behind.
fn sweep(dir: &OwnedFd) {
    let Ok(entries) = rustix::fs::Dir::read_from(dir) else { return };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_bytes().ends_with(b".tmp") {
            continue;
        }
        let Ok(stat) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else { continue };
        if now.saturating_sub(stat.st_mtime) > STALE_TEMP.as_secs() as i64 {
            let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
        }
    }
}

#[expect(
    unsafe_code,
    reason = "deserializing runs machine code from the file; the entry's name ties it to this \
              engine's configuration and its tag was verified with this cache's key, which no \
              component can reach (documented in this module and in docs/security.md)"
)]
fn deserialize(engine: &wasmtime::Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: see the reason above; wasmtime also checks the artifact's header (version and
    // engine settings) before using it.
    unsafe { Component::deserialize(engine, artifact) }
}
