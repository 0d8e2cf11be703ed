//! The app's filesystem grants seen together: which directories each live component may
//! write and which programs each may run. A granted program must not be writable by any
//! component, its own or another: a component that can rewrite (or replace a directory
//! leading to) another's command runs its own code on the host. Checked when a component
//! is prepared, both ways: its commands against everyone's writable directories, and its
//! writable directories against everyone's commands.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What one component was granted, canonical.
#[derive(Debug, Default)]
struct Entry {
    writable: Vec<PathBuf>,
    programs: Vec<PathBuf>,
}

/// The live components' writable directories and programs. Only components granted either
/// are kept: one granted neither can conflict with nobody, so admitting it costs nothing
/// however many components live.
#[derive(Debug, Default)]
pub(crate) struct AppGrants {
    components: HashMap<Arc<str>, Entry>,
}

impl AppGrants {
    /// Record `name`'s grants, or say which program would be writable by whom.
    pub(crate) fn admit(
        &mut self,
        name: &Arc<str>,
        writable: Vec<PathBuf>,
        programs: Vec<PathBuf>,
    ) -> Result<(), String> {
        if writable.is_empty() && programs.is_empty() {
            // Nothing to conflict with; forget what an earlier component of the name had.
            self.components.remove(&**name);
            return Ok(());
        }
        let new = Entry { writable, programs };
        let others = self.components.iter().map(|(n, e)| (&**n, e));
        for (other, entry) in others.chain(std::iter::once((&**name, &new))) {
            if let Some((program, dir)) = exposed(&new.programs, &entry.writable) {
                return Err(refusal(name, program, other, dir));
            }
            if let Some((program, dir)) = exposed(&entry.programs, &new.writable) {
                return Err(refusal(other, program, name, dir));
            }
        }
        self.components.insert(Arc::clone(name), new);
        Ok(())
    }

    /// Forget `name`'s grants (it stopped, or did not start).
    pub(crate) fn remove(&mut self, name: &str) {
        self.components.remove(name);
    }
}

/// The first program inside one of `writable` (the directory itself or one leading to it).
fn exposed<'a>(programs: &'a [PathBuf], writable: &'a [PathBuf]) -> Option<(&'a Path, &'a Path)> {
    programs.iter().find_map(|p| writable.iter().find(|d| p.starts_with(d)).map(|d| (&**p, &**d)))
}

fn refusal(owner: &str, program: &Path, writer: &str, dir: &Path) -> String {
    let whose = if owner == writer {
        "its own writable directory".to_string()
    } else {
        format!("component {writer:?}'s writable directory")
    };
    format!(
        "command {} granted to component {owner:?} is inside {whose} {}: {writer:?} could \
         replace it and have its code run on the host",
        program.display(),
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_writable_by_anyone_is_refused_both_ways() {
        let mut app = AppGrants::default();
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        app.admit(&a, vec!["/srv/a".into()], vec![]).unwrap();
        let e = app.admit(&b, vec![], vec!["/srv/a/tools/run.sh".into()]).unwrap_err();
        assert!(e.contains("\"b\"") && e.contains("\"a\"'s writable directory /srv/a"), "{e}");
        app.admit(&b, vec![], vec!["/usr/bin/true".into()]).unwrap();
        let e = app.admit(&c, vec!["/usr".into()], vec![]).unwrap_err();
        assert!(e.contains("/usr/bin/true granted to component \"b\""), "{e}");
        let e = app.admit(&c, vec!["/opt".into()], vec!["/opt/x".into()]).unwrap_err();
        assert!(e.contains("its own writable directory /opt"), "{e}");
        app.remove("b");
        app.admit(&c, vec!["/usr".into()], vec![]).unwrap();
    }
}
