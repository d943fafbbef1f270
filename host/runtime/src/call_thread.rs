//! Plugin calls run on threads of their own, each driving a single-threaded
//! tokio runtime, instead of on the host's shared workers.
//!
//! A stage does a few filesystem operations per file it backs up or
//! restores (stat, open, read, chmod), and a store adapter reads and writes
//! packs in 64 KiB pieces. On the shared runtime each operation had to go
//! through `spawn_blocking`, a hand-off to another thread and back: with
//! many small files those wake-ups cost more than the work (four times the
//! time of a 50,000-file backup). On its own thread a call may block in the
//! kernel directly, and the API's workers never run guest code or wait on a
//! slow disk.
//!
//! Threads are kept for the next call (starting one costs more than a warm
//! instantiation), up to [`MAX_IDLE`], and end after [`IDLE_EXIT`] unused.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::error::PluginFailure;

/// How long past its wall-clock limit a call may stay stuck in a blocking
/// operation (where its own timeout cannot fire) before the caller stops
/// waiting and fails it.
const STUCK_GRACE: Duration = Duration::from_secs(5);
/// Idle call threads kept for reuse.
const MAX_IDLE: usize = 4;
/// An idle call thread ends after this long without a call.
const IDLE_EXIT: Duration = Duration::from_secs(60);

/// A call; what it resolves to hands the result over. The thread takes
/// itself back into the pool first, so the caller's next call finds it.
type Job = Pin<Box<dyn Future<Output = Deliver> + Send>>;
type Deliver = Box<dyn FnOnce() + Send>;

/// The idle call threads, each reachable through the sender of its queue.
#[derive(Default)]
pub(crate) struct CallThreads {
    idle: Mutex<Vec<std_mpsc::Sender<Job>>>,
}

impl CallThreads {
    /// Runs `call` on a call thread and waits for it. Dropping the returned
    /// future cancels the call at its next await point; a call blocked in
    /// the kernel for `wall_time` plus a grace period fails with
    /// [`PluginFailure::WallTimeout`] while its thread finishes on its own.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
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
        let job: Job = Box::pin(async move {
            tokio::select! {
                result = call => Box::new(move || { let _ = done_tx.send(result); }) as Deliver,
                _ = cancelled => Box::new(|| {}),
            }
        });
        self.dispatch(job).map_err(host_failure)?;
        match tokio::time::timeout(wall_time + STUCK_GRACE, done_rx).await {
            Ok(Ok(result)) => result,
            // The job ended without sending: host code panicked in it.
            Ok(Err(_)) => Err(host_failure(
                "the call's thread stopped unexpectedly".into(),
            )),
            Err(_) => Err(PluginFailure::WallTimeout {
                plugin: plugin.to_string(),
                limit: wall_time,
            }),
        }
    }

    /// Hands `job` to an idle thread, or to a new one.
    fn dispatch(self: &Arc<Self>, mut job: Job) -> Result<(), String> {
        loop {
            let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some(thread) = idle else {
                return self.spawn(job);
            };
            // A thread that ended after its idle time no longer receives.
            match thread.send(job) {
                Ok(()) => return Ok(()),
                Err(std_mpsc::SendError(returned)) => job = returned,
            }
        }
    }

    fn spawn(self: &Arc<Self>, first: Job) -> Result<(), String> {
        let (queue, jobs) = std_mpsc::channel::<Job>();
        let pool = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("drhost-plugin-call".into())
            .spawn(move || serve(first, &queue, &jobs, &pool))
            .map(drop)
            .map_err(|e| format!("cannot start a thread for the call: {e}"))
    }

    /// Takes a thread back for the next call; `false` if enough are idle.
    fn give_back(&self, queue: &std_mpsc::Sender<Job>) -> bool {
        let Ok(mut idle) = self.idle.lock() else {
            return false;
        };
        if idle.len() >= MAX_IDLE {
            return false;
        }
        idle.push(queue.clone());
        true
    }
}

/// A call thread's life: run jobs until idle for too long, or not wanted.
fn serve(
    first: Job,
    queue: &std_mpsc::Sender<Job>,
    jobs: &std_mpsc::Receiver<Job>,
    pool: &Weak<CallThreads>,
) {
    let mut runtime: Option<Runtime> = None;
    let mut next = Some(first);
    while let Some(job) = next.take() {
        let rt = match runtime.take() {
            Some(rt) => rt,
            None => match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                // Dropping the job drops its result sender: the caller
                // reports the failure.
                Err(e) => {
                    tracing::warn!("cannot start a runtime for a plugin call: {e}");
                    return;
                }
            },
        };
        let deliver = rt.block_on(job);
        // Tasks a call left behind (e.g. an HTTP connection) end with their
        // runtime rather than linger into another plugin's call.
        if rt.metrics().num_alive_tasks() == 0 {
            runtime = Some(rt);
        }
        let wanted = pool.upgrade().is_some_and(|pool| pool.give_back(queue));
        deliver();
        if !wanted {
            return;
        }
        next = jobs.recv_timeout(IDLE_EXIT).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads() -> Arc<CallThreads> {
        Arc::new(CallThreads::default())
    }

    #[tokio::test]
    async fn a_call_runs_on_another_thread_and_its_thread_is_reused() {
        let threads = threads();
        let caller = std::thread::current().id();
        let on = || async { Ok(std::thread::current().id()) };
        let first = threads
            .run("p", Duration::from_secs(5), on())
            .await
            .unwrap();
        assert_ne!(first, caller);
        let second = threads
            .run("p", Duration::from_secs(5), on())
            .await
            .unwrap();
        assert_eq!(first, second);
    }

    #[tokio::test]
    async fn a_panicking_call_fails_without_taking_the_caller_down() {
        let threads = threads();
        let result: Result<(), _> = threads
            .run("p", Duration::from_secs(5), async { panic!("host bug") })
            .await;
        assert!(
            matches!(result, Err(PluginFailure::Host { .. })),
            "{result:?}"
        );
        let after = threads
            .run("p", Duration::from_secs(5), async { Ok(1) })
            .await;
        assert_eq!(after.ok(), Some(1));
    }

    #[tokio::test]
    async fn a_call_stuck_in_the_kernel_fails_after_its_wall_time_and_grace() {
        let started = std::time::Instant::now();
        let result: Result<(), _> = threads()
            .run("p", Duration::ZERO, async {
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
        let threads = threads();
        let wait = threads.run("p", Duration::from_secs(5), async move {
            let _dropped_on_cancel = tx;
            std::future::pending::<Result<(), PluginFailure>>().await
        });
        let _ = tokio::time::timeout(Duration::from_millis(50), wait).await;
        // The call's future (and with it `tx`) is dropped on its thread.
        assert!(rx.await.is_err());
    }
}
