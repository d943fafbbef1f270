//! A backup's `validate` (undocumented in the reference; the ArcGIS API for
//! Python's `Backup.validate()` posts it without a passcode). With the
//! passcode it is drhost's verify; without, a job checks what needs no
//! passcode: the store's catalog, and every object of the backup present
//! and matching the SHA-256 it is named after.

use drhost_api::{DrOps, JobRef, OpError, RestoreBackup, ValidateBackup};
use drhost_repo::Repository;

use super::{Host, repo_error};
use crate::jobs::{JobHandle, JobStep, NewJob, Operation, codes};
use crate::orchestrator::{self, JobFailure};

/// The job's one stage.
const STAGE: &str = "Validate backup";

impl Host {
    pub(super) async fn validate_backup_job(
        &self,
        request: ValidateBackup,
    ) -> Result<JobRef, OpError> {
        if let Some(passcode) = request.passcode {
            return self
                .verify_backup(RestoreBackup {
                    store: request.store,
                    backup: request.backup,
                    passcode,
                    partial: false,
                    username: request.username,
                    operation_uri: request.operation_uri,
                })
                .await;
        }
        let repo = self.repository(&request.store).await?;
        // Under the DR lock, as verify: a concurrent delete's collection
        // would pass for lost packs.
        let guard = self.claim_dr_lock()?;
        let info = repo
            .backup_info(&request.backup)
            .await
            .map_err(repo_error)?;
        let job = self.jobs.create(NewJob {
            operation: Operation::VerifyBackup,
            operation_uri: request.operation_uri,
            username: request.username,
            backup_name: request.backup.clone(),
            backup_store: request.store.clone(),
            schedule_type: info.schedule_type.clone(),
            stage_names: vec![STAGE.into()],
        });
        let handle = job.clone();
        let name = request.backup;
        self.spawn_job(job.clone(), guard, async move {
            run_validate(&handle, &repo, &name).await
        });
        Ok(JobRef {
            jobid: job.id().to_string(),
        })
    }
}

async fn run_validate(job: &JobHandle, repo: &Repository, name: &str) -> Result<(), JobFailure> {
    orchestrator::step(job, JobStep::Single, STAGE, async {
        let findings = repo.check_catalog(None).await?;
        for finding in &findings {
            job.warn(codes::CATALOG_TAMPERED, &finding.reason);
        }
        let check = repo.check_objects(name).await?;
        let mut problems = check.problems.clone();
        problems.extend(findings.iter().map(|f| f.reason.clone()));
        if !problems.is_empty() {
            return Err(JobFailure(format!(
                "backup {name} is not intact: {}",
                problems.join("; ")
            )));
        }
        job.message(
            codes::VERIFY_COMPLETED,
            &format!(
                "Validated backup {name}: its manifest and {} packs ({} bytes) are present and \
                 match their hashes. (Verify with the passcode also authenticates every chunk.)",
                check.objects.saturating_sub(1),
                check.bytes
            ),
        );
        Ok(())
    })
    .await
}
