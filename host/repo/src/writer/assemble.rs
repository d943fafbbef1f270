//! The manifest of a finished backup, from its chunk table and pack layout.

use std::collections::{BTreeSet, HashMap};

use super::dedup::Loc;
use super::packer::PackLayout;
use crate::error::RepoError;
use crate::keys::ChunkId;
use crate::manifest::{ChunkRecord, MANIFEST_VERSION, Manifest, StageRecord};

/// Builds the manifest: the packs this backup references (sorted) and its
/// chunk table with pack slots turned into indices of that list, and offsets
/// in the packs this backup wrote turned into offsets in the shuffled packs.
pub(super) fn assemble_manifest(
    backup: String,
    key_id: String,
    chunk_table: &[(ChunkId, Loc)],
    layout: &PackLayout,
    stages: Vec<StageRecord>,
) -> Result<Manifest, RepoError> {
    let slot_name = |slot: u32| {
        layout
            .slots
            .get(slot as usize)
            .and_then(|s| s.as_deref())
            .ok_or_else(|| RepoError::Internal("chunk in a pack that was never uploaded".into()))
    };
    let mut referenced = BTreeSet::new();
    for (_, loc) in chunk_table {
        referenced.insert(slot_name(loc.slot)?);
    }
    let packs: Vec<String> = referenced.into_iter().map(str::to_string).collect();
    let pack_index: HashMap<&str, u32> = packs
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32))
        .collect();
    let mut chunks = Vec::with_capacity(chunk_table.len());
    for (id, loc) in chunk_table {
        let pack = *pack_index
            .get(slot_name(loc.slot)?)
            .ok_or_else(|| RepoError::Internal("pack index lost".into()))?;
        let offset = match layout.placements.get(&loc.slot) {
            Some(placement) => placement
                .offset(loc.offset)
                .ok_or_else(|| RepoError::Internal("blob missing from its sealed pack".into()))?,
            None => loc.offset,
        };
        chunks.push(ChunkRecord {
            id: *id,
            pack,
            offset,
            length: loc.length,
            size: loc.size,
        });
    }
    Ok(Manifest {
        version: MANIFEST_VERSION,
        backup,
        key_id,
        packs,
        chunks,
        stages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::PackBuilder;

    fn loc(slot: u32, offset: u32) -> Loc {
        Loc {
            slot,
            offset,
            length: 4,
            size: 3,
        }
    }

    #[test]
    fn packs_are_sorted_and_written_packs_use_their_shuffled_offsets() {
        let mut written = PackBuilder::new(1);
        let pushed: Vec<u32> = (0..8).map(|i| written.push(vec![i; 4])).collect();
        let sealed = written.seal();
        let expected = sealed.placement.offset(pushed[5]);
        let layout = PackLayout {
            slots: vec![Some("packs/zz".into()), Some("packs/aa".into())],
            placements: HashMap::from([(1, sealed.placement)]),
        };
        let table = vec![
            (ChunkId([1; 32]), loc(0, 100)),
            (ChunkId([2; 32]), loc(1, pushed[5])),
        ];
        let m = assemble_manifest("b".into(), "k".into(), &table, &layout, vec![]).unwrap();
        assert_eq!(m.packs, ["packs/aa", "packs/zz"]);
        assert_eq!(
            (m.chunks[0].pack, m.chunks[0].offset),
            (1, 100),
            "found: as indexed"
        );
        assert_eq!(m.chunks[1].pack, 0);
        assert_eq!(
            Some(m.chunks[1].offset),
            expected,
            "written: where the shuffle put it"
        );
    }

    #[test]
    fn a_chunk_in_a_pack_never_uploaded_is_an_error_not_a_manifest() {
        let layout = PackLayout {
            slots: vec![None],
            placements: HashMap::new(),
        };
        let table = vec![(ChunkId([1; 32]), loc(0, 0))];
        assert!(assemble_manifest("b".into(), "k".into(), &table, &layout, vec![]).is_err());
        let beyond = vec![(ChunkId([1; 32]), loc(3, 0))];
        assert!(assemble_manifest("b".into(), "k".into(), &beyond, &layout, vec![]).is_err());
    }
}
