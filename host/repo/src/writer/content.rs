//! The open file entry's content on its way to chunks. Writes fill a
//! segment; a full segment is cut on blocking threads while the next one
//! fills, so copying in and cutting overlap. (Awaiting each cut before taking
//! more data kept a 2 GiB file's second backup at 1.2 of 2 cores.)
//!
//! Where a segment's last chunk ends is only known once it is cut, but it lies
//! within the segment's last `MAX_CHUNK` bytes (a cut stops with fewer than
//! that left). That uncut rest is carried into the next segment's cut, which
//! reads it in place: only the one chunk spanning the two is copied, and the
//! cut points are those of one pass over the whole entry. (Copying the last
//! `MAX_CHUNK` bytes into the front of every next segment, as before, copied
//! half of each 8 MiB segment twice on the async side.)

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::guide::{self, Cut, CutChunk, Guide, Tally};
use crate::chunker::{self, MIN_CHUNK, SEGMENT};
use crate::error::RepoError;
use crate::keys::Keys;

/// Cut segments kept to be filled again once their chunks are done with:
/// a fresh 8 MiB buffer costs 2,048 page faults. A segment's chunks are
/// hashed while the next segments fill and are cut (the chunk jobs'
/// budget), so with two kept the oldest was always still in use when it came
/// up: no segment was ever filled again, and page faults took a sixth of a
/// changed 2 GiB file's second backup (3.6–4.0 s). With three, 383 of 434
/// segments were filled again (3.3 s); four reused all but 12 (3.2 s) but
/// hold one more segment at the peak of a backup near the memory target.
const SPARE_SEGMENTS: usize = 3;

/// A segment being cut: its chunks, and its uncut rest.
type Cutting = JoinHandle<Cut>;

#[derive(Default)]
pub(super) struct EntryContent {
    /// The segment being filled.
    buf: Vec<u8>,
    /// The segment before, being cut, and the bytes the cut holds.
    cutting: Option<(Cutting, usize)>,
    /// The uncut rest of the segments before, once their cut is done: it
    /// begins the next cut.
    carried: Bytes,
    /// Segments handed to cutting, oldest first, to reuse as `buf`.
    spare: VecDeque<Bytes>,
    /// The previous version of the file, while it saves more than it costs.
    guide: Option<Arc<Guide>>,
    /// Where in the entry the next cut starts (`carried` begins there).
    cut_from: u64,
    /// How the guide fared so far.
    tally: Tally,
    /// Segments allocated rather than filled again.
    #[cfg(test)]
    fresh: usize,
}

impl EntryContent {
    /// Content to be cut with the previous version's cuts as a guide.
    pub(super) fn guided_by(guide: Option<Guide>) -> Self {
        EntryContent {
            guide: guide.map(Arc::new),
            ..Default::default()
        }
    }

    /// Appends as much of `data` as the segment has room for; returns how
    /// much that was.
    pub(super) fn fill(&mut self, data: &[u8]) -> usize {
        let n = (SEGMENT - self.buf.len().min(SEGMENT)).min(data.len());
        if self.buf.len() + n > self.buf.capacity() && self.buf.capacity() > 0 {
            // The entry is larger than its first write: grow once, straight
            // to a whole segment, instead of doubling (and copying) repeatedly.
            self.buf.reserve_exact(SEGMENT - self.buf.len());
        }
        self.buf.extend_from_slice(&data[..n]);
        n
    }

    pub(super) fn is_full(&self) -> bool {
        self.buf.len() >= SEGMENT
    }

    /// Bytes held: the segment being filled, the rest carried over and the
    /// bytes being cut.
    pub(super) fn buffered(&self) -> usize {
        self.buf.len() + self.carried.len() + self.being_cut()
    }

    /// Bytes being cut: a segment and the rest carried into it.
    pub(super) fn being_cut(&self) -> usize {
        self.cutting.as_ref().map_or(0, |(_, bytes)| *bytes)
    }

    /// Starts cutting the full segment and begins the next one; returns the
    /// chunks of the segment before not returned yet.
    pub(super) async fn seal(&mut self, keys: &Arc<Keys>) -> Result<Vec<CutChunk>, RepoError> {
        let chunks = self.cut_before().await?;
        let next = self.reused_buffer();
        let segment = Bytes::from(std::mem::replace(&mut self.buf, next));
        self.spare.push_back(segment.clone());
        self.start_cut(keys, segment, false);
        Ok(chunks)
    }

    /// The chunks of the segment before if its cut has finished, without
    /// waiting for it: what a crash would lose stays small (the pipeline's
    /// data is what a resumed backup writes again).
    pub(super) async fn cut_chunks(&mut self) -> Result<Vec<CutChunk>, RepoError> {
        match &self.cutting {
            Some((cutting, _)) if cutting.is_finished() => self.cut_before().await,
            _ => Ok(Vec::new()),
        }
    }

    /// All chunks not returned yet: the entry's content has ended.
    pub(super) async fn finish(&mut self, keys: &Arc<Keys>) -> Result<Vec<CutChunk>, RepoError> {
        let mut chunks = self.cut_before().await?;
        let last = Bytes::from(std::mem::take(&mut self.buf));
        if self.carried.len() + last.len() <= MIN_CHUNK {
            // No cut is ever below the minimum: one chunk without a search,
            // not worth a thread.
            let carried = std::mem::take(&mut self.carried);
            let (cut, _) = chunker::cut(&carried, &last, keys.chunker(), true);
            chunks.extend(cut.into_iter().map(CutChunk::unidentified));
        } else {
            self.start_cut(keys, last, true);
            chunks.extend(self.cut_before().await?);
        }
        *self = EntryContent::default();
        Ok(chunks)
    }

    /// Cuts the carried rest followed by `segment` on a blocking thread.
    fn start_cut(&mut self, keys: &Arc<Keys>, segment: Bytes, last: bool) {
        let carried = std::mem::take(&mut self.carried);
        let bytes = carried.len() + segment.len();
        let keys = keys.clone();
        let from = self.cut_from;
        if !self.tally.worth_going_on() || !self.guide.as_ref().is_some_and(|g| g.reaches(from)) {
            self.guide = None;
        }
        let guide = self.guide.clone();
        let cutting = tokio::task::spawn_blocking(move || match guide {
            Some(guide) => guide::cut(&carried, &segment, &keys, last, &guide, from),
            None => {
                let (chunks, rest) = chunker::cut(&carried, &segment, keys.chunker(), last);
                Cut {
                    chunks: chunks.into_iter().map(CutChunk::unidentified).collect(),
                    rest,
                    tally: Tally::default(),
                }
            }
        });
        self.cutting = Some((cutting, bytes));
    }

    /// Waits for the segment being cut, if any: its chunks; its uncut rest
    /// is carried into the next cut.
    async fn cut_before(&mut self) -> Result<Vec<CutChunk>, RepoError> {
        let Some((cutting, bytes)) = self.cutting.take() else {
            return Ok(Vec::new());
        };
        let cut = cutting.await.map_err(RepoError::join)?;
        self.cut_from += (bytes - cut.rest.len()) as u64;
        self.carried = cut.rest;
        self.tally = self.tally.then(cut.tally);
        Ok(cut.chunks)
    }

    /// The oldest cut segment if nothing refers to it any more (its chunks
    /// are hashed, stored or dropped), emptied; else a new buffer.
    fn reused_buffer(&mut self) -> Vec<u8> {
        if let Some(oldest) = self.spare.pop_front() {
            match oldest.try_into_mut() {
                Ok(mut reusable) => {
                    reusable.clear();
                    return Vec::from(reusable);
                }
                Err(in_use) if self.spare.len() + 1 < SPARE_SEGMENTS => {
                    self.spare.push_front(in_use)
                }
                // Too many still in use: freed with their last chunk instead.
                Err(_) => {}
            }
        }
        #[cfg(test)]
        {
            self.fresh += 1;
        }
        Vec::with_capacity(SEGMENT)
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngCore, SeedableRng};

    use super::*;
    use crate::chunker::MAX_CHUNK;
    use crate::writer::jobs::MAX_JOB_BYTES;

    fn ends(chunks: &[Bytes]) -> Vec<usize> {
        chunks
            .iter()
            .scan(0, |end, c| {
                *end += c.len();
                Some(*end)
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cut_points_are_those_of_one_pass_over_the_entry() {
        let keys = Arc::new(Keys::for_tests([1; 32]));
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut taken_early = 0;
        for len in [0, 1, MIN_CHUNK + 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 777] {
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            // A zero run across a segment's end forces maximum-size cuts there.
            if len > SEGMENT + MAX_CHUNK {
                data[SEGMENT - MAX_CHUNK..SEGMENT + MAX_CHUNK].fill(0);
            }
            let (whole, _) = chunker::cut(
                &Bytes::new(),
                &Bytes::from(data.clone()),
                keys.chunker(),
                true,
            );

            let mut content = EntryContent::default();
            let (chunks, early) = write_through(&mut content, &data, &keys, &mut rng).await;
            taken_early += early;
            let chunks: Vec<Bytes> = chunks.into_iter().map(|c| c.data).collect();
            assert_eq!(ends(&chunks), ends(&whole), "entry of {len} bytes");
            assert!(chunks.iter().zip(&whole).all(|(a, b)| a == b));
        }
        assert!(
            taken_early > 0,
            "no cut finished before the next segment filled"
        );
    }

    /// Streamed in pieces and guided by the previous version, any new
    /// version is cut as one pass over it would be; an unchanged one is
    /// cut by the guide alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn guided_cuts_are_those_of_one_pass_over_the_entry() {
        use crate::writer::guide::tests::{guide_of, one_pass, random, versions};
        let keys = Arc::new(Keys::for_tests([1; 32]));
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let old = random(6 * SEGMENT + 4_321, 3);
        for (name, new) in versions(&old) {
            let mut content = EntryContent::guided_by(Some(guide_of(&keys, &old)));
            let (chunks, _) = write_through(&mut content, &new, &keys, &mut rng).await;
            let datas: Vec<Bytes> = chunks.iter().map(|c| c.data.clone()).collect();
            assert_eq!(ends(&datas), ends(&one_pass(&keys, &new)), "{name}");
            assert_eq!(datas.concat(), new, "{name}");
            let mut as_before = 0;
            for c in chunks.iter().filter(|c| c.id.is_some()) {
                assert_eq!(c.id, Some(keys.chunk_id(&c.data)), "{name}");
                as_before += c.data.len();
            }
            if name == "unchanged" {
                assert_eq!(as_before, new.len());
            } else if name == "rewritten in place" {
                assert!(as_before >= new.len() - 3 * MAX_CHUNK, "{as_before}");
            }
        }
    }

    /// Writes `data` through `content` in random pieces, the way the
    /// writer does: its chunks, and how many were taken before the next
    /// segment filled.
    async fn write_through(
        content: &mut EntryContent,
        data: &[u8],
        keys: &Arc<Keys>,
        rng: &mut impl Rng,
    ) -> (Vec<CutChunk>, usize) {
        let mut chunks = Vec::new();
        let mut taken_early = 0;
        let mut rest = data;
        while !rest.is_empty() {
            let piece = rng.gen_range(1..=rest.len().min(3 << 20));
            let n = content.fill(&rest[..piece]);
            rest = &rest[n..];
            if content.is_full() {
                chunks.extend(content.seal(keys).await.unwrap());
            } else {
                if rng.gen_bool(0.3) {
                    // Sometimes long enough for the cut to finish.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                let ready = content.cut_chunks().await.unwrap();
                taken_early += ready.len();
                chunks.extend(ready);
            }
        }
        chunks.extend(content.finish(keys).await.unwrap());
        (chunks, taken_early)
    }

    /// Fills the segment and seals it; the chunks of the one before.
    async fn seal_full(content: &mut EntryContent, keys: &Arc<Keys>) -> Vec<Bytes> {
        let piece = vec![7; 1 << 20];
        while !content.is_full() {
            content.fill(&piece);
        }
        let chunks = content.seal(keys).await.unwrap();
        chunks.into_iter().map(|c| c.data).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_segment_whose_chunks_are_done_with_is_filled_again() {
        let keys = Arc::new(Keys::for_tests([1; 32]));
        let mut content = EntryContent::default();
        assert!(seal_full(&mut content, &keys).await.is_empty());
        let first = content.spare[0].as_ptr();
        drop(seal_full(&mut content, &keys).await);
        assert_ne!(content.buf.as_ptr(), first);
        // The first segment's chunks are dropped: its memory is filled again.
        drop(seal_full(&mut content, &keys).await);
        assert_eq!(content.buf.as_ptr(), first);
        // Segments whose chunks are held are neither waited for nor piled up.
        let mut held = Vec::new();
        for _ in 0..2 * SPARE_SEGMENTS {
            held.push(seal_full(&mut content, &keys).await);
            assert!(content.spare.len() <= SPARE_SEGMENTS);
        }
        assert!(held.iter().all(|chunks| !chunks.is_empty()));
    }

    /// A writer holds a segment's chunks until its jobs are full: the
    /// segments must come back all the same, or every one is a fresh
    /// mapping paid for in page faults.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn segments_are_filled_again_while_jobs_hold_chunks() {
        let keys = Arc::new(Keys::for_tests([1; 32]));
        let mut content = EntryContent::default();
        let mut jobs: VecDeque<Bytes> = VecDeque::new();
        let segments = 40;
        for _ in 0..segments {
            for chunk in seal_full(&mut content, &keys).await {
                jobs.push_back(chunk);
                // The writer's rule: wait for the oldest job only once the
                // jobs and the segment being cut reach the budget.
                while jobs.iter().map(Bytes::len).sum::<usize>() + content.being_cut()
                    >= MAX_JOB_BYTES as usize
                {
                    jobs.pop_front();
                }
            }
        }
        assert!(
            content.fresh <= SPARE_SEGMENTS + 1,
            "{} of {segments} segments were allocated afresh",
            content.fresh
        );
    }
}
