//! The memory budget of one component instance: every linear memory and every table of its
//! store, together, against one limit.
//!
//! wasmtime's own `StoreLimits` checks each memory on its own, so a component made of many
//! core instances, each with its own memory, could hold many times its limit. This limiter
//! keeps the running total of the store instead: a memory's initial size is counted when it
//! is created (wasmtime asks with `current` 0), each growth adds its difference, and a table
//! element counts as [`TABLE_ELEMENT_BYTES`]. Growing past the limit traps the guest, even
//! one that would handle the failure. The total is also published for `Host::components`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What one table element is counted as (a function reference is a pointer).
pub(crate) const TABLE_ELEMENT_BYTES: usize = 8;

/// How many core instances, memories and tables one store may have.
const MAX_INSTANCES: usize = 64;
const MAX_MEMORIES: usize = 64;
const MAX_TABLES: usize = 64;

/// The budget of one store (one component instance).
pub(crate) struct Limits {
    limit: usize,
    /// Bytes of memories and tables counted so far.
    used: usize,
    /// Bytes of linear memory of the live instance (shared with `Host::components`).
    memory: Arc<AtomicUsize>,
    /// The last growth counted, taken back if wasmtime then fails it.
    last_memory_growth: usize,
    last_table_growth: usize,
}

impl Limits {
    /// A budget of `limit` bytes, publishing the memory it counts in `memory` (reset to 0).
    pub(crate) fn new(limit: usize, memory: Arc<AtomicUsize>) -> Self {
        memory.store(0, Ordering::Relaxed);
        Limits { limit, used: 0, memory, last_memory_growth: 0, last_table_growth: 0 }
    }

    /// Publish the memory counted so far in `memory` from now on (an upgrade's new instance
    /// takes over the address's figure).
    pub(crate) fn publish_to(&mut self, memory: Arc<AtomicUsize>) {
        memory.store(self.memory.load(Ordering::Relaxed), Ordering::Relaxed);
        self.memory = memory;
    }

    /// Bytes of memories and tables counted.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    /// Count `bytes` more, or refuse (trap) if that goes past the limit.
    fn take(&mut self, bytes: usize, what: &str) -> wasmtime::Result<()> {
        match self.used.checked_add(bytes) {
            Some(total) if total <= self.limit => {
                self.used = total;
                Ok(())
            }
            _ => Err(wasmtime::Error::msg(format!(
                "memory limit: growing a {what} by {bytes} bytes would take the component past \
                 its limit of {} bytes ({} bytes in use)",
                self.limit, self.used
            ))),
        }
    }
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let growth = desired.saturating_sub(current);
        self.take(growth, "memory")?;
        self.last_memory_growth = growth;
        self.memory.fetch_add(growth, Ordering::Relaxed);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        let growth = std::mem::take(&mut self.last_memory_growth);
        self.used -= growth.min(self.used);
        self.memory.fetch_sub(growth, Ordering::Relaxed);
        Err(error.context("growing a memory failed"))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let growth = desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES);
        self.take(growth, "table")?;
        self.last_table_growth = growth;
        Ok(true)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        let growth = std::mem::take(&mut self.last_table_growth);
        self.used -= growth.min(self.used);
        Err(error.context("growing a table failed"))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    //! The accounting, on a real wasmtime store with several core memories. The modules are
    //! WAT text written here (core modules: no component of our contract has several
    //! memories built from Rust source).
    use super::*;

    const MIB: usize = 1 << 20;

    /// A core module with one memory of `pages` 64 KiB pages (growable to 1000) and a
    /// function that grows it.
    fn module(engine: &wasmtime::Engine, pages: u32) -> wasmtime::Module {
        let text = format!(
            r#"(module
                (memory (export "memory") {pages} 1000)
                (table 16 100000 funcref)
                (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
                (func (export "grow_table") (param i32) (result i32)
                    (table.grow (ref.null func) (local.get 0))))"#
        );
        let bytes = wat::parse_str(text).expect("valid WAT");
        wasmtime::Module::new(engine, bytes).expect("compiles")
    }

    fn store(limit: usize) -> (wasmtime::Store<Limits>, Arc<AtomicUsize>) {
        let engine = wasmtime::Engine::default();
        let memory = Arc::new(AtomicUsize::new(123));
        let mut store = wasmtime::Store::new(&engine, Limits::new(limit, Arc::clone(&memory)));
        store.limiter(|l| l);
        (store, memory)
    }

    #[test]
    fn item_05_memories_of_one_store_share_one_limit() {
        let (mut store, memory) = store(32 * MIB);
        let ten_mib = module(store.engine(), 160);
        // Three instances of 10 MiB each fit in 32 MiB; a fourth does not, although each
        // memory alone is far below the limit.
        let mut instances = Vec::new();
        for _ in 0..3 {
            instances.push(wasmtime::Instance::new(&mut store, &ten_mib, &[]).expect("fits"));
        }
        let counted = 30 * MIB + 3 * 16 * TABLE_ELEMENT_BYTES;
        assert_eq!(store.data().used(), counted);
        assert_eq!(memory.load(Ordering::Relaxed), 30 * MIB);
        let refused = wasmtime::Instance::new(&mut store, &ten_mib, &[]).unwrap_err();
        assert!(format!("{refused:#}").contains("memory limit"), "{refused:#}");
        // Growing one memory past what is left traps (the other memories count).
        let grow = instances[0].get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
        assert_eq!(grow.call(&mut store, 16).unwrap(), 160, "1 MiB more fits");
        let trap = grow.call(&mut store, 32).unwrap_err();
        assert!(format!("{trap:#}").contains("memory limit"), "{trap:#}");
        assert_eq!(store.data().used(), counted + MIB, "the refused growth is not counted");
        assert_eq!(memory.load(Ordering::Relaxed), 31 * MIB);
    }

    #[test]
    fn item_05_tables_count_against_the_same_limit() {
        let (mut store, _) = store(MIB + 100_000);
        let small = module(store.engine(), 16);
        let instance = wasmtime::Instance::new(&mut store, &small, &[]).unwrap();
        let grow = instance.get_typed_func::<i32, i32>(&mut store, "grow_table").unwrap();
        // 1 MiB of memory leaves 100 000 bytes: 1000 more elements fit, 90 000 do not.
        assert_eq!(grow.call(&mut store, 1000).unwrap(), 16);
        let trap = grow.call(&mut store, 90_000).unwrap_err();
        assert!(format!("{trap:#}").contains("memory limit"), "{trap:#}");
    }
}
