//! The one DR job that may run at a time: claiming the slot (or explaining
//! who holds it), and running a job in the background under it, bounded by
//! the DR timeout, with its journal removed once it has ended.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drhost_api::OpError;
use tokio::sync::OwnedMutexGuard;
use tracing::Instrument;

use crate::jobs::JobHandle;
use crate::journal::JobJournal;
use crate::orchestrator::JobFailure;

/// The slot backups, restores and deletes share.
#[derive(Default)]
pub(super) struct DrSlot {
    lock: Arc<tokio::sync::Mutex<()>>,
    /// The job holding the slot, for the busy error.
    running: Arc<Mutex<Option<String>>>,
}

impl DrSlot {
    /// Takes the slot or explains who holds it.
    pub(super) fn claim(&self) -> Result<DrClaim, OpError> {
        match self.lock.clone().try_lock_owned() {
            Ok(guard) => Ok(DrClaim {
                running: self.running.clone(),
                _guard: guard,
            }),
            Err(_) => {
                let running = self
                    .running
                    .lock()
                    .map(|j| j.clone())
                    .unwrap_or_default()
                    .unwrap_or_default();
                Err(OpError::Conflict(format!(
                    "Another disaster recovery job ({running}) is running. Only one backup, \
                     restore or delete runs at a time; try again when it has finished."
                )))
            }
        }
    }
}

/// The slot, held. Dropping it frees the slot.
pub(super) struct DrClaim {
    // Declared before the guard: fields drop in order, after `Drop::drop`.
    running: Arc<Mutex<Option<String>>>,
    _guard: OwnedMutexGuard<()>,
}

impl Drop for DrClaim {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.running.lock() {
            *slot = None;
        }
    }
}

impl DrClaim {
    /// Runs `work` as the DR job `job` in the background, holding the slot
    /// until it ends and bounding it by `timeout`. A journal is removed once
    /// the job has ended, however it ended (a host stop does not end it: the
    /// journal stays for the next start to resume from).
    pub(super) fn run<F>(
        self,
        job: JobHandle,
        timeout: Duration,
        journal: Option<Arc<JobJournal>>,
        work: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = Result<(), JobFailure>> + Send + 'static,
    {
        if let Ok(mut slot) = self.running.lock() {
            *slot = Some(job.id().to_string());
        }
        let span = tracing::info_span!("job", jobid = %job.id());
        tokio::spawn(
            async move {
                job.executing();
                let outcome = tokio::time::timeout(timeout, work).await;
                // The slot is freed before the job reads finished, so a client
                // that sees it finished can start the next job at once.
                drop(self);
                match outcome {
                    Ok(Ok(())) => job.complete(),
                    Ok(Err(failure)) => job.fail(&failure.0),
                    Err(_) => job.time_out(&format!(
                        "The job exceeded the DR setting timeoutInSeconds ({} s) and was cancelled.",
                        timeout.as_secs()
                    )),
                }
                // After the job reads finished on disk: a stop in between
                // leaves a stale journal, which the next start removes (or
                // finds the backup committed), rather than a finished job
                // that reads interrupted.
                if let Some(journal) = journal {
                    let written = job.clone();
                    let _ = tokio::task::spawn_blocking(move || written.wait_on_disk()).await;
                    journal.remove();
                }
                // An idle host should not hold the job's high-water mark.
                crate::malloc::release_free_memory();
            }
            .instrument(span),
        )
    }
}
