//! The job record as persisted: its JSON shape is the on-disk format of
//! `<state>/jobs/<jobid>.json`, so fields only ever get added with defaults.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Submitted,
    Executing,
    Completed,
    Failed,
    /// Ended by the DR setting `timeoutInSeconds` (the reference's
    /// `TIMED OUT`, which clients such as Esri's CLI tell from `FAILED`).
    TimedOut,
}

impl JobStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::TimedOut)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    Backup,
    Restore,
    DeleteBackup,
    VerifyBackup,
    RetentionCleanup,
    /// `stores/register` with `async=true`.
    RegisterStore,
}

impl Operation {
    /// Backups and restores are what the DR status resource reports.
    pub fn is_dr(self) -> bool {
        matches!(self, Self::Backup | Self::Restore)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Pending,
    Running,
    Completed,
    Failed,
    Skipped,
}

/// One status message (`{"code":4014,"message":"...","when":ms}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub code: u32,
    pub message: String,
    pub when: i64,
}

/// Progress of one stage of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageProgress {
    pub name: String,
    pub state: StageState,
    pub started: i64,
    pub ended: i64,
    pub last_updated: i64,
    pub bytes: u64,
    pub items: u64,
    /// What the stage will have done when it ends, when known: recorded by
    /// the backup being restored, estimated from the store's previous backup
    /// on backup, exact once the stage has completed. Absent in records
    /// written before totals existed.
    #[serde(default)]
    pub bytes_total: Option<u64>,
    #[serde(default)]
    pub items_total: Option<u64>,
}

impl StageProgress {
    fn pending(name: String, now: i64) -> Self {
        StageProgress {
            name,
            state: StageState::Pending,
            started: 0,
            ended: 0,
            last_updated: now,
            bytes: 0,
            items: 0,
            bytes_total: None,
            items_total: None,
        }
    }
}

/// A step of a job, as the code running it names it. A DR job's stages are
/// laid out as validation, then one stage per pipeline stage, then cleanup;
/// any other job has a single stage. Where a step sits in the record is
/// worked out here, once, instead of by each caller shifting indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStep {
    /// The only stage of a job that is not a backup or restore.
    Single,
    /// The first stage of a backup or restore.
    Validation,
    /// The pipeline stage at this position (0 is the first plugin).
    Stage(usize),
    /// The last stage of a backup or restore.
    Cleanup,
}

impl JobStep {
    /// Where this step's progress is kept among `stage_count` stages.
    pub fn position(self, stage_count: usize) -> Option<usize> {
        let position = match self {
            JobStep::Single | JobStep::Validation => 0,
            JobStep::Stage(i) => i.checked_add(1)?,
            JobStep::Cleanup => stage_count.checked_sub(1)?,
        };
        (position < stage_count).then_some(position)
    }
}

/// A job as persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    pub jobid: String,
    pub operation: Operation,
    pub status: JobStatus,
    pub starttime: i64,
    pub endtime: i64,
    pub updatedtime: i64,
    pub operation_uri: String,
    pub username: String,
    pub backup_name: String,
    pub backup_store: String,
    pub schedule_type: String,
    /// Why the job failed, for the status' `message`.
    pub failure: Option<String>,
    /// What a job that completed wants the operator to know; it makes the
    /// status `completed_with_warnings` instead of `success`.
    #[serde(default)]
    pub warnings: Vec<String>,
    pub stages: Vec<StageProgress>,
    pub messages: Vec<Message>,
}

/// What a new job is about.
pub struct NewJob {
    pub operation: Operation,
    pub operation_uri: String,
    pub username: String,
    pub backup_name: String,
    pub backup_store: String,
    pub schedule_type: String,
    pub stage_names: Vec<String>,
}

impl JobRecord {
    /// A submitted job whose stages are all pending.
    pub fn submitted(jobid: String, new: NewJob, now: i64) -> Self {
        JobRecord {
            jobid,
            operation: new.operation,
            status: JobStatus::Submitted,
            starttime: now,
            endtime: 0,
            updatedtime: now,
            operation_uri: new.operation_uri,
            username: new.username,
            backup_name: new.backup_name,
            backup_store: new.backup_store,
            schedule_type: new.schedule_type,
            failure: None,
            warnings: Vec::new(),
            stages: new
                .stage_names
                .into_iter()
                .map(|name| StageProgress::pending(name, now))
                .collect(),
            messages: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_sit_between_validation_and_cleanup() {
        assert_eq!(JobStep::Validation.position(4), Some(0));
        assert_eq!(JobStep::Stage(0).position(4), Some(1));
        assert_eq!(JobStep::Stage(1).position(4), Some(2));
        assert_eq!(JobStep::Cleanup.position(4), Some(3));
        assert_eq!(JobStep::Single.position(1), Some(0));
        assert_eq!(JobStep::Stage(3).position(4), None);
        assert_eq!(JobStep::Cleanup.position(0), None);
    }

    #[test]
    fn records_without_totals_still_load() {
        let old = r#"{"name":"s","state":"completed","started":1,"ended":2,
                      "last_updated":2,"bytes":3,"items":4}"#;
        let stage: StageProgress = serde_json::from_str(old).expect("old record");
        assert_eq!((stage.bytes_total, stage.items_total), (None, None));
    }
}
