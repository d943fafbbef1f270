//! Per-call resource limits of a plugin and how a store enforces them.

use std::time::Duration;

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

use crate::engine::EPOCH_TICK;

/// Largest chunk a plugin may hand the host in one `write` (archive or byte sink).
pub const MAX_CHUNK_BYTES: usize = 4 << 20;

/// Bytes a guest may make the host allocate in one import call (strings and
/// lists it passes in). Twice the chunk cap leaves room for the metadata that
/// travels with a chunk, and a hostile guest cannot hand the host gigabytes.
pub(crate) const HOSTCALL_FUEL: usize = 2 * MAX_CHUNK_BYTES;

/// Live component handles (resources) one store may hold. Plugins use a handful.
pub(crate) const MAX_COMPONENT_HANDLES: usize = 10_000;

/// Entries in a store's resource table (WASI streams, files, sockets, ours).
pub(crate) const MAX_TABLE_ENTRIES: usize = 10_000;

/// Limits of one plugin call. Each call gets a fresh store, so the limits
/// apply per call (one backup, one restore, one object `put`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLimits {
    /// Largest linear memory the guest may grow to.
    pub memory_bytes: u64,
    /// Time the guest may spend executing its own code, measured in epoch
    /// ticks of [`EPOCH_TICK`] (time blocked in host calls does not count).
    pub cpu_time: Duration,
    /// Wall-clock limit of a whole call, including instantiation and time
    /// blocked in host calls (back-pressure, network, disk).
    pub wall_time: Duration,
    /// Content bytes a backup may write into its archive; `None`: unlimited.
    pub max_archive_bytes: Option<u64>,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            cpu_time: Duration::from_secs(10 * 60),
            wall_time: Duration::from_secs(2 * 60 * 60),
            max_archive_bytes: None,
        }
    }
}

impl PluginLimits {
    /// Epoch ticks of guest execution the CPU limit allows (at least one).
    pub(crate) fn cpu_ticks(&self) -> u64 {
        let ticks = self.cpu_time.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

/// The store's `ResourceLimiter`: wasmtime's `StoreLimits` (which turns a
/// refused growth into a trap) plus a note that the memory limit was the
/// reason, because the trap itself only says "forcing trap when growing".
pub(crate) struct MemoryLimiter {
    inner: StoreLimits,
    hit: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(memory_bytes: u64) -> Self {
        let memory = usize::try_from(memory_bytes).unwrap_or(usize::MAX);
        Self {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory)
                // A Rust guest's allocator aborts when `memory.grow` returns -1,
                // which would read as an anonymous `unreachable`; a trap raised
                // here is attributed to the limit.
                .trap_on_grow_failure(true)
                .build(),
            hit: false,
        }
    }

    /// True once a memory (or table) growth was refused.
    pub(crate) fn limit_hit(&self) -> bool {
        self.hit
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let result = self.inner.memory_growing(current, desired, maximum);
        if !matches!(result, Ok(true)) {
            self.hit = true;
        }
        result
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.hit = true;
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let result = self.inner.table_growing(current, desired, maximum);
        if !matches!(result, Ok(true)) {
            self.hit = true;
        }
        result
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.hit = true;
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_limit_is_counted_in_whole_ticks() {
        let mut limits = PluginLimits {
            cpu_time: Duration::from_secs(1),
            ..PluginLimits::default()
        };
        assert_eq!(limits.cpu_ticks(), 100);
        limits.cpu_time = Duration::from_millis(15);
        assert_eq!(limits.cpu_ticks(), 2);
        limits.cpu_time = Duration::ZERO;
        assert_eq!(limits.cpu_ticks(), 1);
    }

    #[test]
    fn refused_growth_is_remembered() {
        let mut limiter = MemoryLimiter::new(1 << 20);
        assert!(matches!(limiter.memory_growing(0, 1 << 16, None), Ok(true)));
        assert!(!limiter.limit_hit());
        // Beyond the limit: StoreLimits traps (Err), and we remember why.
        assert!(limiter.memory_growing(1 << 16, 2 << 20, None).is_err());
        assert!(limiter.limit_hit());
    }
}
