//! The running host: configuration, plugins, stores and jobs, and the
//! implementation of every admin API operation ([`DrOps`]).

use std::sync::Arc;

use drhost_api::{CreateBackup, JobRef, OpError};
use drhost_repo::{BackupInfo, RepoError, Repository};
use drhost_runtime::{EndpointRefusal, Runtime, RuntimeConfig};

use crate::clock::now_ms;
use crate::config::HostConfig;
use crate::jobs::{JobHandle, JobStore, NewJob, Operation};
use crate::journal::JobJournal;
use crate::orchestrator::{self, BackupJob};
use crate::pipeline::ConfiguredStage;
use crate::settings::Settings;
use crate::stores::{StoreAdapters, StoreRecord, StoreRegistry, StoreRegistryError, Stores};
use crate::tasks::{Sealer, TaskStore};

mod dr_ops;
mod dr_slot;
mod register_job;
mod resume;
mod tasks_api;
mod validate_job;

use dr_slot::{DrClaim, DrSlot};

/// The host's state; cheap to share.
pub struct Host {
    /// This host, for work that outlives a request (a store registration
    /// run as a job).
    me: std::sync::Weak<Host>,
    config: HostConfig,
    stages: Vec<ConfiguredStage>,
    /// The registry, the adapters serving it and the opened repositories.
    stores: Stores,
    jobs: JobStore,
    settings: Settings,
    /// Backup schedules and the retention cleaner.
    tasks: TaskStore,
    /// Seals the passcode in each backup's job journal (the schedules' host key).
    sealer: Sealer,
    /// Held by the one DR job that may run at a time.
    dr_slot: DrSlot,
}

impl Host {
    /// Writes the job records' last changes before the host exits (they
    /// are written behind the jobs, see `jobs::writer`).
    pub fn flush_job_records(&self) {
        self.jobs.flush();
    }

    /// Loads state, plugins and stores. Backups that were running when the
    /// host last stopped resume; other such jobs are marked failed, and their
    /// stores garbage-collected.
    pub async fn start(config: HostConfig) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(&config.state_dir)?;
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: config.cache_dir(),
            ..RuntimeConfig::default()
        })?;
        // A stage whose plugin cannot be loaded is kept, disabled: the host
        // starts, shows why, and fails that stage when a job reaches it.
        let mut stages = Vec::with_capacity(config.stages.len());
        for stage in &config.stages {
            stages.push(ConfiguredStage::load(&runtime, stage).await);
        }
        let adapter_configs = config.adapters().map_err(anyhow::Error::msg)?;
        let registry = StoreRegistry::open(
            &config.state_dir,
            config.store_roots.clone(),
            crate::stores::store_types(&adapter_configs),
        )?;
        let adapters = StoreAdapters::load(
            &runtime,
            adapter_configs
                .into_iter()
                .map(|adapter| {
                    let limits = config.adapter_limits(&adapter);
                    (adapter, limits)
                })
                .collect(),
            Arc::new(config.store_endpoint_policy()?),
        )
        .await;
        let stores = Stores::new(registry, adapters, config.state_dir.clone());
        let (jobs, interrupted) = JobStore::open(&config.state_dir.join("jobs"))?;
        let settings = Settings::open(&config.state_dir)?;
        let tasks = TaskStore::open(&config.state_dir)?;
        let sealer = Sealer::open(&config.state_dir.join("tasks.key"))?;
        let host = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            stages,
            stores,
            jobs,
            settings,
            tasks,
            sealer,
            dr_slot: DrSlot::default(),
            config,
        });
        host.settle_interrupted(&interrupted).await;
        // After the interrupted jobs are settled, so a schedule that fires at
        // once (a slot missed while the host was down) finds the lock free,
        // unless a resumed backup holds it: that run is then recorded skipped.
        tokio::spawn(crate::tasks::scheduler::run(
            host.clone(),
            std::time::Duration::from_secs_f64(host.config.scheduler_tick_seconds),
        ));
        Ok(host)
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    fn store(&self, name: &str) -> Result<StoreRecord, OpError> {
        self.stores.get(name).map_err(registry_error)
    }

    async fn repository(&self, store: &str) -> Result<Repository, OpError> {
        let record = self.store(store)?;
        self.stores
            .repository(&record, self.config.index_cache_dir(store))
            .await
            .map_err(repo_error)
    }

    /// Takes the DR slot or explains who holds it.
    fn claim_dr_lock(&self) -> Result<DrClaim, OpError> {
        self.dr_slot.claim()
    }

    /// Runs `work` as the DR job `job` in the background, holding the slot
    /// until it ends and bounding it by the `timeoutInSeconds` setting.
    fn spawn_job<F>(&self, job: JobHandle, claim: DrClaim, work: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = Result<(), orchestrator::JobFailure>> + Send + 'static,
    {
        self.spawn_journaled_job(job, claim, None, work)
    }

    /// [`spawn_job`](Self::spawn_job) for a job with a journal, removed once
    /// the job has ended ([`DrClaim::run`]).
    fn spawn_journaled_job<F>(
        &self,
        job: JobHandle,
        claim: DrClaim,
        journal: Option<Arc<JobJournal>>,
        work: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = Result<(), orchestrator::JobFailure>> + Send + 'static,
    {
        claim.run(job, self.settings.job_timeout(), journal, work)
    }

    /// The configured stage for each stage of a backup, in backup order.
    fn stages_for(&self, backup_stages: &[String]) -> Result<Vec<ConfiguredStage>, OpError> {
        backup_stages
            .iter()
            .map(|name| {
                self.stages
                    .iter()
                    .find(|s| &s.config.name == name)
                    .cloned()
                    .ok_or_else(|| {
                        OpError::InvalidInput(format!(
                            "The backup contains stage '{name}', which this host's configuration \
                             does not define, so it cannot be restored here."
                        ))
                    })
            })
            .collect()
    }
}

/// The incomplete stages a restore of `info` skips; a partial backup is
/// restored only when the request says it knows (`partial=true`).
fn partial_restore_check(info: &BackupInfo, partial: bool) -> Result<Vec<String>, OpError> {
    let incomplete: Vec<String> = info
        .incomplete_stages
        .iter()
        .map(|s| s.name.clone())
        .collect();
    if !incomplete.is_empty() && !partial {
        return Err(OpError::InvalidInput(format!(
            "Backup '{}' is partial: its stages {} did not complete. Restore it with \
             partial=true to restore only its complete stages.",
            info.name,
            incomplete.join(", ")
        )));
    }
    Ok(incomplete)
}

fn registry_error(e: StoreRegistryError) -> OpError {
    match e {
        StoreRegistryError::NotFound(_) => OpError::NotFound(e.to_string()),
        StoreRegistryError::Exists(_) | StoreRegistryError::CaseClash { .. } => {
            OpError::Conflict(e.to_string())
        }
        StoreRegistryError::LastDefault(_) => OpError::InvalidInput(e.to_string()),
        StoreRegistryError::Invalid(_)
        | StoreRegistryError::OutsideStoreRoots(_)
        | StoreRegistryError::Overlaps { .. }
        | StoreRegistryError::Unresolvable { .. } => OpError::InvalidInput(e.to_string()),
        StoreRegistryError::Io { .. } | StoreRegistryError::Directory { .. } => {
            OpError::Internal(e.to_string())
        }
    }
}

/// The answer to registering a store whose endpoint leads where stores may
/// not, naming neither the address nor the reason a name did not resolve
/// (the log has both); `None` for an endpoint that does not resolve, which
/// the adapter's probe then reports like every other unreachable endpoint.
fn endpoint_refused(store: &str, endpoint: &str, refusal: &EndpointRefusal) -> Option<OpError> {
    tracing::warn!(store, %refusal, "refused a store endpoint");
    match refusal {
        EndpointRefusal::NotAllowed { .. } => Some(OpError::InvalidInput(format!(
            "The backup store '{store}' is not usable: connection.endpoint {endpoint} leads to \
             an address this host does not allow for stores. Loopback, link-local and \
             multicast addresses are allowed only when the host's store_endpoints setting \
             lists them; when it is set, only the networks it lists are allowed."
        ))),
        EndpointRefusal::Unresolvable { .. } | EndpointRefusal::NoAddress { .. } => None,
    }
}

fn repo_error(e: RepoError) -> OpError {
    match e {
        RepoError::WrongPasscode => OpError::WrongPasscode(
            "The passcode does not match the one this backup was created with.".into(),
        ),
        RepoError::NotFound(_) => OpError::NotFound(e.to_string()),
        RepoError::NameTaken(_) => OpError::Conflict(e.to_string()),
        RepoError::InvalidName(_) => OpError::InvalidInput(e.to_string()),
        // The store's data, not the host, is at fault: the backup cannot be
        // used as it is, and the answer names the object.
        RepoError::Damaged { .. } => OpError::Conflict(e.to_string()),
        _ => OpError::Internal(e.to_string()),
    }
}

impl Host {
    /// Starts a backup job; `schedule_type` is `MANUAL` or `SCHEDULED`.
    pub(crate) async fn start_backup(
        &self,
        request: CreateBackup,
        schedule_type: &str,
    ) -> Result<JobRef, OpError> {
        drhost_repo::validate_backup_name(&request.name).map_err(repo_error)?;
        let repo = self.repository(&request.store).await?;
        if repo.backup_info(&request.name).await.is_ok() {
            return Err(OpError::Conflict(format!(
                "A backup named '{}' already exists in store '{}'.",
                request.name, request.store
            )));
        }
        let guard = self.claim_dr_lock()?;
        let start_time = now_ms();
        let job = self.jobs.create(NewJob {
            operation: Operation::Backup,
            operation_uri: request.operation_uri.clone(),
            username: request.username.clone(),
            backup_name: request.name.clone(),
            backup_store: request.store.clone(),
            schedule_type: schedule_type.into(),
            stage_names: orchestrator::backup_stage_names(&self.stages),
        });
        let journal = self.start_journal(job.id(), &request, schedule_type, start_time);
        let info = BackupInfo::new(
            request.name,
            request.description,
            schedule_type,
            start_time,
            request.retention_date,
            env!("CARGO_PKG_VERSION"),
        );
        let work = BackupJob {
            repo,
            stages: self.stages.clone(),
            passcode: request.passcode.into_string(),
            info,
            resume: Vec::new(),
            journal: journal.clone(),
        };
        self.spawn_backup(job.clone(), guard, work);
        Ok(JobRef {
            jobid: job.id().to_string(),
        })
    }

    /// Runs a new or resumed backup job; a backup that fails leaves nothing
    /// behind (its packs are collected, its journal removed).
    fn spawn_backup(&self, job: JobHandle, guard: DrClaim, work: BackupJob) {
        let handle = job.clone();
        let repo = work.repo.clone();
        let journal = work.journal.clone();
        self.spawn_journaled_job(job, guard, journal, async move {
            let result = orchestrator::run_backup(&handle, work).await;
            if result.is_err() {
                // What the failed backup wrote is referenced by no commit record.
                if let Err(e) = repo.collect_garbage().await {
                    tracing::warn!(error = %e, "garbage collection after a failed backup failed");
                }
            }
            result
        });
    }
}
