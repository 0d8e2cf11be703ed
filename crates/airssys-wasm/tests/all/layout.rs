//! The rules of the repository's layout that `ARCHITECTURE.md` states as invariants, checked
//! by reading the manifests, `Cargo.lock` and the sources (nothing is built or run).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The library crates under `crates/`.
const LIBRARIES: &[&str] = &[
    "airssys-cluster",
    "airssys-observer",
    "airssys-osl",
    "airssys-osl-macros",
    "airssys-rt",
    "airssys-wasm",
    "airssys-wasm-component",
    "test-programs",
];

/// The programs under `crates/`: the only crates that may print to stdout or use `anyhow`.
const PROGRAMS: &[&str] = &["airssys-bench", "airssys-wasm-cli"];

/// The layers of `airssys-wasm`'s modules, bottom first, as `ARCHITECTURE.md` lists them: a
/// module may use modules of its own layer or below, never above.
const LAYERS: &[&[&str]] = &[
    &["types", "trace", "spans", "wire", "address", "envelope"],
    &["topics", "audit", "vitals", "capability", "router", "http_codec", "outgoing"],
    &["state", "fs_audit", "handle_limit", "preopens", "keyvalue"],
    &["actor", "service"],
    &["host"],
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn manifest_of(krate: &str) -> toml::Table {
    let path = root().join("crates").join(krate).join("Cargo.toml");
    read(&path).parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every dependency a crate manifest declares (normal, dev and build, also under
/// `[target.*]`), as (section, name, specification).
fn dependencies(manifest: &toml::Table) -> Vec<(String, String, toml::Value)> {
    let mut tables = vec![(String::new(), manifest)];
    if let Some(toml::Value::Table(targets)) = manifest.get("target") {
        for (cfg, table) in targets {
            if let toml::Value::Table(table) = table {
                tables.push((format!("target.{cfg}."), table));
            }
        }
    }
    let mut out = Vec::new();
    for (prefix, table) in tables {
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            if let Some(toml::Value::Table(deps)) = table.get(section) {
                for (name, spec) in deps {
                    out.push((format!("{prefix}{section}"), name.clone(), spec.clone()));
                }
            }
        }
    }
    out
}

/// The Rust files under `dir`, recursively, in order.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The code of a source file: without its unit tests (a `#[cfg(test)] mod tests` at the end)
/// and without comments (each line cut at its first `//`).
fn code(text: &str) -> String {
    let text = text.find("#[cfg(test)]\nmod tests").map_or(text, |end| &text[..end]);
    text.lines()
        .map(|line| line.find("//").map_or(line, |i| &line[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The non-test code of every source file of a library crate, with its path.
fn library_code() -> Vec<(PathBuf, String)> {
    LIBRARIES
        .iter()
        .flat_map(|krate| sources(&root().join("crates").join(krate).join("src")))
        .map(|path| {
            let code = code(&read(&path));
            (path, code)
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `code` invokes the macro `name!` (not one whose name merely ends with it).
fn invokes(code: &str, name: &str) -> bool {
    let call = format!("{name}!(");
    code.match_indices(&call).any(|(i, _)| !code[..i].chars().next_back().is_some_and(is_ident))
}

#[test]
fn every_crate_is_a_library_or_a_program() {
    let found: BTreeSet<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let known: BTreeSet<String> =
        LIBRARIES.iter().chain(PROGRAMS).map(|s| (*s).to_owned()).collect();
    assert_eq!(found, known, "classify each crate as a library or a program in this file");
}

/// `airssys-rt` depends on nothing of WebAssembly: none of its own dependencies is a WASM or
/// WASI crate, and nothing it pulls in is wasmtime, cranelift, a WASM tool or an airssys
/// WASM crate. (`Cargo.lock` also lists target-specific dependencies, such as the `wasi`
/// crate that tokio's `mio` uses only when built for WASI, so the walk through it looks for
/// the engine and its tools.)
#[test]
fn airssys_rt_depends_on_nothing_of_webassembly() {
    let direct = dependencies(&manifest_of("airssys-rt"));
    for (section, name, _) in &direct {
        let wasm = ["wasm", "wasi", "wit-", "wast", "wat", "cranelift", "airssys-wasm", "winch"]
            .iter()
            .any(|p| name.starts_with(p));
        assert!(!wasm, "airssys-rt's [{section}] has {name}");
    }

    let lock: toml::Table = read(&root().join("Cargo.lock")).parse().unwrap();
    let packages = lock["package"].as_array().expect("[[package]] in Cargo.lock");
    let mut by_name: BTreeMap<&str, Vec<&toml::Table>> = BTreeMap::new();
    for package in packages {
        let package = package.as_table().unwrap();
        by_name.entry(package["name"].as_str().unwrap()).or_default().push(package);
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![("airssys-rt".to_owned(), None::<String>)];
    while let Some((name, version)) = todo.pop() {
        if !seen.insert((name.clone(), version.clone())) {
            continue;
        }
        for package in &by_name[name.as_str()] {
            if version.as_deref().is_some_and(|v| package["version"].as_str() != Some(v)) {
                continue;
            }
            let deps = package.get("dependencies").and_then(toml::Value::as_array);
            for dep in deps.into_iter().flatten() {
                let mut words = dep.as_str().unwrap().split_whitespace();
                let name = words.next().unwrap().to_owned();
                todo.push((name, words.next().map(str::to_owned)));
            }
        }
    }
    let names: BTreeSet<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains("tokio"), "the walk through Cargo.lock found tokio: {names:?}");
    let engine = |n: &str| {
        ["wasmtime", "cranelift", "winch", "wit-", "wasmparser", "wasm-encoder", "wasm-metadata"]
            .iter()
            .any(|p| n.starts_with(p))
            || ["wat", "wast", "airssys-wasm", "airssys-wasm-component"].contains(&n)
    };
    let found: Vec<&&str> = names.iter().filter(|n| engine(n)).collect();
    assert!(found.is_empty(), "airssys-rt pulls in {found:?}");
}

/// Library crates write nothing to stdout: the workspace's clippy lint `print_stdout` is on
/// for every one of them (and CI denies warnings), none allows it, none prints with
/// `print!`/`println!`, names `io::stdout`, or lets a child process or a guest inherit the
/// host's stdout.
#[test]
fn library_crates_write_nothing_to_stdout() {
    let workspace: toml::Table = read(&root().join("Cargo.toml")).parse().unwrap();
    let level = &workspace["workspace"]["lints"]["clippy"]["print_stdout"];
    let level = level.as_str().or_else(|| level.get("level").and_then(toml::Value::as_str));
    assert!(matches!(level, Some("warn" | "deny" | "forbid")), "print_stdout is {level:?}");
    for krate in LIBRARIES {
        let manifest = manifest_of(krate);
        let inherits = manifest.get("lints").and_then(|l| l.get("workspace"));
        assert_eq!(inherits, Some(&toml::Value::Boolean(true)), "{krate} has no [lints] workspace");
    }
    for (path, code) in library_code() {
        for word in
            ["print_stdout", "io::stdout", "Stdio::inherit", "inherit_stdout", "inherit_stdio"]
        {
            assert!(!code.contains(word), "{} has {word}", path.display());
        }
        for name in ["print", "println"] {
            assert!(!invokes(&code, name), "{} calls {name}!", path.display());
        }
    }
}

/// Libraries report errors through `thiserror` types with lowercase messages; `anyhow` is a
/// dependency of the programs only.
#[test]
fn library_errors_are_thiserror_types_with_lowercase_messages() {
    for krate in LIBRARIES {
        for (section, name, _) in dependencies(&manifest_of(krate)) {
            assert_ne!(name, "anyhow", "{krate}'s [{section}] has anyhow");
        }
    }
    let mut error_types = 0;
    for (path, code) in library_code() {
        let place = path.display();
        for (i, _) in code.match_indices("#[error(\"") {
            let first = code[i + "#[error(\"".len()..].chars().next();
            assert!(
                !first.is_some_and(|c| c.is_ascii_uppercase()),
                "{place}: an error message starts with a capital: {}",
                code[i..].lines().next().unwrap()
            );
        }
        assert!(!code.contains("Error for "), "{place}: an error type implemented by hand");
        let lines: Vec<&str> = code.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let Some(rest) = line
                .trim_start()
                .strip_prefix("pub enum ")
                .or_else(|| line.trim_start().strip_prefix("pub struct "))
            else {
                continue;
            };
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.ends_with("Error") {
                continue;
            }
            let attributes = lines[..n]
                .iter()
                .rev()
                .take_while(|l| {
                    let l = l.trim();
                    !l.is_empty() && !l.ends_with('}') && !l.ends_with(';')
                })
                .any(|l| l.contains("thiserror::Error"));
            assert!(attributes, "{place}: {name} does not derive thiserror::Error");
            error_types += 1;
        }
    }
    assert!(error_types >= 10, "only {error_types} error types found");
}

/// Every dependency of every crate of the workspace takes its version from the root
/// `[workspace.dependencies]` (`workspace = true`), which is the one place a version is set.
#[test]
fn every_dependency_version_is_set_in_the_workspace() {
    let workspace: toml::Table = read(&root().join("Cargo.toml")).parse().unwrap();
    let shared =
        workspace["workspace"]["dependencies"].as_table().expect("[workspace.dependencies]");
    for krate in LIBRARIES.iter().chain(PROGRAMS) {
        for (section, name, spec) in dependencies(&manifest_of(krate)) {
            let spec = spec.as_table();
            let inherited =
                spec.and_then(|s| s.get("workspace")) == Some(&toml::Value::Boolean(true));
            assert!(inherited, "{krate}'s [{section}] {name} does not say `workspace = true`");
            for key in ["version", "path", "git"] {
                assert!(
                    !spec.unwrap().contains_key(key),
                    "{krate}'s [{section}] {name} sets {key}"
                );
            }
            assert!(shared.contains_key(&name), "{name} is not in [workspace.dependencies]");
        }
    }
}

/// The WIT in `wit/` is the only thing host and guest share: the guest SDK depends on no
/// airssys crate, the host does not depend on the SDK, and both generate their bindings from
/// `wit/`.
#[test]
fn the_wit_directory_is_the_only_contract_between_host_and_guest() {
    for (section, name, _) in dependencies(&manifest_of("airssys-wasm-component")) {
        assert!(!name.starts_with("airssys"), "the SDK's [{section}] has {name}");
    }
    for (section, name, _) in dependencies(&manifest_of("airssys-wasm")) {
        assert_ne!(name, "airssys-wasm-component", "the host's [{section}] has the SDK");
    }
    for file in ["airssys-wasm/src/bindings.rs", "airssys-wasm-component/src/lib.rs"] {
        let text = read(&root().join("crates").join(file));
        assert!(text.contains("path: \"../../wit\""), "{file} does not bind wit/");
    }
    assert!(root().join("wit/airssys.wit").is_file());
}

/// `airssys-wasm`'s modules form no import circle, and the modules `ARCHITECTURE.md` places
/// in layers point down (or sideways) only. A module's imports are the `crate::` paths in its
/// code (unit tests and comments left out), re-exports of the crate root resolved to the
/// module that defines them.
#[test]
fn airssys_wasm_modules_point_down_only() {
    let src = root().join("crates/airssys-wasm/src");
    let lib = code(&read(&src.join("lib.rs")));
    let modules: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect();
    let mut reexported = BTreeMap::new();
    for statement in lib.split("pub use ").skip(1) {
        let statement = &statement[..statement.find(';').expect("a `pub use` ends")];
        let (module, items) = statement.split_once("::").expect("a `pub use` names a module");
        for item in items.split(|c: char| !is_ident(c)).filter(|w| !w.is_empty()) {
            reexported.insert(item.to_owned(), module.trim().to_owned());
        }
    }
    for layer in LAYERS {
        for module in *layer {
            assert!(modules.contains(*module), "ARCHITECTURE.md's layer names {module}");
        }
    }

    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in sources(&src) {
        let relative = path.strip_prefix(&src).unwrap();
        if relative == Path::new("lib.rs") {
            continue;
        }
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        let code = code(&read(&path));
        for name in crate_paths(&code) {
            let target = if modules.contains(&name) { Some(&name) } else { reexported.get(&name) };
            if let Some(target) = target.filter(|t| **t != module) {
                uses.entry(module.clone()).or_default().insert(target.clone());
            }
        }
    }

    let host_uses = uses.get("host").cloned().unwrap_or_default();
    assert!(host_uses.contains("actor") && host_uses.contains("router"), "host uses {host_uses:?}");

    // No circle: a depth-first walk never meets a module that is still on its path.
    fn walk(
        module: &str,
        uses: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(i) = path.iter().position(|m| m == module) {
            panic!("import circle: {} -> {module}", path[i..].join(" -> "));
        }
        if done.contains(module) {
            return;
        }
        path.push(module.to_owned());
        for next in uses.get(module).into_iter().flatten() {
            walk(next, uses, path, done);
        }
        path.pop();
        done.insert(module.to_owned());
    }
    let mut done = BTreeSet::new();
    for module in &modules {
        walk(module, &uses, &mut Vec::new(), &mut done);
    }

    let layer_of = |m: &str| LAYERS.iter().position(|layer| layer.contains(&m));
    for (module, targets) in &uses {
        for target in targets {
            if let (Some(from), Some(to)) = (layer_of(module), layer_of(target)) {
                assert!(to <= from, "{module} (layer {from}) uses {target} (layer {to}), above it");
            }
        }
    }
}

/// The first segment of every `crate::` path in `code`; for `crate::{a::B, c}`, `a` and `c`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        if code[..i].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            out.push(rest.chars().take_while(|c| is_ident(*c)).collect());
            continue;
        };
        let (mut depth, mut first, mut word) = (1, true, String::new());
        for c in group.chars() {
            if is_ident(c) {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                if first {
                    out.push(std::mem::take(&mut word));
                }
                word.clear();
                first = false;
            }
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => break,
                '}' => depth -= 1,
                ',' if depth == 1 => first = true,
                _ => {}
            }
        }
    }
    out
}

/// The crate's one `unsafe` block deserializes a cached artifact (`cache.rs`); `unsafe_code`
/// is denied everywhere else.
#[test]
fn airssys_wasm_has_unsafe_code_only_in_the_artifact_cache() {
    let workspace: toml::Table = read(&root().join("Cargo.toml")).parse().unwrap();
    assert_eq!(workspace["workspace"]["lints"]["rust"]["unsafe_code"].as_str(), Some("deny"));
    let src = root().join("crates/airssys-wasm/src");
    for path in sources(&src) {
        let code = code(&read(&path));
        let has = code.split(|c: char| !is_ident(c)).any(|w| w == "unsafe" || w == "unsafe_code");
        assert_eq!(has, path.ends_with("cache.rs"), "{}", path.display());
    }
}

/// `airssys-rt` and `airssys-wasm` take their locks only through their `sync.rs`, which
/// recovers a poisoned lock.
#[test]
fn locks_are_taken_only_through_sync_rs() {
    for krate in ["airssys-rt", "airssys-wasm"] {
        for path in sources(&root().join("crates").join(krate).join("src")) {
            if path.ends_with("sync.rs") {
                continue;
            }
            let code = code(&read(&path));
            for call in [".lock()", ".try_lock()", ".read().", ".write()."] {
                let at = code.match_indices(call).find(|(i, _)| {
                    // `.read().` / `.write().` as a lock guard taken and used at once.
                    call.starts_with(".lock") || call.starts_with(".try") || {
                        let after = &code[i + call.len()..];
                        ["unwrap", "expect", "unwrap_or_else", "await"]
                            .iter()
                            .any(|w| after.starts_with(w))
                    }
                });
                assert!(at.is_none(), "{} takes a lock with {call}", path.display());
            }
        }
    }
}

/// No WebAssembly binary is kept in the source tree: every guest the tests run is compiled
/// from source (`crates/test-programs`, `examples/`).
#[test]
fn no_prebuilt_webassembly_is_kept_in_the_tree() {
    let mut dirs: Vec<PathBuf> =
        ["crates", "examples", "fuzz", "wit"].iter().map(|d| root().join(d)).collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    dirs.push(path);
                }
            } else {
                let binary = [".wasm", ".cwasm"].iter().any(|e| name.ends_with(e));
                assert!(!binary, "{} is prebuilt WebAssembly", path.display());
            }
        }
    }
}
