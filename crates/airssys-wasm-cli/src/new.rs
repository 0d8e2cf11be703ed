//! `airssys new`: a component project that builds as generated, with its app manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::Globals;
use crate::output::{emit, note};

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The project's name (a crate name: letters, digits, `-`, `_`).
    name: String,
    /// Where to create it (default: ./NAME).
    #[arg(long)]
    path: Option<PathBuf>,
    /// The language the component is written in.
    #[arg(long, value_enum, default_value_t = Language::Rust)]
    lang: Language,
}

/// The languages `airssys new` makes projects in (`airssys build` builds each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust, with the guest SDK crate, built with cargo for wasm32-wasip2.
    Rust,
    /// Python, with `airssys.py`, built with componentize-py.
    Python,
    /// JavaScript, with `airssys.js`, built with componentize-js.
    #[value(alias = "javascript")]
    Js,
}

/// The contract, copied into Python and JavaScript projects (their toolchains read it).
pub const WIT: &str = include_str!("../../../wit/airssys.wit");
pub const PYTHON_SDK: &str = include_str!("../../../sdk/python/airssys.py");
const PYTHON_APP: &str = include_str!("../../../sdk/python/template/app.py");
pub const JS_SDK: &str = include_str!("../../../sdk/javascript/airssys.js");
const JS_APP: &str = include_str!("../../../sdk/javascript/template/app.js");
pub const JS_BUILD: &str = include_str!("../../../sdk/javascript/build.mjs");
const JS_PACKAGE: &str = include_str!("../../../sdk/javascript/package.json");
const JS_LOCK: &str = include_str!("../../../sdk/javascript/package-lock.json");

/// Where `airssys build` puts a Python or JavaScript project's component.
pub const FOREIGN_OUTPUT: &str = "build/app.wasm";

/// Where the guest SDK's source is: next to this crate in the AirsSys source tree.
pub fn sdk_dir() -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../airssys-wasm-component");
    dir.canonicalize().with_context(|| {
        format!(
            "the guest SDK is not at {} (this airssys was built from an AirsSys source tree \
             that has moved); rebuild airssys from the source tree you want to use",
            dir.display()
        )
    })
}

fn valid(name: &str) -> bool {
    // `host` is the address of the embedding host itself.
    name != "host"
        && !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn run(args: NewArgs, g: &Globals) -> anyhow::Result<ExitCode> {
    if !valid(&args.name) {
        bail!(
            "{:?} is not a valid project name: start with a letter, then letters, digits, '-' \
             or '_' (at most 64)",
            args.name
        );
    }
    let dir = args.path.unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && dir.read_dir().map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty: choose another name or --path", dir.display());
    }
    let name = &args.name;
    let files: Vec<(&str, String)> = match args.lang {
        Language::Rust => {
            let wasm = name.replace('-', "_");
            let source = format!("target/wasm32-wasip2/release/{wasm}.wasm");
            vec![
                ("Cargo.toml", cargo_toml(name, &sdk_dir()?)),
                ("src/lib.rs", LIB_RS.to_owned()),
                ("airssys.toml", manifest(name, &source, r#"["json"]"#)),
                (".gitignore", "/target\n/.airssys\n/airssys.key\n".to_owned()),
            ]
        }
        Language::Python => vec![
            ("app.py", PYTHON_APP.to_owned()),
            ("airssys.py", PYTHON_SDK.to_owned()),
            ("wit/airssys.wit", WIT.to_owned()),
            ("airssys.toml", manifest(name, FOREIGN_OUTPUT, r#"["json", "raw"]"#)),
            (".gitignore", "/build\n/.airssys\n/airssys.key\n__pycache__/\n".to_owned()),
        ],
        Language::Js => vec![
            ("app.js", JS_APP.to_owned()),
            ("airssys.js", JS_SDK.to_owned()),
            ("build.mjs", JS_BUILD.to_owned()),
            ("package.json", JS_PACKAGE.to_owned()),
            ("package-lock.json", JS_LOCK.to_owned()),
            ("wit/airssys.wit", WIT.to_owned()),
            ("airssys.toml", manifest(name, FOREIGN_OUTPUT, r#"["json", "raw"]"#)),
            (".gitignore", "/build\n/node_modules\n/.airssys\n/airssys.key\n".to_owned()),
        ],
    };
    for (file, text) in &files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    note(g, &format!("created {}", dir.display()));
    let install = match args.lang {
        Language::Rust => String::new(),
        Language::Python => format!("\n  pip install componentize-py=={COMPONENTIZE_PY}"),
        Language::Js => "\n  npm install".to_owned(),
    };
    let next = format!(
        "next:\n  cd {dir}{install}\n  airssys build\n  airssys up\n  airssys call {name} '{{\"name\": \"Ada\"}}' --codec json",
        dir = dir.display()
    );
    emit(
        g,
        &format!("created component project {name} in {}\n{next}", dir.display()),
        serde_json::json!({ "created": dir, "files": files.iter().map(|f| f.0).collect::<Vec<_>>() }),
    );
    Ok(ExitCode::SUCCESS)
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
airssys-wasm-component = {{ path = {sdk} }}
serde = {{ version = "1.0", features = ["derive"] }}

[profile.release]
opt-level = "s"
strip = true

# A project of its own, even inside another workspace.
[workspace]
"#,
        // A JSON string is a valid TOML basic string, escapes included.
        sdk = serde_json::Value::String(sdk.display().to_string())
    )
}

/// The componentize-py version the Python guest library and the docs are written for.
pub const COMPONENTIZE_PY: &str = "0.25.1";

fn manifest(name: &str, source: &str, accepts: &str) -> String {
    format!(
        r#"# The app: which components run, with what grants and limits. See docs/manifest.md.
[app]
name = "{name}"

[trust]
development = true          # runs unsigned components; list trusted keys for production

[components.{name}]
source = "{source}"
accepts = {accepts}
config = {{ greeting = "Hello" }}

[components.{name}.grants]
storage = {{ quota = "1MiB", keys = 1000 }}
"#
    )
}

const LIB_RS: &str = r#"//! A component: greets whoever asks, and counts greetings in its durable storage.

use airssys_wasm_component::{Component, Message, Payload, config, storage};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Greet {
    name: String,
}

#[derive(Serialize)]
struct Greeting {
    text: String,
    count: i64,
}

#[derive(Default)]
struct App {
    greeting: String,
}

impl Component for App {
    fn init(&mut self, _config: &[(String, String)]) -> Result<(), String> {
        self.greeting = config::get("greeting").unwrap_or_else(|| "Hello".into());
        Ok(())
    }

    fn handle(&mut self, message: Message) -> Result<Option<Payload>, String> {
        let greet: Greet = message.decode().map_err(|e| e.to_string())?;
        let count = storage::increment("greetings", 1).map_err(|e| format!("{e:?}"))?;
        let text = format!("{}, {}!", self.greeting, greet.name);
        let answer = Greeting { text, count };
        Ok(Some(Payload::encode(message.codec(), &answer).map_err(|e| e.to_string())?))
    }
}

airssys_wasm_component::component!(App);
"#;
