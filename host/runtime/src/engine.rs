//! The process-wide wasmtime `Engine`: hardened configuration, pooling
//! allocator, and the epoch ticker that makes CPU limits possible.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Interval of the epoch ticker; the granularity of CPU limits and of the
/// time slices after which a running guest yields to tokio.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Stack a guest may use. Overflow is an ordinary trap.
const MAX_WASM_STACK: usize = 512 << 10;

/// Fiber stack of an async call: the guest stack plus room for host import
/// bodies. Overflowing the host part aborts the process, so keep it generous.
const ASYNC_STACK: usize = 2 << 20;

/// Sizing of the engine's instance pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSize {
    /// Component instances alive at once (one per running plugin call).
    pub instances: u32,
    /// Largest linear memory any plugin may get.
    pub max_memory_bytes: u64,
}

/// Builds the engine and starts its epoch ticker.
pub(crate) fn new_engine(pool: PoolSize) -> wasmtime::Result<Engine> {
    let engine = Engine::new(&config(pool))?;
    start_ticker(&engine)?;
    Ok(engine)
}

fn config(pool: PoolSize) -> Config {
    let mut pooling = PoolingAllocationConfig::default();
    let instances = pool.instances.max(1);
    // A Rust component is its main module plus a few wit-component shim
    // modules; the shims have tables but no memories.
    pooling
        .total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(4))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(4))
        .total_stacks(instances)
        // Cannot exceed the 4 GiB default memory reservation, which is what
        // lets Cranelift elide bounds checks; the per-store limiter enforces
        // each plugin's own (smaller) limit.
        .max_memory_size(usize::try_from(pool.max_memory_bytes.min(4 << 30)).unwrap_or(usize::MAX))
        // Keep few idle slots warm so a burst does not keep memory resident.
        .max_unused_warm_slots(4);

    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling))
        // Proposals plugins do not use are attack surface. No component-model
        // async machinery (its cancellation story is incomplete in 48).
        // Shared-memory threads, GC and exceptions are compiled out (the
        // `threads` and `gc` cargo features are off), nothing to switch off.
        .concurrency_support(false);
    config
}

/// Increments the epoch every [`EPOCH_TICK`] until the engine is dropped.
/// Holding only a weak reference lets the engine (and its pool) go away.
fn start_ticker(engine: &Engine) -> wasmtime::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("drhost-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map_err(|e| wasmtime::format_err!("cannot start the epoch ticker thread: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardened_config_is_valid() {
        let engine = new_engine(PoolSize {
            instances: 4,
            max_memory_bytes: 64 << 20,
        });
        assert!(engine.is_ok(), "{:?}", engine.err());
    }
}
