//! The operations the admin API exposes, implemented by the host (`drhost`
//! crate). Handlers in this crate parse and authorise requests, call these, and
//! render the result; they never touch jobs, stores or plugins themselves.
//!
//! Resources are returned as the typed values of [`crate::model`], whose JSON
//! is the reference API's (see `docs/reference/api.md`); handlers serialize
//! them. Task answers are still JSON documents.

use async_trait::async_trait;
use serde_json::Value;

use crate::model::{Backup, BackupRow, DrSettings, DrStatus, Job, Passcode, Plugin, Store};

/// Why an operation failed. Mapped to an HTTP status and the API's error JSON
/// (`{"error":{"code":N,"message":...,"details":[]}}`) by [`crate::error`].
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// A parameter is missing or malformed (HTTP 400).
    #[error("{0}")]
    InvalidInput(String),
    /// The named resource does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state, e.g. another DR job is
    /// running or a name is taken (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// A backup's passcode did not match (HTTP 400 with its own message).
    #[error("{0}")]
    WrongPasscode(String),
    /// Something failed on the host's side (HTTP 500). The message is shown to
    /// the client, so it must not hold secrets or stack traces.
    #[error("{0}")]
    Internal(String),
}

/// Parameters of `stores/<store>/backups/create`.
#[derive(Debug, Clone)]
pub struct CreateBackup {
    pub store: String,
    pub name: String,
    pub passcode: Passcode,
    pub description: String,
    /// Epoch ms after which retention may delete the backup; -1 = never.
    pub retention_date: i64,
    /// The user who asked, recorded in the job.
    pub username: String,
    /// Path of the operation, recorded as the job's `operationURI`.
    pub operation_uri: String,
}

/// An operation on scheduled tasks (`/system/tasks`, spec §8).
#[derive(Debug, Clone)]
pub enum TaskCall {
    /// `{"result": [task, ...]}`
    List,
    /// `{"success": true, "taskId": ...}`
    Create(TaskParams),
    Get(String),
    Update(String, TaskParams),
    Delete(String),
    /// `enable` (true) or `disable` (false).
    SetEnabled(String, bool),
    /// Starts a run now, outside the schedule (a drhost addition).
    RunNow(String),
    Runs(String),
    Run {
        task: String,
        run: String,
    },
    /// `runs/<run>/update`: `status` (scheduled, executing, succeeded,
    /// skipped, failed, submitfailed) and `result` text, each optional.
    UpdateRun {
        task: String,
        run: String,
        status: Option<String>,
        result: Option<String>,
    },
    /// `runs/<run>/delete`.
    DeleteRun {
        task: String,
        run: String,
    },
}

/// `createTask` / `update` parameters as received; the host checks them.
#[derive(Debug, Clone, Default)]
pub struct TaskParams {
    pub title: Option<String>,
    pub task_type: Option<String>,
    pub parameters: Option<Value>,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    pub minute: Option<String>,
    pub hour: Option<String>,
    pub day_of_month: Option<String>,
    pub month: Option<String>,
    pub day_of_week: Option<String>,
    pub max_occurrences: Option<i64>,
    /// `isActive` on `update`: enables or disables the task, as `enable` and
    /// `disable` do (the ArcGIS API for Python's `Task.start`/`stop`).
    pub is_active: Option<bool>,
}

/// Parameters of `backups/<backup>/restore` (and of `verify`, which takes the same).
#[derive(Debug, Clone)]
pub struct RestoreBackup {
    pub store: String,
    pub backup: String,
    pub passcode: String,
    /// `partial=true`: restore a partial backup's complete stages (a partial
    /// backup is refused without it).
    pub partial: bool,
    pub username: String,
    pub operation_uri: String,
}

/// Parameters of a backup's `validate` (undocumented in the reference; the
/// ArcGIS API for Python's `Backup.validate()` posts it without a passcode).
#[derive(Debug, Clone)]
pub struct ValidateBackup {
    pub store: String,
    pub backup: String,
    /// With the passcode, validate is `verify`; without, the job checks what
    /// can be checked without it (catalog, objects present and intact).
    pub passcode: Option<String>,
    pub username: String,
    pub operation_uri: String,
}

/// Parameters of `stores/register` run as a job (`async=true`).
#[derive(Debug, Clone)]
pub struct RegisterStore {
    pub store: String,
    /// The parsed `settings` JSON (spec §9).
    pub settings: Value,
    pub is_default: bool,
    pub username: String,
    pub operation_uri: String,
}

/// Parameters of `backups/<backup>/delete`.
#[derive(Debug, Clone)]
pub struct DeleteBackup {
    pub store: String,
    pub backup: String,
    pub username: String,
    pub operation_uri: String,
}

/// A submitted asynchronous job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    /// `j` followed by a UUID.
    pub jobid: String,
}

/// Everything the admin API can ask of the host.
#[async_trait]
pub trait DrOps: Send + Sync + 'static {
    /// `{"backupStores":[...]}` entries: store objects as in spec §5.4.
    async fn list_stores(&self) -> Result<Vec<Store>, OpError>;
    /// One store object.
    async fn store(&self, store: &str) -> Result<Store, OpError>;
    /// Register a store. `settings` is the parsed `settings` JSON (spec §9).
    async fn register_store(
        &self,
        store: &str,
        settings: Value,
        is_default: bool,
    ) -> Result<(), OpError>;
    /// Registers a store in a job (`async=true`): answers at once, the job
    /// runs what [`DrOps::register_store`] does and fails with its reason.
    async fn register_store_async(&self, request: RegisterStore) -> Result<JobRef, OpError>;
    /// `settings` holds e.g. `{"default": true}` (spec §5.7).
    async fn update_store(&self, store: &str, settings: Value) -> Result<(), OpError>;
    async fn unregister_store(&self, store: &str) -> Result<(), OpError>;
    /// Checks the store is reachable and writable; returns whether it is ready.
    async fn validate_store(&self, store: &str) -> Result<bool, OpError>;

    /// Backup objects of a store (spec §5.10).
    /// Backups the store holds, and those it should hold but cannot show.
    async fn list_backups(&self, store: &str) -> Result<Vec<BackupRow>, OpError>;
    /// One backup object.
    async fn backup(&self, store: &str, backup: &str) -> Result<Backup, OpError>;
    /// Starts a backup job. Fails with `Conflict` if a DR job is running.
    async fn create_backup(&self, request: CreateBackup) -> Result<JobRef, OpError>;
    /// Sets a backup's `retentionDate` (epoch ms, -1 = never).
    async fn update_backup(
        &self,
        store: &str,
        backup: &str,
        retention_date: i64,
    ) -> Result<(), OpError>;
    /// Starts a restore job. Fails with `WrongPasscode` before any job starts
    /// if the passcode does not open the backup.
    async fn restore_backup(&self, request: RestoreBackup) -> Result<JobRef, OpError>;
    /// Starts a job that reads every pack of a backup and checks every
    /// chunk's authentication tag, size and id, restoring nothing. Fails with
    /// `WrongPasscode` before any job starts, as restore does.
    async fn verify_backup(&self, request: RestoreBackup) -> Result<JobRef, OpError>;
    /// Starts a job validating a backup: [`DrOps::verify_backup`] with the
    /// passcode; without it, the store's catalog and the backup's objects
    /// (present, and matching the hashes they are named after).
    async fn validate_backup(&self, request: ValidateBackup) -> Result<JobRef, OpError>;
    /// Deletes a backup; runs as a job and waits for it unless `asynchronous`.
    async fn delete_backup(
        &self,
        request: DeleteBackup,
        asynchronous: bool,
    ) -> Result<JobRef, OpError>;

    /// Job ids, oldest first.
    async fn list_jobs(&self) -> Result<Vec<String>, OpError>;
    /// One job object (spec §6).
    async fn job(&self, jobid: &str) -> Result<Job, OpError>;

    /// The `status` object of the last DR job (spec §7), without the outer
    /// `{"status": ...}` wrapper.
    async fn status(&self) -> Result<DrStatus, OpError>;
    /// DR settings object (spec §5.2).
    async fn settings(&self) -> Result<DrSettings, OpError>;
    /// Applies the parsed `settings` JSON of `settings/update` (spec §5.3).
    async fn update_settings(&self, settings: Value) -> Result<(), OpError>;
    /// Scheduled tasks: the answer of each [`TaskCall`].
    async fn tasks(&self, call: TaskCall) -> Result<Value, OpError>;

    /// The installed plugins (`system/plugins`, a drhost addition): the
    /// pipeline's stages, then the store adapters. Each object has a unique
    /// `name`, its `kind`, the plugin's own `version`, the WIT package it
    /// implements, the component's `digest` and the capabilities granted to
    /// it. Never secrets: no password, key or plugin configuration values.
    async fn list_plugins(&self) -> Result<Vec<Plugin>, OpError>;

    /// One plugin of [`DrOps::list_plugins`], by `name`.
    async fn plugin(&self, name: &str) -> Result<Plugin, OpError> {
        self.list_plugins()
            .await?
            .into_iter()
            .find(|plugin| plugin.name == name)
            .ok_or_else(|| OpError::NotFound(format!("Plugin '{name}' was not found.")))
    }
}
