//! Compiles the guest programs in `guests/` to `wasm32-wasip2` components and writes their
//! paths into `$OUT_DIR/guests.rs` as constants (`ECHO`, `COUNTER`, ...), so that tests never
//! hand-build WebAssembly and nothing prebuilt is checked in.

use std::path::PathBuf;
use std::process::Command;

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
    std::fs::write(out_dir.join("guests.rs"), consts).expect("write guests.rs");
}
