//! Fetched packs shared by the chunks that follow, across a backup's stage
//! readers: the few most recently used ones.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::OnceCell;

/// Fetched packs kept for the chunks that follow. One: a reader's batches
/// hold the packs its read-ahead still needs, so a second cached pack was
/// almost always one it had finished with, 16–32 MiB held for nothing.
const PACK_CACHE: usize = 1;

/// A pack, fetched once by whichever batch needs it first.
pub(super) type PackCell = Arc<OnceCell<Bytes>>;

#[derive(Default)]
pub(super) struct PackCache {
    recent: Mutex<VecDeque<(u32, PackCell)>>,
}

impl PackCache {
    /// The cell of pack `index`, now the most recently used. A cell the
    /// caller already holds (`known`) wins and is put back if it was
    /// evicted, so a reader that keeps using a pack never fetches it twice.
    pub fn cell(&self, index: u32, known: Option<&PackCell>) -> PackCell {
        // The list is consistent after every statement, so a panic while the
        // lock was held cannot have left it half-updated.
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let cached = match recent.iter().position(|(i, _)| *i == index) {
            Some(at) => recent.remove(at).map(|(_, cell)| cell),
            None => None,
        };
        let cell = known.cloned().or(cached).unwrap_or_default();
        recent.push_back((index, cell.clone()));
        while recent.len() > PACK_CACHE {
            recent.pop_front();
        }
        cell
    }

    /// Drops pack `index`: a blob in it failed its checks, and packs are no
    /// longer hashed whole on restore, so the next reader fetches it again
    /// rather than decode the same damaged copy.
    pub fn forget(&self, index: u32) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|(i, _)| *i != index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_packs_and_takes_back_known_cells() {
        let cache = PackCache::default();
        let a = cache.cell(1, None);
        assert!(Arc::ptr_eq(&a, &cache.cell(1, None)));
        cache.cell(2, None);
        cache.cell(3, None);
        // Pack 1 was evicted: a new cell, unless the caller still holds one.
        assert!(!Arc::ptr_eq(&a, &cache.cell(1, None)));
        cache.cell(4, None);
        cache.cell(5, None);
        assert!(Arc::ptr_eq(&a, &cache.cell(1, Some(&a))));
        assert!(Arc::ptr_eq(&a, &cache.cell(1, None)));
    }
}
