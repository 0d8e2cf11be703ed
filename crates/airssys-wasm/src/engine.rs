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
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { pool_components: Some(1000), max_memory_bytes: 64 << 20, cache_dir: None }
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
    pooling: bool,
    fuel: bool,
    cache: Option<Arc<ArtifactCache>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("pooling", &self.pooling).field("fuel", &self.fuel).finish()
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

impl Engine {
    /// Create the engine and start its epoch ticker. A fuel-metering engine (`fuel`) counts
    /// every instruction its guests run; it always allocates on demand.
    pub(crate) fn new(settings: &EngineConfig, fuel: bool) -> Result<Self, HostError> {
        let pool_components = if fuel { None } else { settings.pool_components };
        let (inner, pooling) = match pool_components {
            Some(n) => {
                let mut pool = PoolingAllocationConfig::default();
                pool.total_component_instances(n)
                    // A Rust wasm32-wasip2 guest uses about three core instances.
                    .total_core_instances(n.saturating_mul(4))
                    .total_memories(n.saturating_mul(2))
                    .total_tables(n.saturating_mul(4))
                    .total_stacks(n)
                    .max_memory_size(settings.max_memory_bytes)
                    // Reset the first pages of a freed slot with memset instead of madvise:
                    // restarts and respawns reuse slots, and the madvise path costs a
                    // cross-core TLB shootdown each time.
                    .linear_memory_keep_resident(KEEP_RESIDENT)
                    .table_keep_resident(KEEP_RESIDENT);
                let mut config = base_config(fuel);
                config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
                match wasmtime::Engine::new(&config) {
                    Ok(engine) => (engine, true),
                    Err(e) => {
                        tracing::warn!(error = %e, "pooling allocator unavailable; allocating on demand");
                        let engine = wasmtime::Engine::new(&base_config(fuel))
                            .map_err(|e| HostError::Engine(e.into()))?;
                        (engine, false)
                    }
                }
            }
            None => {
                let engine = wasmtime::Engine::new(&base_config(fuel))
                    .map_err(|e| HostError::Engine(e.into()))?;
                (engine, false)
            }
        };
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
            pooling,
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
        self.pooling
    }
}
