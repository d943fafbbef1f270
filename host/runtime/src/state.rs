//! The data of one plugin store: WASI context, resource table, limits, and
//! what host-side code learned during the call.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::host::{LogLimiter, PluginHost};
use crate::http::HttpPolicy;
use crate::limits::MemoryLimiter;
use crate::notes::{CallNotes, SandboxDenials};
use crate::posix_fs::{PosixFs, PosixHost};
use crate::redact::Redactor;
use crate::report::{ReportHost, ReportState};
use crate::resources::ResourceHost;

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
    /// What the WASI sandbox refused (shared with its socket check).
    pub(crate) denials: SandboxDenials,
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

/// The views each drhost interface is linked to: an interface's host code
/// sees only the part of the call's data it needs.
impl PluginState {
    pub(crate) fn plugin_host(&mut self) -> PluginHost<'_> {
        PluginHost {
            plugin: &self.plugin,
            config_json: &self.config_json,
            log: &mut self.log,
            redactor: &self.redactor,
        }
    }

    pub(crate) fn report_host(&mut self) -> ReportHost<'_> {
        ReportHost {
            plugin: &self.plugin,
            report: self.report.as_mut(),
            redactor: &self.redactor,
        }
    }

    pub(crate) fn resource_host(&mut self) -> ResourceHost<'_> {
        ResourceHost {
            table: &mut self.table,
            notes: &mut self.notes,
        }
    }

    pub(crate) fn posix_host(&mut self) -> PosixHost<'_> {
        PosixHost {
            fs: &mut self.posix,
            table: &mut self.table,
            report: self.report.as_mut(),
        }
    }
}
