//! Path safety: resources are checked in canonical form, so that `..` and symlinks cannot
//! lead a permitted path outside what the policy allows.
//!
//! Known limit: the check and the use are separate system calls. The executor opens the
//! final component with `O_NOFOLLOW`, so a symlink planted there after the check is refused,
//! but a principal that can swap a *directory* inside an allowed tree for a symlink between
//! the check and the use could race it. Grant write access to a tree only to principals you
//! would let write anywhere that tree's symlinks could point.

use std::path::{Component, Path, PathBuf};

use crate::error::OslError;

fn invalid(path: &Path, reason: &str) -> OslError {
    OslError::InvalidPath { path: path.to_owned(), reason: reason.to_owned() }
}

/// Refuse paths that are not paths at all (empty, or with a NUL byte).
pub(crate) fn check_text(path: &Path) -> Result<(), OslError> {
    if path.as_os_str().is_empty() {
        return Err(invalid(path, "empty path"));
    }
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(invalid(path, "contains a NUL byte"));
    }
    Ok(())
}

/// How an operation touches a path, which decides how it is canonicalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// The path must exist; a symlink is followed to what it points at (reading, listing).
    Existing,
    /// The path may not exist yet (creating, writing); if it exists it is followed like
    /// `Existing`. A dangling symlink is refused: writing through it would create its
    /// target, wherever that is.
    Create,
    /// The entry itself, not what it points at (deleting, renaming): the parent is
    /// canonicalised and the final name kept, so a symlink is acted on as a link.
    Entry,
}

/// The canonical form of `path` for `access`: absolute, with `.`, `..` and symlinks resolved
/// as [`Access`] describes. The part of a path that does not exist yet must be plain names.
pub fn canonical(path: &Path, access: Access) -> Result<PathBuf, OslError> {
    check_text(path)?;
    match access {
        Access::Existing => std::fs::canonicalize(path)
            .map_err(|source| OslError::Io { operation: "canonicalize", source }),
        Access::Entry => {
            let name = match path.components().next_back() {
                Some(Component::Normal(name)) => name.to_owned(),
                _ => return Err(invalid(path, "must end in a plain name")),
            };
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let mut base = std::fs::canonicalize(parent)
                .map_err(|source| OslError::Io { operation: "canonicalize", source })?;
            base.push(name);
            Ok(base)
        }
        Access::Create => match std::fs::canonicalize(path) {
            Ok(canonical) => Ok(canonical),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(OslError::Io { operation: "canonicalize", source: e })
            }
            Err(_) => create_path(path),
        },
    }
}

/// A path that does not exist (yet): its deepest existing ancestor, canonicalised, plus the
/// missing names, none of which may be a (dangling) symlink.
fn create_path(path: &Path) -> Result<PathBuf, OslError> {
    let mut missing = Vec::new();
    let mut ancestor = path;
    loop {
        if std::fs::symlink_metadata(ancestor).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(invalid(path, "it goes through a symlink whose target does not exist"));
        }
        match ancestor.components().next_back() {
            Some(Component::Normal(name)) => missing.push(name.to_owned()),
            _ => return Err(invalid(path, "the part that does not exist yet must be plain names")),
        }
        let parent = match ancestor.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            Some(_) => Path::new("."),
            None => return Err(invalid(path, "no ancestor of it exists")),
        };
        match std::fs::canonicalize(parent) {
            Ok(mut base) => {
                while let Some(name) = missing.pop() {
                    base.push(name);
                }
                return Ok(base);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ancestor = parent,
            Err(e) => return Err(OslError::Io { operation: "canonicalize", source: e }),
        }
    }
}

/// `path` made absolute and with `.` and `..` removed by text alone (no symlinks resolved).
/// Used to decide about a path that cannot be canonicalised, so that a refusal does not
/// reveal whether something exists outside what the principal may see.
pub fn lexical(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")).join(path)
    };
    let mut out = PathBuf::from("/");
    for component in absolute.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Resolve a program name the way a shell would: a name with a `/` is a path; otherwise the
/// first executable file of that name in the host's `PATH`. Returns its canonical path.
pub fn resolve_program(program: &str) -> Result<PathBuf, OslError> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.is_empty() || program.contains('\0') {
        return Err(OslError::ProgramNotFound(program.to_owned()));
    }
    let found = if program.contains('/') {
        Some(PathBuf::from(program)).filter(|p| executable(p))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).map(|dir| dir.join(program)).find(|p| executable(p))
        })
    };
    let found = found.ok_or_else(|| OslError::ProgramNotFound(program.to_owned()))?;
    std::fs::canonicalize(&found).map_err(|_| OslError::ProgramNotFound(program.to_owned()))
}

/// The canonical form of a path pattern's literal leading directories, so that a pattern
/// written through a symlink (`/var/run/**` where `/var/run` is `/run`) still matches the
/// canonical resources it is compared with. Patterns whose literal part does not exist are
/// kept as written.
pub(crate) fn canonical_pattern(pattern: &str) -> String {
    let literal_end = pattern.find(['*', '?', '[', '{', '\\']).unwrap_or(pattern.len());
    let Some(slash) = pattern[..literal_end].rfind('/') else { return pattern.to_owned() };
    if slash == 0 || !pattern.starts_with('/') {
        return pattern.to_owned();
    }
    match std::fs::canonicalize(&pattern[..slash]) {
        Ok(dir) => format!("{}{}", dir.display(), &pattern[slash..]),
        Err(_) => pattern.to_owned(),
    }
}
