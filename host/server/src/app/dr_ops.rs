//! The DR operations the API calls ([`DrOps`]), implemented by the host.

use async_trait::async_trait;
use drhost_api::model::{Backup, BackupRow, DrSettings, DrStatus, Job, Plugin, Store};
use drhost_api::{CreateBackup, DeleteBackup, DrOps, JobRef, OpError, RestoreBackup};
use drhost_repo::{BackupListing, RepoError};
use serde_json::Value;

use super::{Host, endpoint_refused, partial_restore_check, registry_error, repo_error};
use crate::jobs::{NewJob, Operation, codes};
use crate::orchestrator::{self, RestoreJob};
use crate::plugin_views::{self, AdapterView, DirView};
use crate::stores::StoreRecord;
use crate::views;

#[async_trait]
impl DrOps for Host {
    async fn list_stores(&self) -> Result<Vec<Store>, OpError> {
        Ok(self.stores.list().iter().map(StoreRecord::view).collect())
    }

    async fn store(&self, store: &str) -> Result<Store, OpError> {
        Ok(self.store(store)?.view())
    }

    async fn register_store(
        &self,
        store: &str,
        settings: Value,
        is_default: bool,
    ) -> Result<(), OpError> {
        let record = self
            .stores
            .register(store, &settings, is_default)
            .map_err(registry_error)?;
        // Before the adapter's probe sends anything there.
        if let Some((endpoint, authority)) = record.endpoint()
            && let Err(refusal) = self.stores.endpoint_policy().check(&authority).await
            && let Some(error) = endpoint_refused(store, endpoint, &refusal)
        {
            self.stores.withdraw(store);
            return Err(error);
        }
        // Refuse a store the adapter cannot use, rather than failing its first backup.
        let validated = match self.stores.open_adapter(&record) {
            Ok(adapter) => adapter.validate().await.map_err(|e| e.to_string()),
            Err(unavailable) => Err(unavailable.to_string()),
        };
        if let Err(e) = validated {
            self.stores.withdraw(store);
            return Err(OpError::InvalidInput(format!(
                "The backup store '{store}' is not usable: {e}"
            )));
        }
        Ok(())
    }

    async fn register_store_async(
        &self,
        request: drhost_api::RegisterStore,
    ) -> Result<JobRef, OpError> {
        self.register_store_as_job(request)
    }

    async fn update_store(&self, store: &str, settings: Value) -> Result<(), OpError> {
        self.stores.update(store, &settings).map_err(registry_error)
    }

    async fn unregister_store(&self, store: &str) -> Result<(), OpError> {
        self.stores
            .unregister(store)
            .await
            .map_err(registry_error)?;
        // A store registered later under this name starts a fresh index.
        let index_cache = self.config.index_cache_dir(store);
        if let Err(e) = tokio::fs::remove_dir_all(&index_cache).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %index_cache.display(), error = %e, "cannot remove the store's index cache");
        }
        Ok(())
    }

    async fn validate_store(&self, store: &str) -> Result<bool, OpError> {
        let record = self.store(store)?;
        Ok(match self.stores.open_adapter(&record) {
            Ok(adapter) => adapter.validate().await.is_ok(),
            Err(_) => false,
        })
    }

    async fn list_backups(&self, store: &str) -> Result<Vec<BackupRow>, OpError> {
        let repo = self.repository(store).await?;
        let listings = repo.list_backups().await.map_err(repo_error)?;
        Ok(listings
            .iter()
            .map(|listing| match listing {
                BackupListing::Ok(info) => BackupRow::Backup(views::backup(info, store)),
                BackupListing::Damaged {
                    name,
                    object,
                    reason,
                } => BackupRow::Damaged(views::damaged_backup(name, object, reason, store)),
                BackupListing::Tampered(finding) => {
                    BackupRow::Tampered(views::catalog_finding(finding, store))
                }
            })
            .collect())
    }

    async fn backup(&self, store: &str, backup: &str) -> Result<Backup, OpError> {
        let repo = self.repository(store).await?;
        let info = repo.backup_info(backup).await.map_err(repo_error)?;
        Ok(views::backup(&info, store))
    }

    async fn create_backup(&self, request: CreateBackup) -> Result<JobRef, OpError> {
        self.start_backup(request, "MANUAL").await
    }

    async fn tasks(&self, call: drhost_api::TaskCall) -> Result<Value, OpError> {
        self.task_call(call).await
    }

    async fn update_backup(
        &self,
        store: &str,
        backup: &str,
        retention_date: i64,
    ) -> Result<(), OpError> {
        if retention_date < -1 {
            return Err(OpError::InvalidInput(
                "retentionDate must be epoch milliseconds or -1 (never).".into(),
            ));
        }
        let repo = self.repository(store).await?;
        repo.set_retention(backup, retention_date)
            .await
            .map_err(repo_error)
    }

    async fn restore_backup(&self, request: RestoreBackup) -> Result<JobRef, OpError> {
        let repo = self.repository(&request.store).await?;
        let guard = self.claim_dr_lock()?;
        // The passcode is checked before a job exists, so a wrong one leaves
        // every target untouched and answers at once.
        let backup = repo
            .open_backup(&request.backup, &request.passcode)
            .await
            .map_err(repo_error)?;
        crate::malloc::release_free_memory();
        let skipped = partial_restore_check(backup.info(), request.partial)?;
        let stage_names = backup.stage_names();
        let stages = self.stages_for(&stage_names)?;
        for stage in &stages {
            if let Some(target) = stage.config.restore_target() {
                std::fs::create_dir_all(target).map_err(|e| {
                    OpError::Internal(format!(
                        "cannot create the restore target of {}: {e}",
                        stage.config.name
                    ))
                })?;
            }
        }
        let job = self.jobs.create(NewJob {
            operation: Operation::Restore,
            operation_uri: request.operation_uri,
            username: request.username,
            backup_name: request.backup.clone(),
            backup_store: request.store.clone(),
            schedule_type: backup.info().schedule_type.clone(),
            stage_names: orchestrator::restore_stage_names(&stage_names),
        });
        if !skipped.is_empty() {
            job.warn(
                codes::RESTORE_PARTIAL,
                &format!(
                    "Backup {} is partial: its stages {} did not complete and are not restored.",
                    request.backup,
                    skipped.join(", ")
                ),
            );
        }
        // Restore needs only the backup's own record, manifest and packs, all
        // verified as they are read; a damaged `config` is the store's problem,
        // worth a warning but not worth refusing the data back.
        if let Some(damage) = repo.check_config().await.map_err(repo_error)? {
            job.warn(
                codes::STORE_CONFIG_DAMAGED,
                &format!(
                    "Store object config is damaged ({damage}). This restore does not use it; \
                     new backups in store '{}' use the key parameters of its newest intact backup.",
                    request.store
                ),
            );
        }
        let handle = job.clone();
        self.spawn_job(job.clone(), guard, async move {
            orchestrator::run_restore(&handle, RestoreJob { backup, stages }).await
        });
        Ok(JobRef {
            jobid: job.id().to_string(),
        })
    }

    async fn verify_backup(&self, request: RestoreBackup) -> Result<JobRef, OpError> {
        let repo = self.repository(&request.store).await?;
        // Under the DR lock, so a concurrent delete cannot collect packs
        // mid-way and pass for damage.
        let guard = self.claim_dr_lock()?;
        let schedule_type = match repo.backup_info(&request.backup).await {
            Ok(info) => info.schedule_type,
            // A damaged record is what verify is for: the job reports it,
            // naming the object.
            Err(RepoError::Damaged { .. }) => "MANUAL".to_string(),
            Err(e) => return Err(repo_error(e)),
        };
        // A wrong passcode is the caller's mistake and answers at once; a
        // backup that cannot be opened (e.g. its manifest is gone) is what
        // verify is for, so the job reports it along with the catalog check.
        let opened = match repo.open_backup(&request.backup, &request.passcode).await {
            Err(e @ (RepoError::WrongPasscode | RepoError::NotFound(_))) => {
                return Err(repo_error(e));
            }
            other => other,
        };
        let job = self.jobs.create(NewJob {
            operation: Operation::VerifyBackup,
            operation_uri: request.operation_uri,
            username: request.username,
            backup_name: request.backup.clone(),
            backup_store: request.store.clone(),
            schedule_type,
            stage_names: vec!["Verify backup".into()],
        });
        let handle = job.clone();
        let name = request.backup;
        self.spawn_job(job.clone(), guard, async move {
            orchestrator::run_verify(&handle, &repo, &name, opened).await
        });
        Ok(JobRef {
            jobid: job.id().to_string(),
        })
    }

    async fn validate_backup(
        &self,
        request: drhost_api::ValidateBackup,
    ) -> Result<JobRef, OpError> {
        self.validate_backup_job(request).await
    }

    async fn delete_backup(
        &self,
        request: DeleteBackup,
        asynchronous: bool,
    ) -> Result<JobRef, OpError> {
        let repo = self.repository(&request.store).await?;
        repo.backup_info(&request.backup)
            .await
            .map_err(repo_error)?;
        let guard = self.claim_dr_lock()?;
        let job = self.jobs.create(NewJob {
            operation: Operation::DeleteBackup,
            operation_uri: request.operation_uri,
            username: request.username,
            backup_name: request.backup.clone(),
            backup_store: request.store.clone(),
            schedule_type: "MANUAL".into(),
            stage_names: vec!["Delete backup".into()],
        });
        let handle = job.clone();
        let name = request.backup;
        let task = self.spawn_job(job.clone(), guard, async move {
            orchestrator::run_delete(&handle, repo, &name).await
        });
        if !asynchronous {
            task.await
                .map_err(|e| OpError::Internal(format!("the delete job ended abnormally: {e}")))?;
            if let Some(record) = job.record()
                && let Some(failure) = record.failure
            {
                return Err(OpError::Internal(failure));
            }
        }
        Ok(JobRef {
            jobid: job.id().to_string(),
        })
    }

    async fn list_jobs(&self) -> Result<Vec<String>, OpError> {
        Ok(self.jobs.ids())
    }

    async fn job(&self, jobid: &str) -> Result<Job, OpError> {
        self.jobs
            .get(jobid)
            .map(|job| views::job(&job))
            .ok_or_else(|| OpError::NotFound(format!("job '{jobid}' does not exist")))
    }

    async fn status(&self) -> Result<DrStatus, OpError> {
        Ok(views::dr_status(self.jobs.last_dr_job().as_ref()))
    }

    async fn settings(&self) -> Result<DrSettings, OpError> {
        Ok(self.settings.view())
    }

    async fn update_settings(&self, settings: Value) -> Result<(), OpError> {
        self.settings
            .update(&settings)
            .map_err(|e| OpError::InvalidInput(e.to_string()))
    }

    async fn list_plugins(&self) -> Result<Vec<Plugin>, OpError> {
        let mut plugins: Vec<Plugin> = self.stages.iter().map(plugin_views::stage).collect();
        // Shown with the very grants each adapter runs with, over all
        // registered stores.
        for (entry, grants) in self.stores.adapter_grants() {
            plugins.push(plugin_views::adapter(AdapterView {
                entry,
                dirs: grants
                    .iter()
                    .flat_map(|g| &g.dirs)
                    .map(|dir| DirView {
                        host: &dir.host,
                        guest: &dir.guest,
                        writable: dir.writable,
                        during: "store access",
                    })
                    .collect(),
                http_connect: grants
                    .iter()
                    .flat_map(|g| g.http_connect.iter().cloned())
                    .collect(),
                limits: plugin_views::limits_view(&entry.limits),
            }));
        }
        Ok(plugins)
    }
}
