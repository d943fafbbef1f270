//! The data of one plugin store: WASI context, resource table, limits, and
//! what host-side code learned during the call.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::host::LogLimiter;
use crate::http::HttpPolicy;
use crate::limits::MemoryLimiter;
use crate::posix_fs::PosixFs;
use crate::redact::Redactor;
use crate::report::ReportState;

pub(crate) struct PluginState {
    /// Plugin name, for logs and error messages.
    pub(crate) plugin: Arc<str>,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http: WasiHttpCtx,
    /// Which `wasi:http` authorities the call may reach.
    pub(crate) http_policy: HttpPolicy,
    pub(crate) limiter: MemoryLimiter,
    /// Epoch ticks of guest execution left before the call is interrupted.
    pub(crate) cpu_ticks_left: u64,
    /// What `host.config()` returns.
    pub(crate) config_json: String,
    pub(crate) log: LogLimiter,
    /// Keeps the call's secrets out of what the host records.
    pub(crate) redactor: Redactor,
    /// Present for stage calls that report to a job.
    pub(crate) report: Option<ReportState>,
    pub(crate) posix: PosixFs,
    pub(crate) notes: CallNotes,
    /// The guest's stdout and stderr.
    pub(crate) output: MemoryOutputPipe,
    /// Slot in the engine's instance pool, released with the store.
    pub(crate) _permit: OwnedSemaphorePermit,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_policy,
        }
    }
}

/// Failures host code saw during a call. They outrank what the plugin
/// returns: a plugin that gets an I/O error because the restore data was
/// damaged reports "I/O error", but the cause worth showing is the damage.
#[derive(Debug, Default)]
pub(crate) struct CallNotes {
    /// A host-side failure (consumer gone, damaged input, host resource error).
    pub(crate) host_failure: Option<String>,
    /// The first way the plugin misused a host interface.
    pub(crate) protocol: Option<String>,
    /// The archive size limit that was exceeded.
    pub(crate) archive_limit: Option<u64>,
}

impl CallNotes {
    pub(crate) fn host_failure(&mut self, message: impl Into<String>) {
        self.host_failure.get_or_insert_with(|| message.into());
    }

    pub(crate) fn protocol(&mut self, message: impl Into<String>) {
        self.protocol.get_or_insert_with(|| message.into());
    }
}
