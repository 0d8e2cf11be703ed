//! The one wasmtime engine of a host: configuration, the pooling allocator (with a fallback),
//! and the epoch ticker that bounds the CPU time of every message handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::HostError;

/// How often the epoch advances. A handler is checked against its CPU deadline, and a
/// spinning guest yields its worker thread, at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Use the pooling allocator, sized for this many live components (falls back to
    /// on-demand allocation, with a warning, if the pool cannot be reserved).
    pub pool_components: Option<u32>,
    /// The largest linear memory a component may have, in bytes.
    pub max_memory_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { pool_components: Some(1000), max_memory_bytes: 64 << 20 }
    }
}

/// A wasmtime engine plus its epoch ticker thread (stopped when the last clone is dropped).
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: wasmtime::Engine,
    _ticker: Arc<Ticker>,
    pooling: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("pooling", &self.pooling).finish()
    }
}

struct Ticker(Arc<AtomicBool>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Component-model-async machinery makes every call 3-4x dearer and we do not use it.
    config.concurrency_support(false);
    config
}

impl Engine {
    /// Create the engine and start its epoch ticker.
    pub fn new(settings: &EngineConfig) -> Result<Self, HostError> {
        let (inner, pooling) = match settings.pool_components {
            Some(n) => {
                let mut pool = PoolingAllocationConfig::default();
                pool.total_component_instances(n)
                    // A Rust wasm32-wasip2 guest uses about three core instances.
                    .total_core_instances(n.saturating_mul(4))
                    .total_memories(n.saturating_mul(2))
                    .total_tables(n.saturating_mul(4))
                    .total_stacks(n)
                    .max_memory_size(settings.max_memory_bytes);
                let mut config = base_config();
                config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
                match wasmtime::Engine::new(&config) {
                    Ok(engine) => (engine, true),
                    Err(e) => {
                        tracing::warn!(error = %e, "pooling allocator unavailable; allocating on demand");
                        let engine = wasmtime::Engine::new(&base_config())
                            .map_err(|e| HostError::Engine(e.to_string()))?;
                        (engine, false)
                    }
                }
            }
            None => {
                let engine = wasmtime::Engine::new(&base_config())
                    .map_err(|e| HostError::Engine(e.to_string()))?;
                (engine, false)
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = inner.weak();
        let ticker_stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("airssys-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| HostError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Engine { inner, _ticker: Arc::new(Ticker(stop)), pooling })
    }

    /// True when the pooling allocator is in use.
    pub fn is_pooling(&self) -> bool {
        self.pooling
    }
}
