//! drhost's sandboxed WebAssembly plugin runtime.
//!
//! Plugins are WebAssembly components (`wasm32-wasip2`) implementing the
//! `drhost:plugin@0.2.1` worlds in `wit/`: *stages* back up and restore one
//! part of a deployment through a host-owned archive, *store adapters* keep
//! repository objects on some medium. Each call runs in a fresh instance with
//! no ambient authority (only the directories and TCP addresses granted for
//! it), bounded memory, a CPU-time and a wall-clock limit. A plugin that
//! traps, loops or exhausts its memory fails its call; the host keeps running.
//!
//! ```text
//! Runtime::new ─ engine (pooling, epochs) + linkers + compiled-code cache
//!   ├─ load_stage(name, wasm)   -> StagePlugin   (describe/validate/backup/restore)
//!   └─ load_adapter(name, wasm) -> StoreAdapter  -> AdapterStore: ObjectStore
//! ```

mod adapter;
mod archive;
mod bindings;
mod cache;
mod call;
mod call_thread;
mod endpoints;
mod engine;
mod error;
mod grants;
mod host;
mod http;
mod limits;
mod notes;
mod posix_fs;
mod redact;
mod report;
mod resources;
mod stage;
mod state;
mod streams;
mod world;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

pub use adapter::{AdapterInfo, AdapterStore, CallCredentials, StoreAdapter};
pub use archive::{ArchiveBatch, ArchiveEvent, PluginGone, RestoreFeed};
pub use cache::{LoadSource, LoadStats};
pub use endpoints::{EndpointPolicy, EndpointRefusal, EndpointRuleError};
pub use engine::EPOCH_TICK;
pub use error::{PluginErrorKind, PluginFailure};
pub use grants::{DirGrant, FsPolicy, Grants, OwnerPolicy};
pub use http::normalize_authority;
pub use limits::{MAX_CHUNK_BYTES, PluginLimits};
pub use redact::REDACTED;
pub use report::{
    MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES_PER_CALL, MAX_MESSAGES_PER_CALL, Reporter, warning_codes,
};
pub use stage::{StageInfo, StageKind, StagePlugin, StageSummary};
pub use world::WIT_VERSION;

/// The WIT package (and version) every plugin implements, as plugins and
/// operators see it in `wit/`.
pub const WIT_PACKAGE: &str = "drhost:plugin@0.2.1";

use crate::cache::ComponentCache;
use crate::host::PluginHostData;
use crate::posix_fs::PosixData;
use crate::report::ReportData;
use crate::resources::ResourceData;
use crate::state::PluginState;
use crate::world::World;

/// What one plugin call runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginContext {
    /// The plugin instance's configuration (JSON text), returned by
    /// `host.config()` and passed to `validate`.
    pub config_json: String,
    /// Directories and addresses the call may use.
    pub grants: Grants,
    /// Resource limits of the call.
    pub limits: PluginLimits,
    /// Secrets inside `config_json` (passwords, keys): replaced by
    /// [`REDACTED`] in every log line, message, output and error of the call.
    pub secrets: Vec<String>,
}

impl Default for PluginContext {
    /// No configuration (`{}`), no grants, default limits.
    fn default() -> Self {
        Self {
            config_json: "{}".into(),
            grants: Grants::default(),
            limits: PluginLimits::default(),
            secrets: Vec::new(),
        }
    }
}

/// The limits `describe` runs under at load when the caller configures none:
/// tight enough that a plugin hanging in `describe` fails the load quickly
/// instead of holding up the host's start for the default ten minutes.
pub fn default_describe_limits() -> PluginLimits {
    PluginLimits {
        cpu_time: std::time::Duration::from_secs(10),
        wall_time: std::time::Duration::from_secs(30),
        ..PluginLimits::default()
    }
}

/// The context `describe` runs in at load: nothing granted, under `limits`.
pub(crate) fn describe_context(limits: PluginLimits) -> PluginContext {
    PluginContext {
        limits,
        ..PluginContext::default()
    }
}

/// Process-wide settings of the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Directory for compiled plugins, created private to this user. An
    /// empty path keeps compiled plugins in memory only.
    pub cache_dir: PathBuf,
    /// Ceiling for any plugin's memory limit (at most 4 GiB, wasm32's
    /// address space); larger configured limits are clamped to it.
    pub max_memory_bytes: u64,
    /// Plugin calls that may run at once; further calls wait for a slot.
    pub max_concurrent_calls: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: PathBuf::new(),
            max_memory_bytes: 4 << 30,
            max_concurrent_calls: 32,
        }
    }
}

/// The runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the plugin runtime: {0}")]
pub struct RuntimeError(String);

/// Engine, linkers and cache, shared by every loaded plugin.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    stage_linker: Linker<PluginState>,
    adapter_linker: Linker<PluginState>,
    cache: ComponentCache,
    /// One permit per pooled instance, so callers queue instead of failing.
    pub(crate) instance_slots: Arc<Semaphore>,
    max_memory_bytes: u64,
    /// Where plugin calls run.
    pub(crate) call_threads: Arc<call_thread::CallThreads>,
}

impl Shared {
    /// `limits` with the memory limit clamped to what the pool provides, so
    /// an error names the limit that actually applied.
    pub(crate) fn effective_limits(&self, limits: &PluginLimits) -> PluginLimits {
        PluginLimits {
            memory_bytes: limits.memory_bytes.min(self.max_memory_bytes),
            ..limits.clone()
        }
    }
}

/// The plugin runtime. Cheap to clone; create one per process.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let max_memory_bytes = config.max_memory_bytes.clamp(64 << 10, 4 << 30);
        let instances = config.max_concurrent_calls.max(1);
        let engine = engine::new_engine(engine::PoolSize {
            instances,
            max_memory_bytes,
        })
        .map_err(|e| RuntimeError(format!("{e:#}")))?;
        let stage_linker = stage_linker(&engine).map_err(|e| RuntimeError(format!("{e:#}")))?;
        let adapter_linker = adapter_linker(&engine).map_err(|e| RuntimeError(format!("{e:#}")))?;
        let cache = ComponentCache::new(engine.clone(), &config.cache_dir);
        Ok(Self {
            shared: Arc::new(Shared {
                engine,
                stage_linker,
                adapter_linker,
                cache,
                instance_slots: Arc::new(Semaphore::new(instances as usize)),
                max_memory_bytes,
                call_threads: Arc::default(),
            }),
        })
    }

    /// Loads a stage plugin from its component bytes (compiled once per
    /// process, cached on disk) and asks it to describe itself, under
    /// [`default_describe_limits`].
    pub async fn load_stage(
        &self,
        name: &str,
        wasm: &[u8],
    ) -> Result<Arc<StagePlugin>, PluginFailure> {
        self.load_stage_limited(name, wasm, default_describe_limits())
            .await
    }

    /// [`load_stage`](Self::load_stage) with `describe` under `limits`, the
    /// stage's own: a plugin that loops or allocates without end in
    /// `describe` fails its load at the limit its operator configured.
    pub async fn load_stage_limited(
        &self,
        name: &str,
        wasm: &[u8],
        limits: PluginLimits,
    ) -> Result<Arc<StagePlugin>, PluginFailure> {
        let (component, stats) = self.compile(name, wasm).await?;
        let pre = self
            .shared
            .stage_linker
            .instantiate_pre(&component)
            .and_then(bindings::stage::StagePluginPre::new)
            .map_err(|e| self.instantiate_failure(name, &component, World::Stage, e))?;
        let plugin = StagePlugin::new(name, pre, self.shared.clone(), stats, limits).await?;
        tracing::info!(
            plugin = name,
            source = ?stats.source,
            load_ms = stats.elapsed.as_secs_f64() * 1e3,
            "stage plugin loaded"
        );
        Ok(Arc::new(plugin))
    }

    /// Loads a store adapter plugin; see [`Runtime::load_stage`].
    pub async fn load_adapter(
        &self,
        name: &str,
        wasm: &[u8],
    ) -> Result<Arc<StoreAdapter>, PluginFailure> {
        self.load_adapter_limited(name, wasm, default_describe_limits())
            .await
    }

    /// [`load_adapter`](Self::load_adapter) with `describe` under `limits`,
    /// the adapter's own.
    pub async fn load_adapter_limited(
        &self,
        name: &str,
        wasm: &[u8],
        limits: PluginLimits,
    ) -> Result<Arc<StoreAdapter>, PluginFailure> {
        let (component, stats) = self.compile(name, wasm).await?;
        let pre = self
            .shared
            .adapter_linker
            .instantiate_pre(&component)
            .and_then(bindings::adapter::StoreAdapterPluginPre::new)
            .map_err(|e| self.instantiate_failure(name, &component, World::StoreAdapter, e))?;
        let adapter = StoreAdapter::new(name, pre, self.shared.clone(), stats, limits).await?;
        tracing::info!(
            plugin = name,
            source = ?stats.source,
            load_ms = stats.elapsed.as_secs_f64() * 1e3,
            "store adapter plugin loaded"
        );
        Ok(Arc::new(adapter))
    }

    /// Compiles (or loads the cached compilation of) `wasm`, off the async
    /// threads: Cranelift takes hundreds of milliseconds per megabyte.
    async fn compile(
        &self,
        name: &str,
        wasm: &[u8],
    ) -> Result<(Component, LoadStats), PluginFailure> {
        let shared = self.shared.clone();
        let name_owned = name.to_string();
        let wasm = wasm.to_vec();
        tokio::task::spawn_blocking(move || shared.cache.load(&name_owned, &wasm))
            .await
            .unwrap_or_else(|e| {
                Err(PluginFailure::Compile {
                    plugin: name.to_string(),
                    message: format!("compiler task failed: {e}"),
                })
            })
    }
}

impl Runtime {
    /// Why a component cannot be linked as `world`: the world it was built
    /// for, if that is the reason, else wasmtime's account.
    fn instantiate_failure(
        &self,
        plugin: &str,
        component: &Component,
        world: World,
        error: wasmtime::Error,
    ) -> PluginFailure {
        let message = world::mismatch(&self.shared.engine, component, world)
            .unwrap_or_else(|| format!("{error:#}"));
        PluginFailure::Instantiate {
            plugin: plugin.to_string(),
            message,
        }
    }
}

/// WASI 0.2 (all of `wasi:cli/imports`: Rust's std imports much of it even
/// for plugins that never use it; what is reachable is decided by the
/// per-call `WasiCtx`), `wasi:http/outgoing-handler` (refused unless the
/// call's grants name the authority) plus the stage world's host interfaces.
fn stage_linker(engine: &Engine) -> wasmtime::Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    use bindings::stage::drhost::plugin::{
        archive, archive_reuse, content, host, posix_fs, report, types,
    };
    types::add_to_linker::<_, PluginHostData>(&mut linker, PluginState::plugin_host)?;
    host::add_to_linker::<_, PluginHostData>(&mut linker, PluginState::plugin_host)?;
    report::add_to_linker::<_, ReportData>(&mut linker, PluginState::report_host)?;
    archive::add_to_linker::<_, ResourceData>(&mut linker, PluginState::resource_host)?;
    archive_reuse::add_to_linker::<_, ResourceData>(&mut linker, PluginState::resource_host)?;
    content::add_to_linker::<_, ResourceData>(&mut linker, PluginState::resource_host)?;
    posix_fs::add_to_linker::<_, PosixData>(&mut linker, PluginState::posix_host)?;
    Ok(linker)
}

/// WASI 0.2, `wasi:http` as for stages, plus the store-adapter world's host interfaces.
fn adapter_linker(engine: &Engine) -> wasmtime::Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    use bindings::stage::drhost::plugin::{host, types};
    types::add_to_linker::<_, PluginHostData>(&mut linker, PluginState::plugin_host)?;
    host::add_to_linker::<_, PluginHostData>(&mut linker, PluginState::plugin_host)?;
    bindings::adapter::drhost::plugin::streams::add_to_linker::<_, ResourceData>(
        &mut linker,
        PluginState::resource_host,
    )?;
    Ok(linker)
}
