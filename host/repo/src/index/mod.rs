//! The dedup index: which chunks are already stored under one key, and where.
//!
//! Immutable index files (`format.rs`), built with bounded memory by
//! external sorting (`build.rs`), read with positioned reads behind an
//! in-RAM split-block Bloom filter and fanout table (`file.rs`, `filter.rs`),
//! and kept between backups in a host-local cache directory as a base file
//! plus small delta files with new backups' manifests, rebuilt when it no
//! longer matches the store (`cache.rs`, `set.rs`). The format and its
//! memory costs are in `docs/repository.md` §14.

mod build;
pub(crate) mod cache;
mod file;
mod filter;
mod format;
mod set;

pub use build::{BuildLimits, IndexBuilder, IndexEntry};
pub(crate) use cache::IndexCache;
pub use file::{ChunkIndex, IndexHit, PackSizes};
pub use set::IndexSet;

/// Why an index file could not be built or used.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("chunk index I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not a valid index (truncated, altered, another key…).
    #[error("chunk index is corrupt: {0}")]
    Corrupt(String),
}

impl IndexError {
    pub(crate) fn corrupt(reason: impl Into<String>) -> Self {
        IndexError::Corrupt(reason.into())
    }
}

#[cfg(test)]
mod tests;
