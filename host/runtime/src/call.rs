//! One plugin call: a fresh store with the call's limits and grants, and the
//! translation of however the call ended into a [`PluginFailure`].
//!
//! A store is never reused: after a trap, an interrupt or a timeout the
//! instance is in an unknown state (wasmtime refuses to re-enter it), and a
//! fresh one (pooled slot, copy-on-write memory image) costs well under a
//! millisecond.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::time::error::Elapsed;
use tracing::Instrument;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline, WasmBacktrace};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi_http::WasiHttpCtx;

use crate::bindings::stage::drhost::plugin::types::PluginError;
use crate::error::PluginFailure;
use crate::grants::{OUTPUT_CAPTURE_BYTES, wasi_ctx};
use crate::host::LogLimiter;
use crate::http::HttpPolicy;
use crate::limits::{
    HOSTCALL_FUEL, MAX_COMPONENT_HANDLES, MAX_TABLE_ENTRIES, MemoryLimiter, PluginLimits,
};
use crate::notes::{CallNotes, SandboxDenials};
use crate::posix_fs::PosixFs;
use crate::redact::Redactor;
use crate::report::{ReportState, Reporter, truncate};
use crate::state::PluginState;
use crate::{PluginContext, Shared};

/// How the wasm side of a call failed.
pub(crate) enum CallError {
    /// Creating the instance failed (or trapped).
    Instantiate(wasmtime::Error),
    /// The export trapped or a host import returned a fatal error.
    Call(wasmtime::Error),
}

/// What the body of a call produces: the export's own result, or a failure.
pub(crate) type CallResult<T> = Result<Result<T, PluginError>, CallError>;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs `body` against a fresh instance (made by `instantiate`) of
/// `plugin` under `ctx`'s limits, on a call thread (see `call_thread`).
pub(crate) async fn run<B: Send + Sync + 'static, T: Send + 'static>(
    shared: &Arc<Shared>,
    plugin: &Arc<str>,
    span: tracing::Span,
    ctx: &PluginContext,
    reporter: Option<Arc<dyn Reporter>>,
    instantiate: impl for<'a> FnOnce(&'a mut Store<PluginState>) -> BoxFuture<'a, wasmtime::Result<B>>
    + Send
    + 'static,
    body: impl for<'a> FnOnce(&'a mut Store<PluginState>, &'a B) -> BoxFuture<'a, CallResult<T>>
    + Send
    + 'static,
) -> Result<T, PluginFailure> {
    let limits = shared.effective_limits(&ctx.limits);
    let wall_time = limits.wall_time;
    let ctx = PluginContext {
        limits: limits.clone(),
        ..ctx.clone()
    };
    let (shared_for_call, name) = (shared.clone(), plugin.clone());
    let call = async move {
        let mut store = new_store(&shared_for_call, &name, &ctx, reporter).await?;
        let outcome = tokio::time::timeout(limits.wall_time, async {
            let instance = instantiate(&mut store)
                .await
                .map_err(CallError::Instantiate)?;
            body(&mut store, &instance).await
        })
        .await;
        let result = finish(store, &limits, outcome);
        if let Err(e) = &result {
            tracing::debug!("plugin call failed: {e}");
        }
        result
    };
    shared
        .call_threads
        .run(plugin, wall_time, call.instrument(span))
        .await
}

/// A store set up for one call of `plugin` under `ctx`, to run on a call
/// thread (`call_thread`).
async fn new_store(
    shared: &Shared,
    plugin: &Arc<str>,
    ctx: &PluginContext,
    reporter: Option<Arc<dyn Reporter>>,
) -> Result<Store<PluginState>, PluginFailure> {
    // Queue rather than fail when every pool slot is busy.
    let permit = shared
        .instance_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| PluginFailure::Instantiate {
            plugin: plugin.to_string(),
            message: "the plugin runtime is shutting down".into(),
        })?;
    let output = MemoryOutputPipe::new(OUTPUT_CAPTURE_BYTES);
    let denials = SandboxDenials::default();
    let wasi = wasi_ctx(plugin, &ctx.grants, &output, &denials).map_err(|message| {
        PluginFailure::Host {
            plugin: plugin.to_string(),
            message,
        }
    })?;
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_TABLE_ENTRIES);
    let state = PluginState {
        plugin: plugin.clone(),
        wasi,
        table,
        http: WasiHttpCtx::new(),
        http_policy: HttpPolicy::new(plugin.clone(), &ctx.grants.http_connect)
            .with_addresses(ctx.grants.http_addresses.clone())
            .with_denials(denials.clone()),
        limiter: MemoryLimiter::new(ctx.limits.memory_bytes),
        cpu_ticks_left: ctx.limits.cpu_ticks(),
        config_json: ctx.config_json.clone(),
        log: LogLimiter::new(),
        redactor: Redactor::new(&ctx.secrets),
        report: reporter.map(ReportState::new),
        posix: PosixFs::new(&ctx.grants.dirs, ctx.grants.fs_policy),
        notes: CallNotes::default(),
        denials,
        output,
        _permit: permit,
    };
    let mut store = Store::new(&shared.engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_hostcall_fuel(HOSTCALL_FUEL);
    store.set_max_component_handles(MAX_COMPONENT_HANDLES);
    // Every tick the guest is seen running costs one tick of its CPU budget;
    // in between it yields so one plugin cannot hog a tokio worker. Time
    // blocked in host calls does not tick down (the callback only runs in
    // guest code), which is why the wall-clock timeout exists too.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut cx| {
        let state = cx.data_mut();
        if state.cpu_ticks_left == 0 {
            return Ok(UpdateDeadline::Interrupt);
        }
        state.cpu_ticks_left -= 1;
        // tokio's own yield lets the scheduler run other tasks first (a
        // plain re-wake could be polled again immediately).
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    Ok(store)
}

/// Turns the outcome of a call into its result, logs the guest's output and
/// flushes held-back progress. Consumes the store: it is never used again.
pub(crate) fn finish<T>(
    mut store: Store<PluginState>,
    limits: &PluginLimits,
    outcome: Result<CallResult<T>, Elapsed>,
) -> Result<T, PluginFailure> {
    let state = store.data_mut();
    let plugin = state.plugin.to_string();
    if let Some(report) = &mut state.report {
        report.flush(&plugin);
    }
    let dropped = state.log.take_dropped();
    if dropped > 0 {
        tracing::warn!(plugin, dropped, "plugin log lines dropped (rate limit)");
    }
    let output = state.output.contents();
    let mut notes = std::mem::take(&mut state.notes);
    notes.sandbox_denial = state.denials.first();
    let memory_limit_hit = state.limiter.limit_hit();
    let redactor = state.redactor.clone();
    let output = redactor
        .apply(&String::from_utf8_lossy(&output))
        .into_owned();
    let result = classify(
        &plugin,
        notes,
        memory_limit_hit,
        output.as_bytes(),
        limits,
        outcome,
    );
    forward_output(&plugin, output.as_bytes(), result.is_err());
    result.map_err(|failure| failure.redacted(&redactor))
}

/// The most telling reason a call failed: what host code saw first (it is
/// the cause the plugin's own error would only echo), then how wasm ended.
fn classify<T>(
    plugin: &str,
    notes: CallNotes,
    memory_limit_hit: bool,
    output: &[u8],
    limits: &PluginLimits,
    outcome: Result<CallResult<T>, Elapsed>,
) -> Result<T, PluginFailure> {
    let plugin = plugin.to_string();
    if let Some(message) = notes.host_failure {
        return Err(PluginFailure::Host { plugin, message });
    }
    if let Some(message) = notes.protocol {
        return Err(PluginFailure::Protocol { plugin, message });
    }
    if let Some(limit) = notes.archive_limit {
        return Err(PluginFailure::ArchiveLimit { plugin, limit });
    }
    let (error, instantiating) = match outcome {
        Err(Elapsed { .. }) => {
            return Err(PluginFailure::WallTimeout {
                plugin,
                limit: limits.wall_time,
            });
        }
        Ok(Ok(Ok(value))) => return Ok(value),
        Ok(Ok(Err(error))) => {
            let failure = PluginFailure::from_plugin_error(&plugin, error);
            return Err(match notes.sandbox_denial {
                Some(denial) => failure.with_sandbox_denial(&denial),
                None => failure,
            });
        }
        Ok(Err(CallError::Instantiate(e))) => (e, true),
        Ok(Err(CallError::Call(e))) => (e, false),
    };
    if memory_limit_hit {
        return Err(PluginFailure::MemoryLimit {
            plugin,
            limit: limits.memory_bytes,
        });
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return Err(PluginFailure::CpuLimit {
            plugin,
            limit: limits.cpu_time,
        });
    }
    if exhausted_hostcall_fuel(&error) {
        return Err(PluginFailure::TransferLimit {
            plugin,
            limit: HOSTCALL_FUEL as u64,
        });
    }
    if instantiating {
        return Err(PluginFailure::Instantiate {
            plugin,
            message: format!("{error:#}"),
        });
    }
    Err(PluginFailure::Trap {
        plugin,
        message: trap_message(&error, output),
    })
}

/// Whether wasmtime refused to copy more than the store's hostcall fuel
/// between guest and host. Its error type is private; its text is matched,
/// and `tests/hostile_plugins.rs` (oversized summaries) catches a change.
fn exhausted_hostcall_fuel(error: &wasmtime::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.to_string().contains("fuel allocated for hostcalls"))
}

/// The trap's reason, the innermost guest frames, and the end of what the
/// guest printed (a Rust panic message lands there).
fn trap_message(error: &wasmtime::Error, output: &[u8]) -> String {
    let mut message = match error.downcast_ref::<Trap>() {
        // wasmtime says "call stack exhausted"; operators know the term below.
        Some(Trap::StackOverflow) => "stack overflow (call stack exhausted)".to_string(),
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    if let Some(backtrace) = error.downcast_ref::<WasmBacktrace>() {
        let frames: Vec<String> = backtrace
            .frames()
            .iter()
            .take(6)
            .map(|frame| match frame.func_name() {
                Some(name) => truncate(name, 100).to_string(),
                None => format!("func[{}]", frame.func_index()),
            })
            .collect();
        if !frames.is_empty() {
            message.push_str(" at ");
            message.push_str(&frames.join(" <- "));
        }
    }
    let output = String::from_utf8_lossy(output);
    let tail: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE=1`"))
        .collect();
    if !tail.is_empty() {
        let tail = tail[tail.len().saturating_sub(4)..].join(" / ");
        let start = tail.len().saturating_sub(1024);
        let start = (start..tail.len())
            .find(|&i| tail.is_char_boundary(i))
            .unwrap_or(tail.len());
        message.push_str("; plugin output: ");
        message.push_str(&tail[start..]);
    }
    message
}

/// Passes what the guest printed to the log: it is how plugins explain panics.
fn forward_output(plugin: &str, output: &[u8], failed: bool) {
    if output.is_empty() {
        return;
    }
    for line in String::from_utf8_lossy(output).lines().take(200) {
        if failed {
            tracing::warn!(target: "drhost::plugin", plugin, "output: {line}");
        } else {
            tracing::debug!(target: "drhost::plugin", plugin, "output: {line}");
        }
    }
    if output.len() >= OUTPUT_CAPTURE_BYTES {
        tracing::warn!(
            plugin,
            "plugin output exceeded {OUTPUT_CAPTURE_BYTES} bytes and was cut"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn elapsed() -> Elapsed {
        match tokio::time::timeout(Duration::ZERO, std::future::pending::<()>()).await {
            Err(e) => e,
            Ok(()) => unreachable!(),
        }
    }

    fn limits() -> PluginLimits {
        PluginLimits {
            memory_bytes: 64 << 20,
            cpu_time: Duration::from_secs(1),
            wall_time: Duration::from_secs(2),
            max_archive_bytes: Some(10),
        }
    }

    fn run(
        notes: CallNotes,
        memory: bool,
        output: &[u8],
        outcome: Result<CallResult<()>, Elapsed>,
    ) -> PluginFailure {
        match classify("p", notes, memory, output, &limits(), outcome) {
            Err(e) => e,
            Ok(()) => panic!("expected a failure"),
        }
    }

    fn trap(t: Trap) -> Result<CallResult<()>, Elapsed> {
        Ok(Err(CallError::Call(wasmtime::Error::from(t))))
    }

    #[tokio::test]
    async fn failures_are_classified_by_cause() {
        let none = CallNotes::default;
        assert!(matches!(
            run(none(), false, b"", trap(Trap::Interrupt)),
            PluginFailure::CpuLimit { .. }
        ));
        assert!(matches!(
            run(none(), true, b"", trap(Trap::UnreachableCodeReached)),
            PluginFailure::MemoryLimit { limit, .. } if limit == 64 << 20
        ));
        assert!(matches!(
            run(none(), false, b"", Err(elapsed().await)),
            PluginFailure::WallTimeout { .. }
        ));
        let instantiate = Ok(Err(CallError::Instantiate(wasmtime::format_err!(
            "missing import"
        ))));
        assert!(matches!(
            run(none(), false, b"", instantiate),
            PluginFailure::Instantiate { message, .. } if message.contains("missing import")
        ));
        let plugin_error = Ok(Ok(Err(PluginError::Io("disk".into()))));
        assert!(matches!(
            run(none(), false, b"", plugin_error),
            PluginFailure::Plugin {
                kind: crate::PluginErrorKind::Io,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_plugin_error_names_what_the_sandbox_refused() {
        let notes = CallNotes {
            sandbox_denial: Some(
                "a TCP connection to 10.0.0.5:5432: no `tcp_connect` grant".into(),
            ),
            ..CallNotes::default()
        };
        let refused = Ok(Ok(Err(PluginError::Io(
            "Permission denied (os error 2)".into(),
        ))));
        let failure = run(notes, false, b"", refused).to_string();
        assert!(
            failure.contains("Permission denied (os error 2) (the sandbox refused a TCP connection to 10.0.0.5:5432: no `tcp_connect` grant)"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn host_notes_outrank_what_the_plugin_returned() {
        let notes = CallNotes {
            host_failure: Some("pack damaged".into()),
            protocol: Some("bad order".into()),
            archive_limit: None,
            sandbox_denial: None,
        };
        let echo = Ok(Ok(Err(PluginError::Io("restore data unavailable".into()))));
        assert!(matches!(
            run(notes, false, b"", echo),
            PluginFailure::Host { message, .. } if message == "pack damaged"
        ));
        let notes = CallNotes {
            protocol: Some("bad order".into()),
            ..CallNotes::default()
        };
        assert!(matches!(
            run(notes, false, b"", Ok(Ok(Ok(())))),
            PluginFailure::Protocol { .. }
        ));
        let notes = CallNotes {
            archive_limit: Some(10),
            ..CallNotes::default()
        };
        assert!(matches!(
            run(notes, false, b"", Ok(Ok(Ok(())))),
            PluginFailure::ArchiveLimit { limit: 10, .. }
        ));
    }

    #[test]
    fn a_stack_overflow_is_called_one() {
        let failure = run(CallNotes::default(), false, b"", trap(Trap::StackOverflow));
        assert!(
            failure.to_string().contains("crashed: stack overflow"),
            "{failure}"
        );
    }

    #[test]
    fn trap_messages_carry_the_panic_text() {
        let output = b"thread '<unnamed>' panicked at src/lib.rs:5:9:\nindex out of bounds\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        let failure = run(
            CallNotes::default(),
            false,
            output,
            trap(Trap::UnreachableCodeReached),
        );
        let PluginFailure::Trap { message, .. } = failure else {
            panic!("expected a trap");
        };
        assert!(message.contains("unreachable"), "{message}");
        assert!(message.contains("index out of bounds"), "{message}");
        assert!(!message.contains("RUST_BACKTRACE"), "{message}");
    }
}
