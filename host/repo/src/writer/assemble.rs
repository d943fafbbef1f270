//! The manifest of a finished backup, from its chunk table and pack layout,
//! and the segments its body was stored as.

use std::collections::{BTreeSet, HashMap};

use super::dedup::Loc;
use super::packer::PackLayout;
use crate::error::RepoError;
use crate::keys::ChunkId;
use crate::manifest::segmented::Root;
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
    let packs = pack_list(chunk_table, layout, &[])?;
    let chunks = records(chunk_table, layout, &packs)?;
    Ok(Manifest {
        version: MANIFEST_VERSION,
        backup,
        key_id,
        packs,
        chunks,
        stages,
        segments: Vec::new(),
    })
}

/// Lists the stored segments of the body in the root, their packs in its
/// pack list. The body names packs by hash, not by position in that list,
/// so the packs that join it change no byte of the body.
pub(super) fn add_segments(
    root: &mut Root,
    segments: &[(ChunkId, Loc)],
    layout: &PackLayout,
) -> Result<(), RepoError> {
    root.packs = pack_list(segments, layout, &root.packs)?;
    root.segments = records(segments, layout, &root.packs)?;
    Ok(())
}

/// Where a chunk of this backup is: its pack's name and its offset in that
/// pack once sealed (shuffled).
fn place<'a>(layout: &'a PackLayout, loc: &Loc) -> Result<(&'a str, u32), RepoError> {
    let name = layout
        .slots
        .get(loc.slot as usize)
        .and_then(|s| s.as_deref())
        .ok_or_else(|| RepoError::Internal("chunk in a pack that was never uploaded".into()))?;
    let offset = match layout.placements.get(&loc.slot) {
        Some(placement) => placement
            .offset(loc.offset)
            .ok_or_else(|| RepoError::Internal("blob missing from its sealed pack".into()))?,
        None => loc.offset,
    };
    Ok((name, offset))
}

/// The packs `chunks` are in and those of `also`, sorted, once each.
fn pack_list(
    chunks: &[(ChunkId, Loc)],
    layout: &PackLayout,
    also: &[String],
) -> Result<Vec<String>, RepoError> {
    let mut referenced: BTreeSet<&str> = also.iter().map(String::as_str).collect();
    for (_, loc) in chunks {
        referenced.insert(place(layout, loc)?.0);
    }
    Ok(referenced.into_iter().map(str::to_string).collect())
}

/// Chunk records of `chunks` over `packs`, which holds every pack they are in.
fn records(
    chunks: &[(ChunkId, Loc)],
    layout: &PackLayout,
    packs: &[String],
) -> Result<Vec<ChunkRecord>, RepoError> {
    let pack_index: HashMap<&str, u32> = packs
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32))
        .collect();
    chunks
        .iter()
        .map(|(id, loc)| {
            let (name, offset) = place(layout, loc)?;
            let pack = *pack_index
                .get(name)
                .ok_or_else(|| RepoError::Internal("pack index lost".into()))?;
            Ok(ChunkRecord {
                id: *id,
                pack,
                offset,
                length: loc.length,
                size: loc.size,
            })
        })
        .collect()
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
