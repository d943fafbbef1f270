//! Backups (spec §5.10) and the rows of a store's backup list.

use serde::{Deserialize, Serialize};

/// `status` of a backup or of a row of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupStatus {
    Completed,
    /// Some stages did not complete; restored only with `partial=true`.
    Partial,
    /// Its record cannot be read or verified.
    Damaged,
    /// The store's catalog says it was deleted, replaced or rolled back
    /// behind the host's back.
    Tampered,
}

/// One backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    pub backup_name: String,
    pub name: String,
    pub description: String,
    pub backup_store: String,
    /// Always `FULL`.
    pub backup_type: String,
    pub schedule_type: String,
    pub release: String,
    pub site_name: String,
    pub status: BackupStatus,
    pub start_time: i64,
    pub complete_time: i64,
    pub retention_date: i64,
    pub stored_bytes: u64,
    pub total_bytes: u64,
    /// The complete stages, then the incomplete ones.
    pub stages: Vec<BackupStage>,
}

/// A stage of a backup. An incomplete stage has only `name`, `plugin` and
/// `status` (`failed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStage {
    pub name: String,
    pub plugin: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub done: Option<StageTotals>,
    /// `completed` or `failed`.
    pub status: String,
}

/// What a completed stage stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageTotals {
    pub items: u64,
    pub bytes: u64,
    pub start_time: i64,
    pub end_time: i64,
}

/// A row of `stores/<store>/backups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BackupRow {
    Backup(Backup),
    // Before `Damaged`: read back, a finding has every field a damaged row
    // has, and more.
    Tampered(CatalogFinding),
    Damaged(DamagedBackup),
}

/// A backup whose record cannot be read or verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DamagedBackup {
    pub backup_name: String,
    pub name: String,
    pub backup_store: String,
    /// Always [`BackupStatus::Damaged`].
    pub status: BackupStatus,
    pub message: String,
}

/// A backup deleted, replaced or rolled back behind the host's back, or one
/// that lost its manifest. `backupName` is `null` when the catalog cannot
/// tell whose entry is missing; the message says what is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogFinding {
    pub backup_name: Option<String>,
    pub name: Option<String>,
    pub backup_store: String,
    /// Always [`BackupStatus::Tampered`].
    pub status: BackupStatus,
    pub problem: String,
    pub object: String,
    pub message: String,
}
