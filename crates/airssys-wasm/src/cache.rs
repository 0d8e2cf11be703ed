//! The on-disk cache of compiled components, so that a second start skips compilation.
//!
//! An entry is named after the SHA-256 of the component's bytes and of the engine's
//! compatibility hash (wasmtime version, target, and every setting that changes generated
//! code, such as fuel), so an artifact is only ever loaded into an engine that made an
//! identical one. Each file starts with the SHA-256 of the artifact that follows; a file that
//! does not match (truncated, overwritten, half-written by a crash) is discarded and the
//! component is compiled again. Entries are written to a temporary file and renamed into
//! place, so readers never see a partial entry.
//!
//! Trust: loading an artifact runs its machine code. The checksum catches accidents, not an
//! attacker, so the directory itself must be trusted: it is created with mode 0700, and a
//! directory that is not owned by the host's user or that others may write to is refused.
//! Entries that are not regular files owned by the host's user are never loaded.
//!
//! The cache only grows (one entry per component version and engine configuration); clear
//! the directory to reclaim space. Temporary files left by a crash are swept at start.

use std::hash::Hasher;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

/// The SHA-256 of a component's bytes.
pub(crate) type Digest32 = [u8; 32];

pub(crate) fn digest(bytes: &[u8]) -> Digest32 {
    Sha256::digest(bytes).into()
}

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
#[derive(Debug)]
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    /// Hex of the engine's compatibility hash; part of every entry's name.
    engine_key: String,
}

/// Temporary files older than this are leftovers of a crash.
const STALE_TEMP: Duration = Duration::from_secs(3600);

fn owned_by_us(meta: &std::fs::Metadata) -> bool {
    meta.uid() == rustix::process::geteuid().as_raw()
}

impl ArtifactCache {
    pub(crate) fn new(dir: &Path, engine: &wasmtime::Engine) -> std::io::Result<Self> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let meta = std::fs::metadata(dir)?;
        if !owned_by_us(&meta) || meta.mode() & 0o022 != 0 {
            return Err(std::io::Error::other(
                "it must be owned by this user and not writable by others (loading an entry \
                 runs its code); use a private directory",
            ));
        }
        sweep(dir);
        let mut hasher = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_key = hex(&hasher.0.finalize()[..16]);
        Ok(ArtifactCache { dir: dir.to_owned(), engine_key })
    }

    fn path(&self, digest: &Digest32) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex(digest), self.engine_key))
    }

    /// The cached component for `digest`, if a sound entry exists.
    pub(crate) fn load(&self, engine: &wasmtime::Engine, digest: &Digest32) -> Option<Component> {
        let path = self.path(digest);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() && owned_by_us(&meta) => {}
            Ok(_) => {
                tracing::warn!(path = %path.display(), "cache entry is not a regular file of this user; ignoring it");
                return None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read a cached artifact; compiling");
                return None;
            }
        }
        let file = match std::fs::read(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read a cached artifact; compiling");
                return None;
            }
        };
        let sound = file.len() > 32 && file[..32] == Sha256::digest(&file[32..])[..];
        if !sound {
            tracing::warn!(path = %path.display(), "cached artifact is damaged; discarding it and compiling");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        match deserialize(engine, &file[32..]) {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cached artifact does not load; compiling");
                let _ = std::fs::remove_file(&path);
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
        let path = self.path(digest);
        let temp = self.dir.join(format!(
            ".{}.{}.{:016x}.tmp",
            hex(&digest[..8]),
            std::process::id(),
            fastrand::u64(..)
        ));
        let mut file = Vec::with_capacity(32 + artifact.len());
        file.extend_from_slice(&Sha256::digest(&artifact));
        file.extend_from_slice(&artifact);
        let written = std::fs::write(&temp, &file).and_then(|()| std::fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            tracing::warn!(path = %path.display(), error = %e, "cannot write to the artifact cache");
        }
    }
}

/// Remove temporary files a crashed writer left behind.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_temp = path.extension().is_some_and(|e| e == "tmp");
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_TEMP));
        if is_temp && stale {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[expect(
    unsafe_code,
    reason = "deserializing runs machine code from the file; the entry's name ties it to this \
              engine's configuration and its checksum was verified, and the cache directory is \
              trusted (documented in this module and in the host's configuration)"
)]
fn deserialize(engine: &wasmtime::Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: see the reason above; wasmtime also checks the artifact's header (version and
    // engine settings) before using it.
    unsafe { Component::deserialize(engine, artifact) }
}
