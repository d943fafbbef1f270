//! The DR settings (`disasterrecovery/settings`, spec §5.2).

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrSettings {
    /// Longest a DR job may run.
    pub timeout_in_seconds: u64,
    /// drhost's addition: resume backups a host stop interrupted.
    pub resume_interrupted_backups: bool,
    /// The client's staging volume description, secrets masked; left out
    /// until set. Free-form: it is the client's document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging_volume_config: Option<Value>,
}
