//! Stage calls run on a thread of their own, with a single-threaded tokio
//! runtime, instead of on the host's shared workers.
//!
//! A stage does a few filesystem operations per file it backs up or
//! restores (stat, open, read, chmod). On the shared runtime each one had to
//! go through `spawn_blocking`, a hand-off to another thread and back: with
//! many small files those wake-ups cost more than the work (four times the
//! time of a 50,000-file backup). On its own thread a call may block in the
//! kernel directly, and the API's workers never run guest code or wait on a
//! slow disk.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::PluginFailure;

/// How long past its wall-clock limit a call may stay stuck in a blocking
/// operation (where its own timeout cannot fire) before the caller stops
/// waiting and fails it.
const STUCK_GRACE: Duration = Duration::from_secs(5);

/// Runs `call` on a new thread and waits for it. Dropping the returned
/// future cancels the call at its next await point; a call blocked in the
/// kernel for `wall_time` plus a grace period fails with
/// [`PluginFailure::WallTimeout`] while its thread finishes on its own.
pub(crate) async fn run<T: Send + 'static>(
    plugin: &str,
    wall_time: Duration,
    call: impl Future<Output = Result<T, PluginFailure>> + Send + 'static,
) -> Result<T, PluginFailure> {
    let host_failure = |message: String| PluginFailure::Host {
        plugin: plugin.to_string(),
        message,
    };
    let (done_tx, done_rx) = oneshot::channel();
    // Dropped with this future: the call's thread then stops the call.
    let (_cancel, cancelled) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("drhost-stage-call".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = done_tx.send(Err(format!("cannot start the call's runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                tokio::select! {
                    result = call => { let _ = done_tx.send(Ok(result)); }
                    _ = cancelled => {}
                }
            });
        })
        .map_err(|e| host_failure(format!("cannot start a thread for the call: {e}")))?;
    match tokio::time::timeout(wall_time + STUCK_GRACE, done_rx).await {
        Ok(Ok(Ok(result))) => result,
        Ok(Ok(Err(message))) => Err(host_failure(message)),
        // The thread ended without sending: host code panicked in it.
        Ok(Err(_)) => Err(host_failure(
            "the call's thread stopped unexpectedly".into(),
        )),
        Err(_) => Err(PluginFailure::WallTimeout {
            plugin: plugin.to_string(),
            limit: wall_time,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_runs_on_another_thread_and_returns_its_result() {
        let caller = std::thread::current().id();
        let ran_on = run("p", Duration::from_secs(5), async move {
            Ok(std::thread::current().id())
        })
        .await
        .unwrap();
        assert_ne!(ran_on, caller);
    }

    #[tokio::test]
    async fn a_panicking_call_fails_without_taking_the_caller_down() {
        let result: Result<(), _> = run("p", Duration::from_secs(5), async {
            panic!("host bug");
        })
        .await;
        assert!(
            matches!(result, Err(PluginFailure::Host { .. })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_call_stuck_in_the_kernel_fails_after_its_wall_time_and_grace() {
        let started = std::time::Instant::now();
        let result: Result<(), _> = run("p", Duration::ZERO, async {
            std::thread::sleep(STUCK_GRACE + Duration::from_secs(1));
            Ok(())
        })
        .await;
        assert!(
            matches!(result, Err(PluginFailure::WallTimeout { .. })),
            "{result:?}"
        );
        assert!(started.elapsed() < STUCK_GRACE + Duration::from_millis(900));
    }

    #[tokio::test]
    async fn dropping_the_wait_cancels_the_call() {
        let (tx, rx) = oneshot::channel::<()>();
        let wait = run("p", Duration::from_secs(5), async move {
            let _dropped_on_cancel = tx;
            std::future::pending::<Result<(), PluginFailure>>().await
        });
        let _ = tokio::time::timeout(Duration::from_millis(50), wait).await;
        // The call's future (and with it `tx`) is dropped on its thread.
        assert!(rx.await.is_err());
    }
}
