//! Jobs (`jobs/<id>`, spec §6) and the stage progress they and the DR
//! status show.

use serde::{Deserialize, Serialize};

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    Backup,
    Restore,
    DeleteBackup,
    VerifyBackup,
    RetentionCleanup,
    RegisterStore,
}

/// A job's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Submitted,
    Executing,
    Completed,
    Failed,
    #[serde(rename = "TIMED OUT")]
    TimedOut,
}

/// `state` of the DR status and of a finished job's `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No DR job has run (the status only).
    NoOp,
    InProgress,
    Success,
    CompletedWithWarnings,
    Failed,
}

/// A stage's `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageState {
    Pending,
    Running,
    Completed,
    Failed,
    Skipped,
}

/// Progress of one stage of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub name: String,
    pub state: StageState,
    /// `"3096 millis (~ 0 minutes)"`.
    pub duration: String,
    pub last_updated: i64,
    pub bytes_done: u64,
    pub items_done: u64,
    /// `null` while unknown.
    pub bytes_total: Option<u64>,
    pub items_total: Option<u64>,
    /// `null` before the stage has run for a measurable time.
    pub bytes_per_second: Option<u64>,
    /// `null` when it cannot be estimated.
    pub eta_seconds: Option<u64>,
}

/// One job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub jobid: String,
    pub status: JobState,
    pub operation: Operation,
    #[serde(rename = "starttime")]
    pub start_time: i64,
    #[serde(rename = "endtime")]
    pub end_time: i64,
    #[serde(rename = "updatedtime")]
    pub updated_time: i64,
    #[serde(rename = "operationURI")]
    pub operation_uri: String,
    pub username: String,
    pub messages: Vec<String>,
    pub progress: JobProgress,
    /// Only once the job has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    pub stages: Vec<Stage>,
}

/// How a finished job ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    pub backup_name: String,
    pub backup_store: String,
    pub state: Outcome,
    /// The failure, or the warnings of a job that completed with warnings.
    pub message: String,
    pub stages: Vec<Stage>,
}
