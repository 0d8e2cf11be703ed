//! The one wasmtime engine of a host: configuration, the pooling allocator (with a fallback),
//! and the epoch ticker that bounds the CPU time of every message handler.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::component::Component;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::{self, ArtifactCache};
use crate::error::HostError;

pub use crate::cpu_budget::EPOCH_TICK;

/// How much of a freed pool slot's memory and tables is reset in place rather than returned
/// to the kernel.
const KEEP_RESIDENT: usize = 64 << 10;

/// Core instances the pool holds per component slot. They cost nothing until used (the pool
/// only counts them), so there is room for guests of any toolchain: a Rust `wasm32-wasip2`
/// guest uses about 3, a JavaScript (componentize-js) one 4, a Python (componentize-py) one 14.
const CORE_INSTANCES_PER_SLOT: u32 = 32;
/// Linear memories the pool holds per component slot (each reserves address space). The
/// guests of all three toolchains define one.
const MEMORIES_PER_SLOT: u32 = 2;
/// Tables the pool holds per component slot. The guests of all three toolchains define two.
const TABLES_PER_SLOT: u32 = 4;

/// Address space an instance pool may take with wasmtime's default layout (4 GiB reserved
/// per linear memory plus guard regions, so that no bounds check is needed): a quarter of
/// the 128 TiB a process has on x86-64 and aarch64 Linux. A pool that would need more
/// reserves only the largest memory a component may have per memory ([`MemoryLayout::Dense`]).
const ADDRESS_BUDGET: u64 = 32 << 40;

/// What wasmtime reserves per linear memory by default: 4 GiB, a 32 MiB guard after it and
/// one before it.
const DEFAULT_MEMORY_COST: u64 = (4 << 30) + 2 * (32 << 20);

/// Memory mappings a component allocated on demand takes (memories, tables, stacks and
/// their guards), as seen with the Rust guests: what `vm.max_map_count` is divided by.
const MAPS_PER_COMPONENT: u64 = 7;

/// Memory mappings each execution stack of a pool takes: the stack and its guard page.
const MAPS_PER_STACK: u64 = 2;

/// Memory mappings a live instance adds in the instance pool (its memory's image splits its
/// slot, and its tables), measured with the Rust guests: 4 per instance, at 3,000 and 6,000
/// live.
const MAPS_PER_POOLED_INSTANCE: u64 = 4;

/// Mappings kept free for what the process maps besides instances (threads, heaps).
const MAPS_HEADROOM: u64 = 1024;

/// Memory mappings a process has besides its pool (libraries, heaps, threads), roughly.
const MAPS_ELSEWHERE: u64 = 4096;

/// The guard after each memory of a dense pool (a guard before it is kept too).
const DENSE_GUARD: u64 = 2 << 20;

/// How an instance pool lays linear memories out ([`EngineConfig::memory_layout`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryLayout {
    /// [`Wide`](Self::Wide) unless the pool would then take more than 32 TiB of address
    /// space (a quarter of what a process has); then [`Dense`](Self::Dense). Pools of up to
    /// about 4,000 components are wide.
    #[default]
    Auto,
    /// wasmtime's default: 4 GiB of address space per memory, so guest code needs no bounds
    /// checks. A pool of 16,000 components takes all the address space a process has.
    Wide,
    /// Only the largest memory a component may have ([`EngineConfig::max_memory_bytes`])
    /// plus a 2 MiB guard per memory: guest code checks bounds on each memory access, and a
    /// pool of 100,000 components fits.
    Dense,
}

impl MemoryLayout {
    /// The layout a pool of `memories` memories gets.
    fn for_memories(self, memories: u32) -> MemoryLayout {
        match self {
            MemoryLayout::Auto => {
                if u64::from(memories).saturating_mul(DEFAULT_MEMORY_COST) > ADDRESS_BUDGET {
                    MemoryLayout::Dense
                } else {
                    MemoryLayout::Wide
                }
            }
            chosen => chosen,
        }
    }
}

/// What the engine's instance pool holds in all, shared by every live component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolSize {
    pub(crate) components: u32,
    pub(crate) core_instances: u32,
    pub(crate) memories: u32,
    pub(crate) tables: u32,
}

impl PoolSize {
    fn for_components(n: u32) -> PoolSize {
        PoolSize {
            components: n,
            core_instances: n.saturating_mul(CORE_INSTANCES_PER_SLOT),
            memories: n.saturating_mul(MEMORIES_PER_SLOT),
            tables: n.saturating_mul(TABLES_PER_SLOT),
        }
    }

    /// Why an app's components, each `(footprint, instances)`, cannot all run in the pool at
    /// once, if they cannot: which limit, and what `pool_components` would hold them all.
    pub(crate) fn refuses_together(
        &self,
        components: &[(crate::footprint::Footprint, u32)],
    ) -> Option<String> {
        let sum = |each: fn(&crate::footprint::Footprint) -> u32| -> u64 {
            components.iter().map(|(f, n)| u64::from(each(f)) * u64::from(*n)).sum()
        };
        let needs = [
            ("component instances", sum(|_| 1), self.components, 1),
            (
                "core instances",
                sum(|f| f.core_instances),
                self.core_instances,
                CORE_INSTANCES_PER_SLOT,
            ),
            ("memories", sum(|f| f.memories), self.memories, MEMORIES_PER_SLOT),
            ("tables", sum(|f| f.tables), self.tables, TABLES_PER_SLOT),
        ];
        needs.into_iter().find_map(|(what, need, have, per_slot)| {
            (need > u64::from(have)).then(|| {
                let slots = need.div_ceil(u64::from(per_slot));
                format!(
                    "the app's {} components need {need} {what} together and the engine's \
                     pool holds {have}; set [engine] pool_components (or \
                     EngineConfig::pool_components) to at least {slots}",
                    components.len()
                )
            })
        })
    }

    /// Why `instances` instances of a component with this `footprint` can never fit in the
    /// pool, if they cannot: which limit, and what `pool_components` would hold them.
    pub(crate) fn refuses(
        &self,
        footprint: &crate::footprint::Footprint,
        instances: u32,
    ) -> Option<String> {
        let needs = [
            ("component instances", 1, self.components, 1),
            (
                "core instances",
                footprint.core_instances,
                self.core_instances,
                CORE_INSTANCES_PER_SLOT,
            ),
            ("memories", footprint.memories, self.memories, MEMORIES_PER_SLOT),
            ("tables", footprint.tables, self.tables, TABLES_PER_SLOT),
        ];
        needs.into_iter().find_map(|(what, each, have, per_slot)| {
            let need = u64::from(each) * u64::from(instances);
            (need > u64::from(have)).then(|| {
                let slots = need.div_ceil(u64::from(per_slot));
                format!(
                    "{instances} instance(s) of it need {need} {what} ({footprint} each) and \
                     the engine's pool holds {have}; set [engine] pool_components (or \
                     EngineConfig::pool_components) to at least {slots}"
                )
            })
        })
    }
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Use the pooling allocator, sized for this many live components (falls back to
    /// on-demand allocation, with a warning, if the pool cannot be reserved).
    pub pool_components: Option<u32>,
    /// The largest linear memory a component may have, in bytes (a component's own limit
    /// may be lower).
    pub max_memory_bytes: usize,
    /// Keep compiled components in this directory, so that a later start with the same
    /// component and engine settings skips compilation. The directory and each of its
    /// parents must be writable only by the host's user (or root; a sticky parent like `/tmp`
    /// is fine): loading an entry runs its machine code. Entries are authenticated with a key
    /// kept in the directory, and no component may be granted a directory that overlaps it.
    pub cache_dir: Option<PathBuf>,
    /// How the instance pool lays linear memories out: the address space each takes, and
    /// whether guest code checks bounds (default [`MemoryLayout::Auto`]).
    pub memory_layout: MemoryLayout,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            pool_components: Some(1000),
            max_memory_bytes: 64 << 20,
            cache_dir: None,
            memory_layout: MemoryLayout::Auto,
        }
    }
}

/// A wasmtime engine plus its epoch ticker thread (stopped when the last clone is dropped).
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: wasmtime::Engine,
    _ticker: Arc<Ticker>,
    /// Advanced with the epoch: what guests' CPU budgets are counted in (`cpu_budget.rs`).
    pub(crate) ticks: crate::cpu_budget::Ticks,
    /// Slots for guests computing through a tick (`compute_slots.rs`).
    pub(crate) compute_slots: crate::compute_slots::ComputeSlots,
    /// The instance pool's size, when the pooling allocator is in use.
    pool: Option<PoolSize>,
    /// Why instances are allocated on demand, when they are (no pool).
    on_demand: Option<Arc<str>>,
    fuel: bool,
    cache: Option<Arc<ArtifactCache>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("pool", &self.pool).field("fuel", &self.fuel).finish()
    }
}

struct Ticker(Arc<AtomicBool>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn base_config(fuel: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(fuel);
    // Component-model-async machinery makes every call 3-4x dearer and we do not use it.
    config.concurrency_support(false);
    config
}

/// The kernel's limit on a process's memory mappings (`vm.max_map_count`), if it can be read.
pub(crate) fn max_map_count() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?;
    text.trim().parse().ok()
}

/// Memory mappings this process has now, if they can be counted (a line each in
/// `/proc/self/maps`).
fn mappings_in_use() -> Option<u64> {
    let maps = std::fs::read("/proc/self/maps").ok()?;
    Some(maps.iter().filter(|b| **b == b'\n').count() as u64)
}

/// Why `pooled` more instances in the instance pool and `on_demand` more allocated on
/// demand would not fit the kernel's limit on memory mappings (`vm.max_map_count`), if they
/// would not: the limit, what the process has, and what to set. Past the limit an instance
/// cannot be made, and the process's own allocations start failing too, so a start or a
/// large spawn is checked before anything is instantiated. `None` when they fit, or where
/// the limit cannot be read.
pub(crate) fn mappings_refuse(pooled: u64, on_demand: u64) -> Option<String> {
    let limit = max_map_count()?;
    let in_use = mappings_in_use()?;
    let more = pooled * MAPS_PER_POOLED_INSTANCE + on_demand * MAPS_PER_COMPONENT;
    let needed = in_use + more + MAPS_HEADROOM;
    if needed <= limit {
        return None;
    }
    let pool_note = if pooled > 0 {
        " (each slot of the instance pool takes 2 of them even when unused: a smaller [engine] \
         pool_components frees some)"
    } else {
        ""
    };
    Some(format!(
        "{} instances need about {more} more memory mappings, the process has {in_use}, and \
         the kernel's limit vm.max_map_count is {limit}{pool_note}: raise it (`sysctl -w \
         vm.max_map_count={}`) or run fewer instances",
        pooled + on_demand,
        needed.next_multiple_of(65536)
    ))
}

/// [`mappings_refuse`] on the blocking pool: the process's map list may be megabytes long
/// (about seven lines per live component). A check that cannot run says nothing.
pub(crate) async fn mappings_refuse_off_executor(pooled: u64, on_demand: u64) -> Option<String> {
    tokio::task::spawn_blocking(move || mappings_refuse(pooled, on_demand)).await.ok().flatten()
}

/// Why a pool for `n` components may not have been reserved, and what on-demand allocation
/// holds instead, for the warning that says the host falls back to it.
fn fallback_reason(n: u32) -> String {
    let Some(maps) = max_map_count() else {
        return format!(
            "the instance pool for {n} components cannot be reserved (lower [engine] \
             pool_components): components are allocated on demand"
        );
    };
    // Each execution stack of the pool is a mapping, and its guard page another.
    let needed = u64::from(n) * MAPS_PER_STACK + MAPS_ELSEWHERE;
    let why = if needed > maps {
        format!(
            "its {n} execution stacks need about {needed} memory mappings and vm.max_map_count \
             is {maps}: raise it (`sysctl -w vm.max_map_count={}`) or lower [engine] \
             pool_components",
            needed.next_multiple_of(65536)
        )
    } else {
        "lower [engine] pool_components".to_owned()
    };
    format!(
        "the instance pool for {n} components cannot be reserved ({why}); components are \
         allocated on demand, each taking about {MAPS_PER_COMPONENT} memory mappings, so \
         vm.max_map_count = {maps} holds about {} of them",
        maps / MAPS_PER_COMPONENT
    )
}

impl Engine {
    /// Create the engine and start its epoch ticker. A fuel-metering engine (`fuel`) counts
    /// every instruction its guests run; it always allocates on demand.
    pub(crate) fn new(settings: &EngineConfig, fuel: bool) -> Result<Self, HostError> {
        let pool_components = if fuel { None } else { settings.pool_components };
        let (inner, pool, on_demand) = match pool_components {
            Some(n) => {
                let size = PoolSize::for_components(n);
                let mut pool = PoolingAllocationConfig::default();
                pool.total_component_instances(size.components)
                    .total_core_instances(size.core_instances)
                    .total_memories(size.memories)
                    .total_tables(size.tables)
                    .total_stacks(n)
                    .max_memory_size(settings.max_memory_bytes)
                    // Reset the first pages of a freed slot with memset instead of madvise:
                    // restarts and respawns reuse slots, and the madvise path costs a
                    // cross-core TLB shootdown each time.
                    .linear_memory_keep_resident(KEEP_RESIDENT)
                    .table_keep_resident(KEEP_RESIDENT);
                let mut config = base_config(fuel);
                let layout = settings.memory_layout.for_memories(size.memories);
                if layout == MemoryLayout::Dense {
                    config
                        .memory_reservation(settings.max_memory_bytes as u64)
                        .memory_reservation_for_growth(0)
                        .memory_guard_size(DENSE_GUARD);
                    tracing::info!(
                        components = n,
                        "a pool this large reserves {} MiB per memory, not 4 GiB: guest code \
                         checks bounds on each memory access",
                        settings.max_memory_bytes >> 20
                    );
                }
                config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
                match wasmtime::Engine::new(&config) {
                    Ok(engine) => (engine, Some(size), None),
                    Err(e) => {
                        let reason = fallback_reason(n);
                        tracing::warn!(error = %e, "{reason}");
                        let engine = wasmtime::Engine::new(&base_config(fuel))
                            .map_err(|e| HostError::Engine(e.into()))?;
                        (engine, None, Some(format!("{reason} ({e})")))
                    }
                }
            }
            None => {
                let engine = wasmtime::Engine::new(&base_config(fuel))
                    .map_err(|e| HostError::Engine(e.into()))?;
                let reason = if fuel {
                    "fuel metering allocates every instance on demand"
                } else {
                    "no instance pool is configured ([engine] pool_components)"
                };
                (engine, None, Some(reason.to_owned()))
            }
        };
        let on_demand = on_demand.map(Arc::from);
        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = inner.weak();
        let ticker_stop = Arc::clone(&stop);
        let ticks = crate::cpu_budget::Ticks::default();
        let ticker_ticks = ticks.clone();
        std::thread::Builder::new()
            .name("airssys-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker_engine.upgrade() {
                        Some(engine) => {
                            // The tick first: a guest that sees the new epoch sees it counted.
                            ticker_ticks.advance();
                            engine.increment_epoch();
                        }
                        None => break,
                    }
                }
            })
            .map_err(|e| HostError::Engine(format!("cannot start the epoch ticker: {e}").into()))?;
        let cache = match &settings.cache_dir {
            Some(dir) => Some(Arc::new(ArtifactCache::new(dir, &inner).map_err(|e| {
                HostError::Engine(
                    format!("cannot use {} as the artifact cache: {e}", dir.display()).into(),
                )
            })?)),
            None => None,
        };
        Ok(Engine {
            inner,
            _ticker: Arc::new(Ticker(stop)),
            ticks,
            compute_slots: crate::compute_slots::ComputeSlots::default(),
            pool,
            on_demand,
            fuel,
            cache,
        })
    }

    /// Compile a component, or load it from the artifact cache. Returns it and whether it
    /// came from the cache.
    pub(crate) fn compile(
        &self,
        bytes: &[u8],
        digest: &cache::Digest32,
    ) -> wasmtime::Result<(Component, bool)> {
        if let Some(cache) = &self.cache
            && let Some(component) = cache.load(&self.inner, digest)
        {
            return Ok((component, true));
        }
        let component = Component::new(&self.inner, bytes)?;
        if let Some(cache) = &self.cache {
            cache.store(digest, &component);
        }
        Ok((component, false))
    }

    /// The artifact cache's directory (canonical), when there is one.
    pub(crate) fn cache_dir(&self) -> Option<&std::path::Path> {
        self.cache.as_deref().map(ArtifactCache::path)
    }

    /// True when the pooling allocator is in use.
    pub fn is_pooling(&self) -> bool {
        self.pool.is_some()
    }

    /// Why instances are allocated on demand rather than in a pool, when they are.
    pub(crate) fn on_demand_reason(&self) -> Option<&str> {
        self.on_demand.as_deref()
    }

    /// The instance pool's size, when the pooling allocator is in use.
    pub(crate) fn pool(&self) -> Option<PoolSize> {
        self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::PoolSize;
    use crate::footprint::Footprint;

    const PYTHON: Footprint = Footprint { core_instances: 14, memories: 1, tables: 2 };

    /// The limit that refuses a pool names itself and the `pool_components` that would hold
    /// it; a pool that fits is not refused.
    #[test]
    fn a_pool_that_cannot_fit_names_its_limit_and_the_size_to_set() {
        let pool = PoolSize::for_components(1000);
        assert_eq!(pool.refuses(&PYTHON, 1000), None);
        let too_many = pool.refuses(&PYTHON, 1001).unwrap();
        assert!(
            too_many.contains("component instances") && too_many.contains("1001"),
            "{too_many}"
        );

        let heavy = Footprint { core_instances: 100, memories: 1, tables: 2 };
        let refused = pool.refuses(&heavy, 400).unwrap();
        // 400 x 100 core instances need 1250 slots of 32.
        assert!(
            refused.contains("core instances") && refused.contains("at least 1250"),
            "{refused}"
        );
        let memories = Footprint { core_instances: 3, memories: 6, tables: 1 };
        let refused = pool.refuses(&memories, 400).unwrap();
        assert!(refused.contains("memories") && refused.contains("at least 1200"), "{refused}");
        let tables = Footprint { core_instances: 3, memories: 1, tables: 9 };
        let refused = pool.refuses(&tables, 500).unwrap();
        assert!(refused.contains("tables") && refused.contains("at least 1125"), "{refused}");
    }
}
