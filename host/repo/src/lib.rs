//! drhost's backup repository: an encrypted, content-addressed, deduplicating
//! format kept in any [`ObjectStore`]. The format is documented in
//! `docs/repository.md`.
//!
//! Entry points: [`Repository::open`], then [`Repository::begin_backup`] →
//! [`BackupWriter`] → [`StageWriter`], and [`Repository::open_backup`] →
//! [`BackupReader`] → [`StageReader`].

pub mod archive;
pub mod store;
pub mod testing;

mod blob;
mod catalog;
mod chunker;
mod commit;
mod config;
mod envelope;
mod error;
mod gc;
pub mod index;
mod key_cache;
mod keys;
mod manifest;
mod names;
mod object_check;
mod owner_name;
mod pack;
mod reader;
mod repository;
mod resume;
mod writer;

#[cfg(test)]
mod layout_tests;
#[cfg(test)]
mod segment_tests;

use serde::{Deserialize, Serialize};

pub use archive::{EntryKind, EntryMeta, InvalidEntry, Owner, OwnerName, RawName};
pub use catalog::{AnchorStore, CatalogAnchor, CatalogFinding, ChainLink, FindingKind};
pub use error::RepoError;
pub use keys::KdfParams;
pub use manifest::PluginBuild;
pub use names::validate_backup_name;
pub use object_check::ObjectCheck;
pub use reader::{BackupReader, StageReader, VerifyReport};
pub use repository::{Repository, RepositoryOptions};
pub use resume::{PackChunk, PackUploadedHook, Resumed, UploadedPack};
pub use store::{ObjectInfo, ObjectStore, StoreError};
pub use writer::{BackupWriter, StageWriter, UnchangedFile, UnchangedFiles, WriteStats};

/// Chunking and packing constants of format version 1.
pub mod limits {
    pub use crate::archive::{MAX_ATTRIBUTE_BYTES, MAX_ATTRIBUTES};
    pub use crate::blob::{BLOB_OVERHEAD, MAX_BLOB};
    pub use crate::chunker::{AVG_CHUNK, MAX_CHUNK, MIN_CHUNK};
    pub use crate::manifest::{MAX_STAGE_METADATA, MAX_STAGE_NAME};
    pub use crate::pack::{MAX_UPLOADS_IN_FLIGHT, PACK_MAX, PACK_TARGET};
}

/// Public (passcode-free) information about a backup, kept in its commit record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BackupInfo {
    pub name: String,
    pub description: String,
    pub schedule_type: String,
    pub start_time: i64,
    pub complete_time: i64,
    pub retention_date: i64,
    pub release: String,
    /// Filled by the writer, one per finished stage.
    pub stages: Vec<StagePublic>,
    /// New bytes this backup wrote to the store (packs and manifest).
    pub stored_bytes: u64,
    /// Content bytes of all entries (before dedup and compression).
    pub total_bytes: u64,
    /// Planned stages that hold nothing because they failed: a backup with
    /// any is *partial* (its `stages` are the complete ones). Absent from
    /// records of complete backups, so their bytes and MAC are unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete_stages: Vec<IncompleteStage>,
}

impl BackupInfo {
    /// Whether some planned stage of this backup failed.
    pub fn is_partial(&self) -> bool {
        !self.incomplete_stages.is_empty()
    }
}

/// A planned stage of a partial backup that did not complete. Why it failed
/// is not recorded here (a reason may name secret paths); the job says why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct IncompleteStage {
    pub name: String,
    pub plugin: String,
}

impl BackupInfo {
    /// What a new backup starts with: the caller's facts. The writer fills in
    /// the stages, sizes and completion time at commit.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        schedule_type: impl Into<String>,
        start_time: i64,
        retention_date: i64,
        release: impl Into<String>,
    ) -> Self {
        BackupInfo {
            name: name.into(),
            description: description.into(),
            schedule_type: schedule_type.into(),
            start_time,
            complete_time: 0,
            retention_date,
            release: release.into(),
            stages: Vec::new(),
            incomplete_stages: Vec::new(),
            stored_bytes: 0,
            total_bytes: 0,
        }
    }
}

/// Public summary of one stage of a backup.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct StagePublic {
    pub name: String,
    pub plugin: String,
    pub items: u64,
    pub bytes: u64,
    pub start_time: i64,
    pub end_time: i64,
}

/// One row of [`Repository::list_backups`].
#[derive(Clone, Debug)]
pub enum BackupListing {
    Ok(BackupInfo),
    /// The commit record could not be read or verified. `name` is decoded from
    /// the object name (objects under `backups/` whose names this format does
    /// not write are ignored).
    Damaged {
        name: String,
        object: String,
        reason: String,
    },
    /// The catalog shows that a backup was deleted, replaced or rolled back
    /// behind the host's back, or lost its manifest (the finding names it).
    Tampered(CatalogFinding),
}

impl BackupListing {
    /// The backup's name, when the row knows it.
    pub fn name(&self) -> Option<&str> {
        match self {
            BackupListing::Ok(info) => Some(&info.name),
            BackupListing::Damaged { name, .. } => Some(name),
            BackupListing::Tampered(finding) => finding.backup.as_deref(),
        }
    }
}

/// What garbage collection did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The backup a tombstone was written for (by [`Repository::delete_backup`]).
    pub deleted_backup: Option<String>,
    /// The store is append-only: nothing was deleted, and the counts say what
    /// collection would free on a store that allows deletes.
    pub dry_run: bool,
    /// Commit records of deleted (tombstoned) backups removed.
    pub records_deleted: u64,
    pub packs_deleted: u64,
    pub manifests_deleted: u64,
    pub bytes_freed: u64,
    pub packs_kept: u64,
    pub manifests_kept: u64,
    /// Objects under `packs/` or `manifests/` (or tombstoned records) not
    /// named as this repository names its own: a stray file, or another
    /// store's object. Never deleted.
    pub foreign_kept: u64,
    /// Set by `delete_backup` when the record was deleted but collection could
    /// not run because another commit record is damaged (its references are
    /// unknown, so nothing is deleted). `collect_garbage` returns that as an error.
    pub blocked_by: Option<String>,
}

/// A short human summary, e.g. `3 packs and 1 manifest (48.2 MiB); 12 packs kept`.
impl std::fmt::Display for GcReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        if self.dry_run {
            write!(f, "nothing (append-only store; collection would free ")?;
        }
        write!(
            f,
            "{} and {} ({:.1} MiB)",
            plural(self.packs_deleted, "pack"),
            plural(self.manifests_deleted, "manifest"),
            self.bytes_freed as f64 / (1024.0 * 1024.0),
        )?;
        if self.dry_run {
            write!(f, ")")?;
        }
        write!(f, "; {} kept", plural(self.packs_kept, "pack"))?;
        if self.foreign_kept > 0 {
            write!(
                f,
                "; {} not this repository's left alone",
                plural(self.foreign_kept, "object")
            )?;
        }
        if let Some(why) = &self.blocked_by {
            write!(f, "; collection blocked: {why}")?;
        }
        Ok(())
    }
}
