//! Path safety: resources are checked in canonical form, so that `..` and symlinks cannot
//! lead a permitted path outside what the policy allows.

use std::path::{Component, Path, PathBuf};

use crate::error::OslError;

fn invalid(path: &Path, reason: &str) -> OslError {
    OslError::InvalidPath { path: path.to_owned(), reason: reason.to_owned() }
}

/// The canonical form of `path`: absolute, with `.`, `..` and every symlink resolved.
///
/// When `existing` is false the path itself may be missing (a file about to be created):
/// its deepest existing ancestor is canonicalised and the missing rest is appended, which
/// must then be plain names (no `..`). A path ending in a symlink is resolved to its target,
/// which is what the operation would touch.
pub fn canonical(path: &Path, existing: bool) -> Result<PathBuf, OslError> {
    if path.as_os_str().is_empty() {
        return Err(invalid(path, "empty path"));
    }
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(invalid(path, "contains a NUL byte"));
    }
    match std::fs::canonicalize(path) {
        Ok(canonical) => return Ok(canonical),
        Err(e) if existing || e.kind() != std::io::ErrorKind::NotFound => {
            return Err(OslError::Io { operation: "canonicalize", source: e });
        }
        Err(_) => {}
    }
    // Walk up to the deepest ancestor that exists.
    let mut missing = Vec::new();
    let mut ancestor = path;
    loop {
        let Some(parent) = ancestor.parent() else {
            return Err(invalid(path, "no ancestor of it exists"));
        };
        match ancestor.components().next_back() {
            Some(Component::Normal(name)) => missing.push(name.to_owned()),
            _ => return Err(invalid(path, "the part that does not exist yet must be plain names")),
        }
        let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
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
