//! The resources [`crate::DrOps`] returns, as typed values whose JSON is the
//! reference API's (`docs/reference/api.md`). The host builds them, handlers
//! serialize them at the edge, and the test fakes build the same types: a
//! field renamed on one side fails to compile instead of failing end to end.
//!
//! One module per resource. Fields whose contents are the client's own
//! document (a store's `storageConfig` and `provider`, the settings'
//! `stagingVolumeConfig`) stay [`serde_json::Value`] inside the typed
//! resource.

mod backup;
mod job;
mod passcode;
mod plugin;
mod settings;
mod status;
mod store;

pub use backup::{
    Backup, BackupRow, BackupStage, BackupStatus, CatalogFinding, DamagedBackup, StageTotals,
};
pub use job::{Job, JobProgress, JobResult, JobState, Operation, Outcome, Stage, StageState};
pub use passcode::{MIN_PASSCODE_CHARS, Passcode, PasscodeTooShort};
pub use plugin::{Capabilities, Directory, Limits, Load, PLUGIN_DISABLED, PLUGIN_ENABLED, Plugin};
pub use settings::DrSettings;
pub use status::{DrStatus, LastJob, StatusMessage, code as status_code};
pub use store::Store;

use serde::Serialize;
use serde_json::Value;

use crate::ops::OpError;

/// `value` as JSON, for a handler's answer. These types serialize only
/// strings, numbers, `Value`s and string-keyed maps, so this does not fail
/// in practice; if it did, the client gets a 500 rather than a panic.
pub(crate) fn to_json(value: &impl Serialize) -> Result<Value, OpError> {
    serde_json::to_value(value)
        .map_err(|e| OpError::Internal(format!("cannot render the answer: {e}")))
}

#[cfg(test)]
mod wire_tests;
