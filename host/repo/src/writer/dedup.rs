//! Deduplication: where each chunk of this backup is stored, whether it was
//! written by this backup or by an earlier one, and the backup's chunk table.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use crate::error::RepoError;
use crate::index::{IndexHit, IndexSet};
use crate::keys::{ChunkId, Keys};

/// Where a chunk's blob is: a pack slot of this writer and a byte range. In a
/// pack this writer wrote, the offset is the one the blob was pushed at (see
/// [`crate::pack::Placement`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loc {
    pub(super) slot: u32,
    pub(super) offset: u32,
    pub(super) length: u32,
    pub(super) size: u32,
}

/// What the blocking chunk jobs need to tell stored chunks from new ones.
pub(super) struct Dedup {
    pub(super) keys: Arc<Keys>,
    /// Chunks stored by earlier backups under this key: an on-disk index
    /// behind an in-RAM filter. Looked up on the blocking jobs, where the
    /// ids are computed, because a lookup may read the index file.
    known: Arc<IndexSet>,
    /// Chunks this backup has written or referenced so far.
    session: RwLock<HashMap<ChunkId, Loc>>,
}

impl Dedup {
    pub(super) fn new(keys: Arc<Keys>, known: Arc<IndexSet>) -> Self {
        Dedup {
            keys,
            known,
            session: RwLock::new(HashMap::new()),
        }
    }

    fn session(&self) -> Result<RwLockReadGuard<'_, HashMap<ChunkId, Loc>>, RepoError> {
        self.session
            .read()
            .map_err(|_| RepoError::Internal("chunk session lock poisoned".into()))
    }

    /// Where this backup already put or referenced chunk `id`.
    pub(super) fn in_session(&self, id: &ChunkId) -> Result<Option<Loc>, RepoError> {
        Ok(self.session()?.get(id).copied())
    }

    /// Where an already stored chunk is, if it is (blocking: may read the
    /// index file).
    pub(super) fn find(&self, id: &ChunkId) -> Result<Option<Found>, RepoError> {
        if let Some(loc) = self.in_session(id)? {
            return Ok(Some(Found::Session(loc)));
        }
        Ok(self.known.lookup(&id.0)?.map(Found::Index))
    }

    /// Records where this backup's chunk `id` is.
    pub(super) fn remember(&self, id: ChunkId, loc: Loc) -> Result<(), RepoError> {
        self.remember_all([(id, loc)])
    }

    /// Records chunks not recorded yet (an earlier record wins).
    pub(super) fn remember_all(
        &self,
        chunks: impl IntoIterator<Item = (ChunkId, Loc)>,
    ) -> Result<(), RepoError> {
        let mut session = self
            .session
            .write()
            .map_err(|_| RepoError::Internal("chunk session lock poisoned".into()))?;
        for (id, loc) in chunks {
            session.entry(id).or_insert(loc);
        }
        Ok(())
    }
}

/// An already stored chunk: referenced earlier by this backup, or found in
/// the index of earlier backups.
#[derive(Clone, Copy, Debug)]
pub(super) enum Found {
    Session(Loc),
    Index(IndexHit),
}

impl Found {
    /// The chunk's plaintext size.
    pub(super) fn size(&self) -> u32 {
        match self {
            Found::Session(loc) => loc.size,
            Found::Index(hit) => hit.size,
        }
    }
}

/// This backup's chunk table, in manifest order, and each chunk's position
/// in it: entries refer to chunks by position.
#[derive(Default)]
pub(super) struct ChunkTable {
    chunks: Vec<(ChunkId, Loc)>,
    positions: HashMap<ChunkId, u32>,
}

impl ChunkTable {
    /// The chunk's position, adding it if new.
    pub(super) fn position(&mut self, id: ChunkId, loc: Loc) -> u32 {
        match self.positions.get(&id) {
            Some(&p) => p,
            None => {
                let p = self.chunks.len() as u32;
                self.chunks.push((id, loc));
                self.positions.insert(id, p);
                p
            }
        }
    }

    pub(super) fn into_chunks(self) -> Vec<(ChunkId, Loc)> {
        self.chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(slot: u32) -> Loc {
        Loc {
            slot,
            offset: 0,
            length: 10,
            size: 5,
        }
    }

    #[test]
    fn a_chunk_keeps_its_first_position() {
        let mut table = ChunkTable::default();
        assert_eq!(table.position(ChunkId([1; 32]), loc(0)), 0);
        assert_eq!(table.position(ChunkId([2; 32]), loc(1)), 1);
        assert_eq!(table.position(ChunkId([1; 32]), loc(7)), 0);
        let chunks = table.into_chunks();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].1, loc(0), "the first location is kept");
    }
}
