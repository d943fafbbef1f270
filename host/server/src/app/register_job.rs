//! `stores/register` with `async=true`: the registration (which may probe a
//! remote bucket) runs as a job, so the client gets its `jobsUrl` at once and
//! polls it, as the ArcGIS API for Python does.

use drhost_api::{DrOps, JobRef, OpError, RegisterStore};
use tracing::Instrument;

use super::Host;
use crate::jobs::{JobStep, NewJob, Operation, codes};
use crate::orchestrator::{self, JobFailure};

/// The job's one stage.
const STAGE: &str = "Register backup store";

impl Host {
    /// Creates the job and starts the registration in it. Not a DR job: it
    /// takes no DR lock, so it runs beside a backup.
    pub(super) fn register_store_as_job(&self, request: RegisterStore) -> Result<JobRef, OpError> {
        let host = self
            .me
            .upgrade()
            .ok_or_else(|| OpError::Internal("the host is shutting down".into()))?;
        let job = self.jobs.create(NewJob {
            operation: Operation::RegisterStore,
            operation_uri: request.operation_uri,
            username: request.username,
            backup_name: String::new(),
            backup_store: request.store.clone(),
            schedule_type: "MANUAL".into(),
            stage_names: vec![STAGE.into()],
        });
        let handle = job.clone();
        let span = tracing::info_span!("job", jobid = %job.id());
        let RegisterStore {
            store,
            settings,
            is_default,
            ..
        } = request;
        tokio::spawn(
            async move {
                handle.executing();
                let registered = orchestrator::step(&handle, JobStep::Single, STAGE, async {
                    host.register_store(&store, settings, is_default)
                        .await
                        .map_err(|e| JobFailure(e.to_string()))
                })
                .await;
                match registered {
                    Ok(()) => {
                        handle.message(
                            codes::STORE_REGISTERED,
                            &format!("Registered backup store {store}."),
                        );
                        handle.complete();
                    }
                    Err(failure) => handle.fail(&failure.0),
                }
            }
            .instrument(span),
        );
        Ok(JobRef {
            jobid: job.id().to_string(),
        })
    }
}
