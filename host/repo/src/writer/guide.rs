//! A changed file's previous version as a guide to cutting it again.
//!
//! A cut depends only on where its chunk starts and on the bytes of that
//! chunk. So where the new version is at a cut point that the previous
//! version also had, and the bytes up to the previous version's next cut
//! have that chunk's id, the next cut is there too: no search is needed,
//! and the id, already computed, is the chunk's. Checking an id costs one
//! pass of HMAC-SHA-256 over the chunk, which the chunk needs anyway;
//! searching for the cut costs as much again. A 2 GiB file with 1% of it
//! rewritten was bound by that search on its second backup.
//!
//! Nothing here can change what is stored, only where chunks begin: every
//! chunk is exactly the entry's bytes at its place, and an id is only ever
//! taken from the hash of those bytes. If the previous backup was cut by
//! other rules, the new one follows its cuts and dedup still works.
//!
//! Bytes the guide hashed in vain (a chunk that changed, or one it could no
//! longer reach because an insertion shifted the content) are counted; once
//! they outweigh what it saved, the entry is cut without it.

use bytes::Bytes;

use crate::chunker::{self, SEGMENT};
use crate::keys::{ChunkId, Keys};

/// Previous versions smaller than this are not worth a guide: they are
/// cut in one or two searches anyway.
pub(super) const GUIDED_FROM: u64 = SEGMENT as u64;

/// Bytes a guide may hash in vain beyond what it saved, and since it last
/// saved anything, before the entry is cut without it: room for a rewritten
/// range a few segments long, and a bound on what a file changed all over
/// costs.
const WASTE_ALLOWED: u64 = 4 * SEGMENT as u64;

/// Where the previous version's chunks began, their lengths and ids.
pub(super) struct Guide {
    /// `(start, length, id)` in order of `start`.
    chunks: Vec<(u64, u32, ChunkId)>,
}

/// A chunk of the entry; its id if the guide already computed it.
pub(super) struct CutChunk {
    pub(super) data: Bytes,
    pub(super) id: Option<ChunkId>,
}

impl CutChunk {
    /// A chunk whose id is still to be computed.
    pub(super) fn unidentified(data: Bytes) -> Self {
        CutChunk { data, id: None }
    }
}

/// Chunks cut from the bytes the writer gave, and the uncut rest.
pub(super) struct Cut {
    pub(super) chunks: Vec<CutChunk>,
    pub(super) rest: Bytes,
    pub(super) tally: Tally,
}

/// How a guide fared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    /// Bytes whose cuts the guide gave.
    pub(super) matched: u64,
    /// Bytes it hashed in vain.
    pub(super) wasted: u64,
    /// Of those, the bytes after its last match, or all of them if none.
    pub(super) wasted_since_match: u64,
}

impl Tally {
    /// `self` followed by `next`.
    pub(super) fn then(self, next: Tally) -> Tally {
        Tally {
            matched: self.matched + next.matched,
            wasted: self.wasted + next.wasted,
            wasted_since_match: if next.matched > 0 {
                next.wasted_since_match
            } else {
                self.wasted_since_match + next.wasted
            },
        }
    }

    fn waste(&mut self, bytes: usize) {
        self.wasted += bytes as u64;
        self.wasted_since_match += bytes as u64;
    }

    /// Whether the guide still earns its hashing.
    pub(super) fn worth_going_on(&self) -> bool {
        self.wasted_since_match <= WASTE_ALLOWED && self.wasted <= self.matched + WASTE_ALLOWED
    }
}

impl Guide {
    /// The guide of a previous version with these chunks (id and size, in
    /// order).
    pub(super) fn new(chunks: impl Iterator<Item = (ChunkId, u32)>) -> Self {
        let mut start = 0u64;
        let chunks = chunks
            .map(|(id, size)| {
                let chunk = (start, size, id);
                start += u64::from(size);
                chunk
            })
            .collect();
        Guide { chunks }
    }

    /// The previous version's length: its last chunk ended there because
    /// the file did, which says nothing about where a longer file is cut.
    fn size(&self) -> u64 {
        self.chunks
            .last()
            .map_or(0, |&(start, len, _)| start + u64::from(len))
    }

    /// Whether the previous version has a chunk at or after entry offset
    /// `from`.
    pub(super) fn reaches(&self, from: u64) -> bool {
        self.size() > from
    }

    /// The previous version's chunks that a cut of `total` bytes starting
    /// at entry offset `from` could take: `(start, end, id)`, relative to
    /// `from`.
    fn candidates(&self, from: u64, total: usize, last: bool) -> Vec<(usize, usize, ChunkId)> {
        let first = self.chunks.partition_point(|&(start, _, _)| start < from);
        let size = self.size();
        let mut found = Vec::new();
        for &(start, len, id) in &self.chunks[first..] {
            let start_at = (start - from) as usize;
            let end_at = start_at + len as usize;
            if end_at > total || !chunker::cut_goes_on(start_at, total, last) {
                break;
            }
            let ended_the_file = start + u64::from(len) == size;
            if ended_the_file && !(last && end_at == total) {
                break;
            }
            found.push((start_at, end_at, id));
        }
        found
    }
}

/// [`chunker::cut`] of `carried` followed by `segment`, which begin at entry
/// offset `from`, taking the previous version's cuts where its chunks are
/// found unchanged: the same chunks, with the ids of those.
pub(super) fn cut(
    carried: &Bytes,
    segment: &Bytes,
    keys: &Keys,
    last: bool,
    guide: &Guide,
    from: u64,
) -> Cut {
    let total = carried.len() + segment.len();
    let candidates = guide.candidates(from, total, last);
    let hashed = hash_all(keys, carried, segment, &candidates);
    let mut chunks = Vec::new();
    let mut tally = Tally::default();
    let mut next = candidates.iter().zip(hashed).peekable();
    let mut pos = 0;
    while chunker::cut_goes_on(pos, total, last) {
        // Candidates the cut went past were hashed for nothing.
        while let Some(((start, end, _), _)) = next.next_if(|((start, _, _), _)| *start < pos) {
            tally.waste(end - start);
        }
        match next.next_if(|((start, _, _), _)| *start == pos) {
            Some(((_, end, expected), (data, id))) if id == *expected => {
                chunks.push(CutChunk { data, id: Some(id) });
                tally.matched += (end - pos) as u64;
                tally.wasted_since_match = 0;
                pos = *end;
            }
            changed => {
                if let Some(((start, end, _), _)) = changed {
                    tally.waste(end - start);
                }
                let end = pos + keys.chunker().next_cut_at(carried, segment, pos);
                chunks.push(CutChunk {
                    data: chunker::joined(carried, segment, pos..end),
                    id: None,
                });
                pos = end;
            }
        }
    }
    for ((start, end, _), _) in next {
        tally.waste(end - start);
    }
    Cut {
        chunks,
        rest: chunker::joined(carried, segment, pos..total),
        tally,
    }
}

/// Each candidate's bytes and their id, on two threads.
fn hash_all(
    keys: &Keys,
    carried: &Bytes,
    segment: &Bytes,
    candidates: &[(usize, usize, ChunkId)],
) -> Vec<(Bytes, ChunkId)> {
    let hash = |part: &[(usize, usize, ChunkId)]| -> Vec<(Bytes, ChunkId)> {
        part.iter()
            .map(|&(start, end, _)| {
                let data = chunker::joined(carried, segment, start..end);
                let id = keys.chunk_id(&data);
                (data, id)
            })
            .collect()
    };
    if candidates.len() < 2 {
        return hash(candidates);
    }
    let (first, second) = candidates.split_at(candidates.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| hash(second));
        let mut hashed = hash(first);
        // A panic there is a bug, not bad input: hash on this thread instead.
        hashed.extend(other.join().unwrap_or_else(|_| hash(second)));
        hashed
    })
}

#[cfg(test)]
pub(super) mod tests {
    use rand::{RngCore, SeedableRng};

    use super::*;
    use crate::chunker::MAX_CHUNK;

    pub(in crate::writer) fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut data = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
        data
    }

    /// The chunks of one pass over all of `data`.
    pub(in crate::writer) fn one_pass(keys: &Keys, data: &[u8]) -> Vec<Bytes> {
        chunker::cut(
            &Bytes::new(),
            &Bytes::copy_from_slice(data),
            keys.chunker(),
            true,
        )
        .0
    }

    pub(in crate::writer) fn guide_of(keys: &Keys, data: &[u8]) -> Guide {
        let chunks = one_pass(keys, data);
        Guide::new(chunks.iter().map(|c| (keys.chunk_id(c), c.len() as u32)))
    }

    /// Versions of `old`: unchanged, rewritten in place, shifted by an
    /// insertion, grown, shrunk, and changed at the start.
    pub(in crate::writer) fn versions(old: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        let middle = old.len() / 2;
        let mut rewritten = old.to_vec();
        rewritten[middle..middle + MAX_CHUNK].copy_from_slice(&random(MAX_CHUNK, 9));
        let mut inserted = old.to_vec();
        inserted.splice(middle..middle, random(1000, 10));
        let mut grown = old.to_vec();
        grown.extend(random(3 * MAX_CHUNK / 2, 11));
        let shrunk = old[..old.len() - 2 * MAX_CHUNK - 5].to_vec();
        let mut head = old.to_vec();
        head[..100].fill(0);
        vec![
            ("unchanged", old.to_vec()),
            ("rewritten in place", rewritten),
            ("shifted", inserted),
            ("grown", grown),
            ("shrunk", shrunk),
            ("changed at the start", head),
        ]
    }

    #[test]
    fn cuts_are_those_of_one_pass_over_the_new_version() {
        let keys = Keys::for_tests([4; 32]);
        let old = random(5 * SEGMENT + 12_345, 1);
        let guide = guide_of(&keys, &old);
        for (name, new) in versions(&old) {
            let cut = cut(
                &Bytes::new(),
                &Bytes::from(new.clone()),
                &keys,
                true,
                &guide,
                0,
            );
            assert!(cut.rest.is_empty());
            let datas: Vec<Bytes> = cut.chunks.iter().map(|c| c.data.clone()).collect();
            assert_eq!(datas, one_pass(&keys, &new), "{name}");
            for c in &cut.chunks {
                if let Some(id) = c.id {
                    assert_eq!(id, keys.chunk_id(&c.data), "{name}: an id not of its bytes");
                }
            }
            let t = cut.tally;
            match name {
                "unchanged" => assert_eq!((t.matched, t.wasted), (new.len() as u64, 0)),
                "shifted" => assert!(t.matched < new.len() as u64 / 2 + MAX_CHUNK as u64),
                _ => assert!(
                    t.matched >= new.len() as u64 - 3 * MAX_CHUNK as u64,
                    "{name}: only {t:?}"
                ),
            }
        }
    }

    #[test]
    fn a_guide_that_lies_only_costs_hashing() {
        let keys = Keys::for_tests([4; 32]);
        let data = random(3 * SEGMENT, 2);
        let chunks = one_pass(&keys, &data);
        // Right ids at the wrong places, and made-up ones.
        let lying = chunks
            .iter()
            .rev()
            .map(|c| (keys.chunk_id(c), c.len() as u32))
            .chain((0..8).map(|i| (ChunkId([i; 32]), 1 << 20)));
        let guide = Guide::new(lying);
        let cut = cut(&Bytes::new(), &Bytes::from(data), &keys, true, &guide, 0);
        let datas: Vec<Bytes> = cut.chunks.iter().map(|c| c.data.clone()).collect();
        assert_eq!(datas, chunks);
        assert!(cut.chunks[1..].iter().all(|c| c.id.is_none()));
        assert!(cut.tally.wasted > 0);
    }

    #[test]
    fn a_guide_is_dropped_once_it_wastes_more_than_it_saves() {
        let segment = SEGMENT as u64;
        let saved = Tally {
            matched: 100 * segment,
            ..Tally::default()
        };
        let rewritten = Tally {
            wasted: 3 * segment,
            wasted_since_match: 3 * segment,
            ..Tally::default()
        };
        assert!(
            saved.then(rewritten).worth_going_on(),
            "a rewritten range is passed over"
        );
        let shifted = saved.then(rewritten).then(rewritten);
        assert!(!shifted.worth_going_on(), "nothing found for 6 segments");
        let scattered = Tally {
            matched: segment,
            wasted: 2 * segment,
            wasted_since_match: 0,
        };
        let all_over = (0..5).fold(Tally::default(), |t, _| t.then(scattered));
        assert!(!all_over.worth_going_on(), "{all_over:?}");
    }
}
