//! The chunks of earlier backups as one lookup: the cached index files of a
//! key (a base and the deltas written since), searched in turn.

use super::{ChunkIndex, IndexError, IndexHit};

/// Index files searched together. `Sync`: lookups are positioned reads.
#[derive(Default)]
pub struct IndexSet {
    segments: Vec<ChunkIndex>,
}

impl IndexSet {
    pub fn new(segments: Vec<ChunkIndex>) -> Self {
        IndexSet { segments }
    }

    /// Where chunk `id` is stored, from the first file that has it in a pack
    /// that is still in the store and long enough.
    pub fn lookup(&self, id: &[u8; 32]) -> Result<Option<IndexHit>, IndexError> {
        for segment in &self.segments {
            if let Some(hit) = segment.lookup(id)? {
                return Ok(Some(hit));
            }
        }
        Ok(None)
    }

    /// Indexed records (a chunk listed in two files counts twice).
    pub fn len(&self) -> u64 {
        self.segments.iter().map(ChunkIndex::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index files in the set.
    pub fn files(&self) -> usize {
        self.segments.len()
    }

    /// Bytes of process memory the lookup tables use.
    pub fn memory_bytes(&self) -> usize {
        self.segments.iter().map(ChunkIndex::memory_bytes).sum()
    }
}
