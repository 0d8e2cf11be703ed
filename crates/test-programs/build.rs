//! Compiles the guest programs to components and writes their paths into
//! `$OUT_DIR/guests.rs` as constants, so that tests never hand-build WebAssembly and nothing
//! prebuilt is checked in:
//! - the Rust guests in `guests/` (`ECHO`, `COUNTER`, ...), for `wasm32-wasip2` with cargo;
//! - the Python guests in `guests-python/` (`PYTHON_PROBE`, ...) with componentize-py, each
//!   from its folder's `app.py` and the Python guest library in `sdk/python`;
//! - the JavaScript guests in `guests-js/` (`JS_PROBE`, ...) with componentize-js, each from
//!   its folder's `app.js` and the JavaScript guest library in `sdk/javascript`.
//!
//! The Python and JavaScript toolchains are pinned and installed from PyPI and npm by
//! `tools/install-guest-toolchains` (which this script runs; it costs nothing once they are
//! there). They build while cargo builds the Rust guests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let guests = manifest_dir.join("guests");
    let wit = manifest_dir.join("../../wit");
    println!("cargo:rerun-if-changed={}", guests.display());
    println!("cargo:rerun-if-changed={}", wit.display());
    // Guests written with the SDK build it from source.
    println!("cargo:rerun-if-changed={}", manifest_dir.join("../airssys-wasm-component").display());

    let root = manifest_dir.join("../..");
    for dir in ["guests-python", "guests-js", "../../sdk", "../../tools"] {
        println!("cargo:rerun-if-changed={}", manifest_dir.join(dir).display());
    }
    let foreign = ForeignGuests::start(&root, &manifest_dir, &out_dir);

    let target_dir = out_dir.join("guests-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--release", "--locked", "--target", TARGET, "--manifest-path"])
        .arg(guests.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir);
    // Flags meant for the host build must not leak into the guest build.
    // Nor may a wrapper such as clippy's: the guests are built, not linted (their bindings
    // are generated code).
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        build.env_remove(var);
    }
    let status = build.status().expect("could not run cargo to build the guest programs");
    if !status.success() {
        panic!(
            "building the guest programs failed; if the message above says the target is \
             missing, install it with `rustup target add {TARGET}`"
        );
    }

    let mut consts = String::new();
    for entry in std::fs::read_dir(&guests).expect("guests directory") {
        let path = entry.expect("guests entry").path();
        if !path.join("Cargo.toml").exists() || path == guests {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let wasm = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("airssys_guest_{}.wasm", name.replace('-', "_")));
        assert!(wasm.exists(), "guest {name} did not produce {}", wasm.display());
        consts.push_str(&format!(
            "/// The `{name}` guest component (see `guests/{name}/src/lib.rs`).\npub const {}: &str = {:?};\n",
            name.to_uppercase().replace('-', "_"),
            wasm.display().to_string()
        ));
    }
    consts.push_str(&foreign.finish());
    std::fs::write(out_dir.join("guests.rs"), consts).expect("write guests.rs");
}

/// The Python and JavaScript guests, building in child processes.
struct ForeignGuests {
    builds: Vec<(String, PathBuf, PathBuf, Child)>,
}

impl ForeignGuests {
    /// Install the toolchains if they are missing, then start every build.
    fn start(root: &Path, manifest_dir: &Path, out_dir: &Path) -> ForeignGuests {
        let installer = root.join("tools/install-guest-toolchains");
        let output = Command::new(&installer).output().unwrap_or_else(|e| {
            panic!("could not run {}: {e}", installer.display());
        });
        if !output.status.success() {
            panic!(
                "installing the Python and JavaScript guest toolchains failed ({}):\n{}",
                installer.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let toolchains = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let wit = root.join("wit");
        let out = out_dir.join("foreign-guests");
        std::fs::create_dir_all(&out).expect("create the foreign guests' output directory");
        // build.mjs resolves componentize-js from a node_modules beside it.
        // With the SDK's airssys.js beside it, which the guests import.
        let js_build = out.join("build.mjs");
        std::fs::copy(root.join("sdk/javascript/build.mjs"), &js_build).expect("copy build.mjs");
        std::fs::copy(root.join("sdk/javascript/airssys.js"), out.join("airssys.js"))
            .expect("copy airssys.js");
        let modules = out.join("node_modules");
        let _ = std::fs::remove_file(&modules);
        std::os::unix::fs::symlink(toolchains.join("js/node_modules"), &modules)
            .expect("link the JavaScript toolchain");

        let mut builds = Vec::new();
        for (language, prefix) in [("python", "PYTHON"), ("js", "JS")] {
            let guests = manifest_dir.join(format!("guests-{language}"));
            let Ok(entries) = std::fs::read_dir(&guests) else { continue };
            for entry in entries {
                let dir = entry.expect("guests entry").path();
                let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                    continue;
                };
                let wasm = out.join(format!("{language}-{name}.wasm"));
                let log = out.join(format!("{language}-{name}.log"));
                let mut command = if language == "python" {
                    // Built from a copy with the guest library beside it: componentize-py
                    // writes `__pycache__/` into its module path, which must not be the
                    // source tree (it would dirty it and rerun this script every build).
                    let staged = out.join(format!("python-{name}"));
                    let _ = std::fs::remove_dir_all(&staged);
                    std::fs::create_dir_all(&staged).expect("create a staging directory");
                    for file in std::fs::read_dir(&dir).expect("read a Python guest").flatten() {
                        if file.path().extension().is_some_and(|e| e == "py") {
                            std::fs::copy(file.path(), staged.join(file.file_name()))
                                .expect("stage a Python guest");
                        }
                    }
                    std::fs::copy(root.join("sdk/python/airssys.py"), staged.join("airssys.py"))
                        .expect("stage airssys.py");
                    let mut c = Command::new(toolchains.join("python/bin/componentize-py"));
                    c.arg("-d").arg(&wit).args(["-w", "component", "componentize", "app", "-p"]);
                    c.arg(&staged).arg("-o").arg(&wasm);
                    c.current_dir(&staged);
                    c
                } else {
                    let mut c = Command::new("node");
                    c.arg(&js_build).arg(dir.join("app.js")).arg(&wit).arg(&wasm);
                    c
                };
                let log_file = std::fs::File::create(&log).expect("create a build log");
                command.stdout(log_file.try_clone().expect("log")).stderr(log_file);
                let child = command.spawn().unwrap_or_else(|e| {
                    panic!("could not start the {language} build of {}: {e}", dir.display())
                });
                let constant = format!("{prefix}_{}", name.to_uppercase().replace('-', "_"));
                builds.push((constant, wasm, log, child));
            }
        }
        ForeignGuests { builds }
    }

    /// Wait for every build; the constants naming their components.
    fn finish(self) -> String {
        let mut consts = String::new();
        for (constant, wasm, log, mut child) in self.builds {
            let status = child.wait().expect("wait for a guest build");
            if !status.success() || !wasm.exists() {
                panic!(
                    "building {} failed:\n{}",
                    wasm.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            consts.push_str(&format!(
                "/// A guest component built from `{}`.\npub const {constant}: &str = {:?};\n",
                wasm.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
                wasm.display().to_string()
            ));
        }
        consts
    }
}
