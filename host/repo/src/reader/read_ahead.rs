//! How far a stage reader loads ahead of its consumer, and how the chunks it
//! loads are grouped into batches (one task and one blocking decode each).
//!
//! A 10 KB chunk decodes in 10–20 µs, less than the two thread hand-offs a
//! task of its own would cost, so consecutive chunks of one pack are decoded
//! together. Chunks of 1 MiB and more still get a batch each, so that large
//! files are decoded on all cores.

use std::ops::Range;

const MIB: u64 = 1024 * 1024;

/// Plaintext loaded ahead of the consumer, at most (plus one chunk).
pub(super) const READ_AHEAD_BYTES: u64 = 16 * MIB;
/// Chunks loaded ahead of the consumer, at most.
pub(super) const READ_AHEAD_CHUNKS: usize = 256;
/// Distinct packs that unfinished batches of one reader may need. Each is
/// held whole (up to 32 MiB) while its batches decode. Restoring a copy of
/// `/usr/lib` (72,684 entries, 4.3 GB) on a journaled ext4: 17.0 and 17.3 s
/// with two, 12.1 and 12.5 s with three, 12.5 s with four; peak RSS 199,
/// 210 and 223 MiB. With two, the stage waited for the next pack while the
/// cores were a quarter idle. (On the VM's journal-less root the restores
/// varied too much between runs to show this.)
pub(super) const READ_AHEAD_PACKS: usize = 3;
/// Plaintext of one batch, at most, unless a single chunk is larger.
pub(super) const BATCH_BYTES: u64 = MIB;
/// Chunks in one batch, at most.
pub(super) const BATCH_CHUNKS: usize = 64;

/// One chunk of a stage, in the order the stage reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PlannedChunk {
    /// Index into the manifest's chunk table.
    pub index: u32,
    pub pack: u32,
    /// Plaintext size from the (verified) manifest.
    pub size: u32,
}

/// What a reader has loaded, or is loading, and not handed out yet.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    chunks: usize,
    bytes: u64,
    /// Packs of unfinished batches, with how many such batches each has.
    packs: Vec<(u32, usize)>,
}

impl Ahead {
    /// The next batch to start, as positions in `plan`, or `None` while the
    /// read-ahead is full (or `plan` is done). Something is always started
    /// when nothing is ahead, so the reader cannot stall.
    pub fn next_batch(&self, plan: &[PlannedChunk], from: usize) -> Option<Range<usize>> {
        let first = plan.get(from)?;
        let has_room = self.has_room_for_a_full_batch() && self.admits(first.pack);
        if !(has_room || self.is_empty()) {
            return None;
        }
        let mut end = from + 1;
        let mut bytes = u64::from(first.size);
        while let Some(next) = plan.get(end) {
            if next.pack != first.pack
                || end - from >= BATCH_CHUNKS
                || bytes + u64::from(next.size) > BATCH_BYTES
            {
                break;
            }
            bytes += u64::from(next.size);
            end += 1;
        }
        Some(from..end)
    }

    /// Records a batch returned by [`Ahead::next_batch`] as started.
    pub fn started(&mut self, batch: &[PlannedChunk]) {
        let Some(first) = batch.first() else { return };
        self.chunks += batch.len();
        self.bytes += batch.iter().map(|c| u64::from(c.size)).sum::<u64>();
        match self.packs.iter_mut().find(|(p, _)| *p == first.pack) {
            Some((_, batches)) => *batches += 1,
            None => self.packs.push((first.pack, 1)),
        }
    }

    /// Records that a batch of `pack` finished decoding (its chunks are
    /// still ahead until consumed). True if no unfinished batch needs the
    /// pack any more.
    pub fn batch_finished(&mut self, pack: u32) -> bool {
        let Some(at) = self.packs.iter().position(|(p, _)| *p == pack) else {
            return true;
        };
        let batches = &mut self.packs[at].1;
        *batches = batches.saturating_sub(1);
        if *batches == 0 {
            self.packs.remove(at);
            return true;
        }
        false
    }

    /// Records that one chunk was handed to the consumer.
    pub fn consumed(&mut self, chunk: &PlannedChunk) {
        self.chunks = self.chunks.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(u64::from(chunk.size));
    }

    fn is_empty(&self) -> bool {
        self.chunks == 0 && self.packs.is_empty()
    }

    /// Batches are only started with room for a full one: refilling chunk by
    /// chunk as the consumer frees room would start batches of one chunk.
    fn has_room_for_a_full_batch(&self) -> bool {
        self.chunks + BATCH_CHUNKS <= READ_AHEAD_CHUNKS
            && self.bytes + BATCH_BYTES <= READ_AHEAD_BYTES
    }

    fn admits(&self, pack: u32) -> bool {
        self.packs.len() < READ_AHEAD_PACKS || self.packs.iter().any(|(p, _)| *p == pack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u32 = 1024;

    fn chunks(pack: u32, count: usize, size: u32) -> Vec<PlannedChunk> {
        (0..count)
            .map(|i| PlannedChunk {
                index: i as u32,
                pack,
                size,
            })
            .collect()
    }

    /// Starts batches until the read-ahead is full; returns their ranges.
    fn fill(ahead: &mut Ahead, plan: &[PlannedChunk], from: &mut usize) -> Vec<Range<usize>> {
        let mut started = Vec::new();
        while let Some(batch) = ahead.next_batch(plan, *from) {
            ahead.started(&plan[batch.clone()]);
            *from = batch.end;
            started.push(batch);
        }
        started
    }

    #[test]
    fn small_chunks_of_one_pack_are_batched_up_to_the_chunk_bound() {
        let plan = chunks(7, 1000, 10 * KIB);
        let mut ahead = Ahead::default();
        let mut from = 0;
        let started = fill(&mut ahead, &plan, &mut from);
        assert_eq!(started, [0..64, 64..128, 128..192, 192..256]);
        assert_eq!(ahead.chunks, READ_AHEAD_CHUNKS);
        // One chunk consumed is not room for a full batch.
        ahead.batch_finished(7);
        ahead.consumed(&plan[0]);
        assert!(fill(&mut ahead, &plan, &mut from).is_empty());
        for c in &plan[1..64] {
            ahead.consumed(c);
        }
        assert_eq!(fill(&mut ahead, &plan, &mut from), vec![256..320]);
    }

    #[test]
    fn batches_stop_at_pack_changes_and_at_the_batch_size() {
        let mut plan = chunks(1, 3, 300 * KIB);
        plan.extend(chunks(2, 2, 600 * KIB));
        plan.extend(chunks(2, 1, 4096 * KIB));
        let mut ahead = Ahead::default();
        let mut from = 0;
        assert_eq!(fill(&mut ahead, &plan, &mut from), [0..3, 3..4, 4..5, 5..6]);
    }

    #[test]
    fn large_chunks_are_bounded_by_bytes() {
        let plan = chunks(1, 100, 4096 * KIB);
        let mut ahead = Ahead::default();
        let mut from = 0;
        let started = fill(&mut ahead, &plan, &mut from);
        assert_eq!(started.len(), 4, "{started:?}");
        assert!(ahead.bytes <= READ_AHEAD_BYTES + 4 * MIB);
    }

    #[test]
    fn read_ahead_spans_a_bounded_number_of_packs() {
        // Every chunk in a pack of its own, as after dedup against many
        // older backups: the read-ahead must not hold a pack per chunk.
        let plan: Vec<_> = (0..100)
            .map(|i| PlannedChunk {
                index: i,
                pack: i,
                size: 10 * KIB,
            })
            .collect();
        let mut ahead = Ahead::default();
        let mut from = 0;
        assert_eq!(fill(&mut ahead, &plan, &mut from).len(), READ_AHEAD_PACKS);
        // A finished batch frees its pack even before its chunk is consumed.
        assert!(ahead.batch_finished(0));
        let next = READ_AHEAD_PACKS;
        assert_eq!(fill(&mut ahead, &plan, &mut from), vec![next..next + 1]);
        assert!(!ahead.is_empty());
    }

    #[test]
    fn something_is_always_started_when_nothing_is_ahead() {
        let plan = chunks(1, 1, 4096 * KIB);
        assert_eq!(Ahead::default().next_batch(&plan, 0), Some(0..1));
        assert_eq!(Ahead::default().next_batch(&plan, 1), None);
    }
}
