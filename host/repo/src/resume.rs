//! What a backup in progress reports so it can be resumed after a crash: each
//! pack whose upload completed, with the chunks in it. A caller that keeps
//! these (e.g. in a journal on local disk) can hand them to
//! [`Repository::resume_backup`](crate::Repository::resume_backup), which
//! treats those chunks as already stored, so they are not written again.

use std::sync::Arc;

/// One chunk blob of an uploaded pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackChunk {
    /// The chunk id (keyed hash of its plaintext): secret, see
    /// `docs/repository.md` §12.
    pub id: [u8; 32],
    pub offset: u32,
    pub length: u32,
    /// Plaintext size.
    pub size: u32,
}

/// A pack whose `put` completed, and its chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedPack {
    /// `packs/<hh>/<sha256>`.
    pub name: String,
    pub chunks: Vec<PackChunk>,
}

impl UploadedPack {
    /// Where the pack's last blob ends: the least size the stored pack can
    /// have (it is longer by its padding, `docs/repository.md` §4.5).
    pub fn bytes(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| c.offset as u64 + c.length as u64)
            .max()
            .unwrap_or(0)
    }
}

/// Called on a blocking thread after each pack upload completes. An error is
/// logged, not fatal: the hook only makes a later resumption cheaper.
pub type PackUploadedHook = Arc<dyn Fn(&UploadedPack) -> Result<(), String> + Send + Sync>;

/// What [`Repository::resume_backup`](crate::Repository::resume_backup) could
/// reuse of the packs it was given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Packs still in the store, long enough for their chunks.
    pub packs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Packs left out (missing or too short).
    pub packs_missing: u64,
}
