//! The host's side of scheduled tasks: the API's task calls, and firing a
//! task (a scheduled backup, or the retention cleaner) as a job.

use drhost_api::model::Passcode;
use drhost_api::{CreateBackup, JobRef, OpError, TaskCall};
use serde_json::{Value, json};

use super::Host;
use crate::clock::now_ms;
use crate::jobs::{JobStatus, JobStep, NewJob, Operation};
use crate::tasks::retention::{self, KeepLast};
use crate::tasks::{Retention, RunStatus, Task, TaskError, TaskRun, TaskStore, TaskType};

impl Host {
    pub(crate) fn tasks(&self) -> &TaskStore {
        &self.tasks
    }

    pub(super) async fn task_call(&self, call: TaskCall) -> Result<Value, OpError> {
        let view = |task: &Task| task.view(|run| self.run_status(run));
        Ok(match call {
            TaskCall::List => {
                json!({"result": self.tasks.list().iter().map(view).collect::<Vec<_>>()})
            }
            TaskCall::Create(params) => {
                let task = self
                    .tasks
                    .create_checked(params, |task| self.check_task_store(task))
                    .map_err(task_error)?;
                json!({"success": true, "taskId": task.id})
            }
            TaskCall::Get(id) => view(&self.tasks.get(&id).map_err(task_error)?),
            TaskCall::Update(id, params) => {
                let task = self
                    .tasks
                    .update_checked(&id, params, |task| self.check_task_store(task))
                    .map_err(task_error)?;
                json!({"success": true, "taskId": task.id})
            }
            TaskCall::Delete(id) => {
                self.tasks.delete(&id).map_err(task_error)?;
                json!({"success": true})
            }
            TaskCall::SetEnabled(id, active) => {
                self.tasks.set_active(&id, active).map_err(task_error)?;
                json!({"success": true})
            }
            TaskCall::RunNow(id) => {
                let task = self.tasks.get(&id).map_err(task_error)?;
                let run = self.fire_task(&task).await.map_err(task_error)?;
                crate::tasks::run_view(&run, self.run_status(&run))
            }
            TaskCall::Runs(id) => {
                let task = self.tasks.get(&id).map_err(task_error)?;
                let runs: Vec<Value> = task
                    .runs
                    .iter()
                    .rev()
                    .map(|r| crate::tasks::run_view(r, self.run_status(r)))
                    .collect();
                json!({"runs": runs})
            }
            TaskCall::UpdateRun {
                task,
                run,
                status,
                result,
            } => {
                let status = status
                    .map(|status| {
                        serde_json::from_value::<RunStatus>(json!(status.to_ascii_lowercase()))
                            .map_err(|_| {
                                OpError::InvalidInput(
                                    "status must be scheduled, executing, succeeded, skipped, \
                                     failed or submitfailed"
                                        .into(),
                                )
                            })
                    })
                    .transpose()?;
                self.tasks
                    .update_run(&task, &run, status, result)
                    .map_err(task_error)?;
                json!({"success": true})
            }
            TaskCall::DeleteRun { task, run } => {
                self.tasks.delete_run(&task, &run).map_err(task_error)?;
                json!({"success": true})
            }
            TaskCall::Run { task, run } => {
                let task = self.tasks.get(&task).map_err(task_error)?;
                let run = task
                    .runs
                    .iter()
                    .find(|r| r.run_id == run)
                    .ok_or_else(|| OpError::NotFound(format!("Run '{run}' was not found.")))?;
                let mut shown = crate::tasks::run_view(run, self.run_status(run));
                shown["task"] = view(&task);
                shown
            }
        })
    }

    /// A schedule's `storeName` must name a registered store: one that does
    /// not exist would only fail at every run.
    fn check_task_store(&self, task: &Task) -> Result<(), TaskError> {
        match task.backup.as_ref().and_then(|b| b.store.as_deref()) {
            Some(store) if self.stores.get(store).is_err() => Err(TaskError::Invalid(format!(
                "Backup store '{store}' does not exist: register it first, or leave storeName \
                 out to back up into the default store."
            ))),
            _ => Ok(()),
        }
    }

    /// Starts `task`'s work now and records the run: executing (with its
    /// job), skipped (another DR job holds the lock) or submitfailed.
    pub(crate) async fn fire_task(&self, task: &Task) -> Result<TaskRun, TaskError> {
        let started = match task.task_type {
            TaskType::CreateBackup => self.start_scheduled_backup(task).await,
            TaskType::BackupRetentionCleaner => self.start_retention_cleanup().await,
        };
        let (status, result, jobid) = match started {
            Ok(job) => (
                RunStatus::Executing,
                format!("Started job {}.", job.jobid),
                Some(job.jobid),
            ),
            Err(OpError::Conflict(message)) => (RunStatus::Skipped, message, None),
            Err(error) => (RunStatus::Submitfailed, error.to_string(), None),
        };
        tracing::info!(?status, %result, "task fired");
        self.tasks.record_run(&task.id, status, result, jobid)
    }

    async fn start_scheduled_backup(&self, task: &Task) -> Result<JobRef, OpError> {
        let schedule = task
            .backup
            .as_ref()
            .ok_or_else(|| OpError::Internal("the schedule has no backup parameters".into()))?;
        let passcode = self.tasks.passcode(schedule).map_err(task_error)?;
        let passcode =
            Passcode::new(passcode).map_err(|short| OpError::InvalidInput(short.to_string()))?;
        let now = now_ms();
        let store = match &schedule.store {
            Some(store) => store.clone(),
            None => self.default_store_name()?,
        };
        let request = CreateBackup {
            store,
            name: schedule.backup_name(now),
            passcode,
            description: schedule.description.clone(),
            retention_date: schedule.retention_date(now),
            username: "scheduler".into(),
            operation_uri: format!("/{}/admin/system/tasks/{}", self.config.context, task.id),
        };
        self.start_backup(request, "SCHEDULED").await
    }

    fn default_store_name(&self) -> Result<String, OpError> {
        self.stores
            .list()
            .into_iter()
            .find(|s| s.default)
            .map(|s| s.name)
            .ok_or_else(|| OpError::NotFound("There is no default backup store.".into()))
    }

    /// A job deleting the backups whose retention has passed, in every store.
    async fn start_retention_cleanup(&self) -> Result<JobRef, OpError> {
        let default_store = self.default_store_name()?;
        let mut stores = Vec::new();
        for record in self.stores.list() {
            match self.repository(&record.name).await {
                Ok(repo) => stores.push((record.name, repo)),
                Err(error) => {
                    tracing::warn!(store = %record.name, %error, "retention cleanup skips a store")
                }
            }
        }
        let keep_last: Vec<KeepLast> = self
            .tasks
            .list()
            .into_iter()
            .filter_map(|t| t.backup)
            .filter_map(|b| match b.retention {
                Some(Retention::KeepLast { count }) => Some(KeepLast {
                    store: b.store,
                    prefix: b.name_prefix,
                    count,
                }),
                _ => None,
            })
            .collect();
        let guard = self.claim_dr_lock()?;
        let job = self.jobs.create(NewJob {
            operation: Operation::RetentionCleanup,
            operation_uri: format!(
                "/{}/admin/system/tasks/{}",
                self.config.context,
                crate::tasks::CLEANER_ID
            ),
            username: "scheduler".into(),
            backup_name: String::new(),
            backup_store: default_store.clone(),
            schedule_type: "SCHEDULED".into(),
            stage_names: vec!["Retention cleanup".into()],
        });
        let handle = job.clone();
        let now = now_ms();
        self.spawn_job(job.clone(), guard, async move {
            crate::orchestrator::step(&handle, JobStep::Single, "Retention cleanup", async {
                retention::run_cleanup(&handle, stores, default_store, keep_last, now).await
            })
            .await
        });
        Ok(JobRef {
            jobid: job.id().to_string(),
        })
    }

    /// A run's status, following its job while it executes.
    fn run_status(&self, run: &TaskRun) -> RunStatus {
        if run.status != RunStatus::Executing {
            return run.status;
        }
        match run.jobid.as_deref().and_then(|id| self.jobs.get(id)) {
            Some(job) => match job.status {
                JobStatus::Completed => RunStatus::Succeeded,
                JobStatus::Failed | JobStatus::TimedOut => RunStatus::Failed,
                _ => RunStatus::Executing,
            },
            None => RunStatus::Failed,
        }
    }
}

fn task_error(error: TaskError) -> OpError {
    match error {
        TaskError::NotFound(id) => OpError::NotFound(format!("Task '{id}' was not found.")),
        TaskError::RunNotFound(id) => OpError::NotFound(format!("Run '{id}' was not found.")),
        TaskError::Invalid(message) => OpError::InvalidInput(message),
        TaskError::BuiltIn => OpError::Conflict(error.to_string()),
        other => {
            tracing::error!(error = %other, "task store failure");
            OpError::Internal(other.to_string())
        }
    }
}
