//! The host's own places (the artifact cache, the data directory, the audit log, the control
//! socket) that no component may be granted through a filesystem grant.
//!
//! A component granted a directory that contains one of them could rewrite compiled code the
//! host then runs, read every component's storage, rewrite the audit log, or replace the
//! control socket. Each grant of every component is compared, as a canonical path, with each
//! protected place when the host starts and when a component is spawned later. (Grants are
//! then opened once and cannot be redirected by symlinks at run time: see the WASI grants.)

use std::path::{Component, Path, PathBuf};

/// One protected place.
#[derive(Debug, Clone)]
pub(crate) struct Protected {
    /// Canonical (as far as it exists).
    path: PathBuf,
    /// What it is, for the error: "the host's artifact cache".
    what: String,
    /// A directory: a grant may neither contain it nor lie inside it. A file: a grant may
    /// not contain it (a directory inside the file's directory cannot reach it).
    is_dir: bool,
}

impl Protected {
    /// The directory `path`: no grant may contain it or lie inside it.
    pub(crate) fn dir(path: &Path, what: impl Into<String>) -> Self {
        Protected { path: canonical(path), what: what.into(), is_dir: true }
    }

    /// The file `path`: no grant may contain it.
    pub(crate) fn file(path: &Path, what: impl Into<String>) -> Self {
        Protected { path: canonical(path), what: what.into(), is_dir: false }
    }
}

/// `path` made absolute with symlinks resolved, for the part of it that exists; the rest is
/// appended lexically (`..` taken off), so that a place the host creates later compares
/// right.
pub(crate) fn canonical(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut out = real;
            for part in rest.iter().rev() {
                match part {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::Normal(name) => out.push(name),
                    _ => {}
                }
            }
            return out;
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Refuse the grant of `host` (a directory, checked to exist) when it overlaps a protected
/// place; the error says which grant and which place.
pub(crate) fn check_grant(host: &Path, protected: &[Protected]) -> Result<(), String> {
    let granted = canonical(host);
    for place in protected {
        let contains = place.path.starts_with(&granted);
        let inside = place.is_dir && granted.starts_with(&place.path);
        if contains || inside {
            let how = if contains { "contains it" } else { "lies inside it" };
            return Err(format!(
                "granted directory {} ({}) overlaps {} {} ({how}): a component must never \
                 reach the host's own files; grant a directory outside it",
                host.display(),
                granted.display(),
                place.what,
                place.path.display(),
            ));
        }
    }
    Ok(())
}
