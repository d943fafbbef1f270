//! The repository's error type.

use crate::index::IndexError;
use crate::store::StoreError;

/// Why a repository operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The passcode does not open this backup (its key-check value differs).
    #[error("wrong passcode")]
    WrongPasscode,
    /// A stored object failed verification. `object` is the store object name
    /// (e.g. `packs/ab/ab12…`, `backups/<hex>.json`, `config`).
    #[error("object {object} is damaged: {reason}")]
    Damaged { object: String, reason: String },
    /// No backup of that name.
    #[error("backup {0:?} not found")]
    NotFound(String),
    /// A committed backup already has that name.
    #[error("a backup named {0:?} already exists")]
    NameTaken(String),
    /// The backup name is not 1–128 characters of `[A-Za-z0-9._-]` not starting with `.`.
    #[error(
        "invalid backup name {0:?}: use 1-128 characters of A-Z a-z 0-9 . _ - not starting with '.'"
    )]
    InvalidName(String),
    /// An archive entry (path, kind, mode, attributes) was refused.
    #[error("invalid entry: {0}")]
    InvalidEntry(String),
    /// Public backup information (description, release, …) was refused.
    #[error("invalid backup information: {0}")]
    InvalidInfo(String),
    /// The backup has no stage of that name.
    #[error("the backup has no stage named {0:?}")]
    NoSuchStage(String),
    /// The API was used out of order (e.g. `write` without `begin_entry`).
    #[error("misuse: {0}")]
    Misuse(String),
    /// The store refuses deletes, so backups cannot be deleted from it.
    #[error("deletion is not supported on this store: it is append-only")]
    AppendOnly,
    /// The host-local dedup index could not be written or read.
    #[error("local chunk index: {0}")]
    Index(#[from] IndexError),
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or a lost background task (e.g. a worker panicked).
    #[error("internal error: {0}")]
    Internal(String),
}

impl RepoError {
    pub(crate) fn damaged(object: impl Into<String>, reason: impl Into<String>) -> Self {
        RepoError::Damaged {
            object: object.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn join(e: tokio::task::JoinError) -> Self {
        RepoError::Internal(format!("worker task failed: {e}"))
    }
}
