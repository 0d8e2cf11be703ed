//! What one instance of a component takes from the engine's instance pool (core instances,
//! linear memories, tables), read from the component when it is loaded.
//!
//! Toolchains differ a lot here: a Rust `wasm32-wasip2` guest instantiates about three core
//! modules, a componentize-py guest about fourteen (one per dynamically linked library), so
//! a pool sized for one language does not fit another. The host checks a component's
//! footprint against the pool before starting it, and says which limit to raise.

use wasmparser::{Instance, Parser, Payload};

/// Pool resources one instance of a component uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Footprint {
    /// Core module instances (each `instantiate` in the component, nested ones included).
    pub(crate) core_instances: u32,
    /// Linear memories its modules define.
    pub(crate) memories: u32,
    /// Tables its modules define.
    pub(crate) tables: u32,
}

impl Footprint {
    /// Read the footprint of a component that wasmtime has already compiled (so `bytes` are
    /// valid). Memories and tables come from wasmtime's own count when it has one; core
    /// instances are counted in the component's instance sections.
    pub(crate) fn of(bytes: &[u8], component: &wasmtime::component::Component) -> Footprint {
        let mut footprint = Footprint::default();
        for payload in Parser::new(0).parse_all(bytes) {
            // Valid bytes (wasmtime compiled them); should a section still not parse, what
            // was counted so far stands and the pool's own limit is the backstop.
            let Ok(payload) = payload else { break };
            match payload {
                Payload::InstanceSection(reader) => {
                    let instantiations = reader
                        .into_iter()
                        .filter(|i| matches!(i, Ok(Instance::Instantiate { .. })))
                        .count();
                    footprint.core_instances = footprint
                        .core_instances
                        .saturating_add(u32::try_from(instantiations).unwrap_or(u32::MAX));
                }
                Payload::MemorySection(reader) => {
                    footprint.memories = footprint.memories.saturating_add(reader.count());
                }
                Payload::TableSection(reader) => {
                    footprint.tables = footprint.tables.saturating_add(reader.count());
                }
                _ => {}
            }
        }
        if let Some(required) = component.resources_required() {
            footprint.memories = required.num_memories;
            footprint.tables = required.num_tables;
        }
        footprint
    }
}

impl std::fmt::Display for Footprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} core instances, {} memories and {} tables",
            self.core_instances, self.memories, self.tables
        )
    }
}
