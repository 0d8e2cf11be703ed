//! What a component file is: its imports and exports, and whether it fits the AirsSys
//! contract (exports the `airssys:component` world and imports nothing the host lacks). Used
//! by `airssys inspect`.

use wasmtime::component::types::ComponentItem;

use crate::HostError;

/// One import or export.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Item {
    /// Its name (`airssys:component/messaging@0.2.0`, `airssys:component/actor@0.2.0`, ...).
    pub name: String,
    /// What it is: `instance`, `func`, `module`, `component`, `type` or `resource`.
    pub kind: &'static str,
}

/// The result of [`inspect`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    /// Size in bytes.
    pub size: usize,
    /// SHA-256 of the bytes, hex (what a signature covers).
    pub sha256: String,
    /// What it imports.
    pub imports: Vec<Item>,
    /// What it exports.
    pub exports: Vec<Item>,
    /// `None` when it fits the AirsSys contract; otherwise why not.
    pub misfit: Option<String>,
    /// The version of our contract it was built against (`0.2.0`, `0.1.0`), when it is an
    /// AirsSys component.
    pub contract: Option<&'static str>,
    /// The world it fits, when it fits one this host runs: `airssys:component`,
    /// `wasi:http/proxy` or `wasi:cli/command`.
    pub world: Option<&'static str>,
}

fn kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "func",
        ComponentItem::CoreFunc(_) => "core func",
        ComponentItem::Module(_) => "module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

/// Compile `bytes` (not run them) and describe the component. Bytes that are not a
/// component at all are an error ([`HostError::Load`]); a component that does not fit the
/// contract is described, with [`Inspection::misfit`] saying why. With a `cache_dir`, the
/// compiled code is taken from (or kept in) that artifact cache, as a host's would be.
pub fn inspect(bytes: &[u8], cache_dir: Option<&std::path::Path>) -> Result<Inspection, HostError> {
    let settings = crate::EngineConfig {
        pool_components: None,
        cache_dir: cache_dir.map(std::path::Path::to_path_buf),
        ..Default::default()
    };
    let linked = crate::host::ContractLinker::new(&settings, false, &[])?;
    let load = |source: crate::error::BoxError| HostError::Load {
        name: "(inspected file)".into(),
        source,
    };
    let digest = crate::cache::digest(bytes);
    let (component, _) = linked.engine.compile(bytes, &digest).map_err(|e| load(e.into()))?;
    let ty = component.component_type();
    let engine = &linked.engine.inner;
    let items = |list: &mut dyn Iterator<
        Item = (&str, wasmtime::component::types::ComponentExtern<'_>),
    >| {
        list.map(|(name, item)| Item { name: name.to_owned(), kind: kind(&item.ty) }).collect()
    };
    let imports = items(&mut ty.imports(engine));
    let exports = items(&mut ty.exports(engine));
    let (misfit, contract, world) = match linked.linker.instantiate_pre(&component) {
        Err(e) => (Some(format!("{e:#}")), None, None),
        Ok(pre) => match crate::guest::GuestPre::new(pre) {
            Ok(guest) => (None, guest.version(), Some(guest.world())),
            Err(why) => (Some(why), None, None),
        },
    };
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Inspection { size: bytes.len(), sha256, imports, exports, misfit, contract, world })
}

/// The world a component is built for, read from its exports without compiling it:
/// `wasi:http/proxy` (it exports `wasi:http/incoming-handler`), `wasi:cli/command` (it
/// exports `wasi:cli/run`), else `airssys:component`. `None` if the bytes are not a
/// component. Only a hint, for choosing how to run it: loading it checks it for real.
pub fn world(bytes: &[u8]) -> Option<&'static str> {
    use wasmparser::{Parser, Payload};
    if !Parser::is_component(bytes) {
        return None;
    }
    let mut depth = 0usize;
    let mut world = "airssys:component";
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.ok()? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(exports) if depth == 1 => {
                for export in exports {
                    let name = export.ok()?.name.name;
                    if name.starts_with("wasi:http/incoming-handler@") {
                        world = "wasi:http/proxy";
                    } else if name.starts_with("wasi:cli/run@") && world == "airssys:component" {
                        world = "wasi:cli/command";
                    }
                }
            }
            _ => {}
        }
    }
    Some(world)
}

/// Compile `bytes` into the artifact cache at `cache_dir` (as a host with default engine
/// settings and that `EngineConfig::cache_dir` would), so that such a host's start loads it
/// instead of compiling. Returns false when it was already there.
pub fn precompile(bytes: &[u8], cache_dir: &std::path::Path) -> Result<bool, HostError> {
    let settings =
        crate::EngineConfig { cache_dir: Some(cache_dir.to_owned()), ..Default::default() };
    let linked = crate::host::ContractLinker::new(&settings, false, &[])?;
    let digest = crate::cache::digest(bytes);
    let load = |source: crate::error::BoxError| HostError::Load {
        name: "(precompiled file)".into(),
        source,
    };
    let (_, cached) = linked.engine.compile(bytes, &digest).map_err(|e| load(e.into()))?;
    Ok(!cached)
}

/// Whether `cache_dir` can be used as an artifact cache: it is made if missing, then checked
/// as a host would check it (owned by this user, no parent writable by others, its key
/// readable). The error says why it cannot.
pub fn check_cache_dir(cache_dir: &std::path::Path) -> Result<(), HostError> {
    let settings = crate::EngineConfig {
        pool_components: None,
        cache_dir: Some(cache_dir.to_owned()),
        ..Default::default()
    };
    crate::engine::Engine::new(&settings, false).map(drop)
}
