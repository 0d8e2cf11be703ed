//! `airssys dev` (`airssys up --watch`): the app runs as with `up`, and when a source file of
//! one of its component projects changes, the project is rebuilt and every component whose
//! file changed is upgraded in place (`Host::upgrade`). A build error is shown and the old
//! code keeps running.
//!
//! The projects watched: the manifest's own directory when it is a component project (as
//! `airssys new` makes it), and each component's `build` directory; a member of a cargo
//! workspace is built into the workspace's `target/`. Changes are found by polling a
//! fingerprint of the files (path, size, modification time: no file-system notification to
//! set up, and it works the same on every file system), skipping build outputs and what the
//! host itself writes (the component store, the audit log, the data directory).

use std::path::{Path, PathBuf};
use std::time::Duration;

use airssys_wasm::{Host, Source, Upgrade};

use crate::Globals;
use crate::output::{emit, note};

/// How often the sources are looked at.
const POLL: Duration = Duration::from_millis(300);

/// How many polls a change may go on for before the project is rebuilt anyway.
const SETTLE_POLLS: usize = 10;

/// Directories that hold what builds make, not sources (dot-directories are skipped too).
const SKIPPED: &[&str] = &["target", "build", "node_modules", "__pycache__"];

/// What `airssys dev` watches, and the component files it upgrades from.
pub struct Watched {
    /// Each project's directory (watched) and the directory it is built from (its cargo
    /// workspace's root for a workspace member, where `target/` is).
    projects: Vec<(PathBuf, PathBuf)>,
    /// What the host itself writes (the component store and its cache), if it is in a
    /// project.
    ignored: Vec<PathBuf>,
    /// Each component's name and file.
    components: Vec<(String, PathBuf)>,
}

impl Watched {
    /// The projects and component files of the app at `manifest` (its directory `base`).
    pub fn of(manifest: &airssys_wasm::manifest::Manifest, base: &Path) -> Watched {
        let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
        let base = &absolute(base);
        let mut projects: Vec<(PathBuf, PathBuf)> = Vec::new();
        if crate::compile::is_project(base) {
            projects.push((base.to_owned(), built_from(base)));
        }
        // What the host writes: the component store, the audit log, the data directory.
        let mut ignored: Vec<PathBuf> =
            crate::store::home().map(|h| absolute(&h)).into_iter().collect();
        ignored.extend(manifest.audit.file.iter().map(|f| absolute(&base.join(f))));
        ignored.extend(manifest.app.data_dir.iter().map(|d| absolute(&base.join(d))));
        let mut components = Vec::new();
        for (name, section) in &manifest.components {
            if let Some(dir) = &section.build {
                let dir = absolute(&base.join(dir));
                if !projects.iter().any(|(p, _)| *p == dir) {
                    let root = built_from(&dir);
                    projects.push((dir, root));
                }
            }
            if let Some(source) = &section.source {
                components.push((name.clone(), base.join(source.get_ref())));
            }
        }
        Watched { projects, ignored, components }
    }

    /// Whether there is anything to watch.
    pub fn is_empty(&self) -> bool {
        self.projects.is_empty()
    }

    /// The directories watched.
    pub fn projects(&self) -> impl Iterator<Item = &Path> {
        self.projects.iter().map(|(watched, _)| watched.as_path())
    }
}

/// Where a project's build goes: a Rust crate in a cargo workspace into the workspace's
/// `target/` (where its manifest's `source` points), anything else into its own.
fn built_from(dir: &Path) -> PathBuf {
    if !dir.join("Cargo.toml").is_file() {
        return dir.to_owned();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let located = std::process::Command::new(cargo)
        .args(["locate-project", "--workspace", "--message-format", "plain", "--offline"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output();
    match located {
        Ok(out) if out.status.success() => {
            let manifest = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            manifest.parent().map_or_else(|| dir.to_owned(), Path::to_path_buf)
        }
        _ => dir.to_owned(),
    }
}

/// A fingerprint of the source files under `dir` (each one's path, size and modification
/// time), but for `ignored`: any edit, addition, removal or rename changes it.
fn fingerprint(dir: &Path, ignored: &[PathBuf]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut files = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            if name.starts_with('.') || ignored.contains(&path) {
                continue;
            }
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if !SKIPPED.contains(&&*name) {
                    todo.push(path);
                }
            } else if let Ok(meta) = entry.metadata() {
                files.push((path, meta.len(), meta.modified().ok()));
            }
        }
    }
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    files.hash(&mut hasher);
    hasher.finish()
}

/// The SHA-256 of a file, if it can be read.
fn digest(path: &Path) -> Option<[u8; 32]> {
    use sha2::Digest;
    std::fs::read(path).ok().map(|bytes| sha2::Sha256::digest(&bytes).into())
}

/// Watch until aborted: rebuild a project whose sources changed and upgrade the components
/// whose files the build changed.
pub async fn run(host: Host, watched: Watched, g: Globals) {
    let ignored = watched.ignored.clone();
    let stamps = |projects: Vec<PathBuf>| {
        let ignored = ignored.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                projects.iter().map(|p| fingerprint(p, &ignored)).collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default()
        }
    };
    let digests = |components: Vec<(String, PathBuf)>| async move {
        tokio::task::spawn_blocking(move || {
            components.iter().map(|(_, file)| digest(file)).collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default()
    };
    let watched_dirs: Vec<PathBuf> = watched.projects.iter().map(|(w, _)| w.clone()).collect();
    let mut seen = stamps(watched_dirs.clone()).await;
    let mut running = digests(watched.components.clone()).await;
    loop {
        tokio::time::sleep(POLL).await;
        let now = stamps(watched_dirs.clone()).await;
        if now == seen {
            continue;
        }
        // Editors write in several steps: wait until the sources are still (for a while).
        let mut settled = now;
        for _ in 0..SETTLE_POLLS {
            tokio::time::sleep(POLL).await;
            let again = stamps(watched_dirs.clone()).await;
            if again == settled {
                break;
            }
            settled = again;
        }
        let changed: Vec<(PathBuf, PathBuf)> = watched
            .projects
            .iter()
            .zip(seen.iter().zip(&settled))
            .filter(|(_, (before, after))| before != after)
            .map(|(p, _)| p.clone())
            .collect();
        seen = settled;
        for (project, root) in changed {
            note(&g, &format!("{} changed: rebuilding ...", project.display()));
            let quiet = g.quiet;
            let dir = project.clone();
            let built = tokio::task::spawn_blocking(move || {
                crate::compile::build_project_into(&dir, &root.join("target"), false, quiet)
            })
            .await;
            let failed = match built {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(format!("{e:#}")),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = failed {
                note(&g, &format!("build failed ({why}); the old code keeps running"));
                emit_json(&g, serde_json::json!({ "build_failed": project, "error": why }));
            }
        }
        let now = digests(watched.components.clone()).await;
        for (i, (name, file)) in watched.components.iter().enumerate() {
            let (Some(before), Some(after)) = (running.get(i), now.get(i)) else { continue };
            if before == after || after.is_none() {
                continue;
            }
            match host.upgrade(name, Upgrade::new(Source::File(file.clone()))).await {
                Ok(done) => {
                    note(&g, &format!("upgraded {name} from {} to {}", done.from, done.to));
                    emit_json(
                        &g,
                        serde_json::json!({ "upgraded": name, "from": &*done.from, "to": &*done.to }),
                    );
                }
                Err(e) => {
                    let why = format!("{:#}", anyhow::Error::from(e));
                    note(
                        &g,
                        &format!("upgrade of {name} failed ({why}); the old code keeps running"),
                    );
                    emit_json(&g, serde_json::json!({ "upgrade_failed": name, "error": why }));
                }
            }
        }
        running = now;
    }
}

/// In JSON mode, one line for what the loop did.
fn emit_json(g: &Globals, value: serde_json::Value) {
    if g.format == crate::output::Format::Json {
        emit(g, "", value);
    }
}
