//! The DR status (`disasterrecovery/status`, spec §7): the last DR job.

use serde::{Deserialize, Serialize};

use super::job::{Operation, Outcome, Stage};

/// `code` values. Only 0 (`no_op`) and 3 (finished) are documented; the
/// others are drhost's choice.
pub mod code {
    pub const NO_OP: u32 = 0;
    pub const IN_PROGRESS: u32 = 1;
    pub const FINISHED: u32 = 3;
    pub const FAILED: u32 = 4;
}

/// The `status` object, without the `{"status": ...}` wrapper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrStatus {
    pub code: u32,
    pub state: Outcome,
    /// `None` when no DR job has run (`no_op`).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub last_job: Option<LastJob>,
    pub messages: Vec<StatusMessage>,
}

impl DrStatus {
    /// No DR job has run.
    pub fn no_op() -> Self {
        DrStatus {
            code: code::NO_OP,
            state: Outcome::NoOp,
            last_job: None,
            messages: Vec::new(),
        }
    }
}

/// What the status tells of the last DR job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastJob {
    pub operation: Operation,
    pub schedule_type: String,
    /// The failure, or the warnings of a job that completed with warnings.
    pub message: String,
    pub backup_name: String,
    pub backup_store: String,
    pub jobid: String,
    pub start_time: i64,
    pub complete_time: i64,
    /// `"00hr:01min:04sec:221millisec"`.
    pub overall_duration: String,
    pub stages: Vec<Stage>,
}

/// One status message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusMessage {
    pub code: u32,
    pub message: String,
    pub when: i64,
}
