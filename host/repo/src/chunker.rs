//! Keyed content-defined chunking over a stream that arrives in arbitrary
//! pieces.
//!
//! A gear rolling hash (`h = (h << 1) + gear[byte]`, as in FastCDC) runs over
//! each chunk from its minimum size on. Both the gear table and the boundary
//! test are secret: the table is expanded from the 256-bit chunker key, and a
//! position is a boundary when a keyed mix of the hash falls below a
//! threshold. FastCDC's normalisation (a stricter threshold before the average
//! size, a looser one after it) keeps the sizes close to 1 MiB.
//!
//! A public gear table XOR-ed with a secret seed (what this replaced) only
//! obfuscates: the test `h & mask == 0` reads hash bits that depend only on
//! the same and lower bits of the table entries, so the seed can be solved for
//! bit by bit from the cut points of a known file (see eprint 2025/558 for
//! such key recovery against several backup tools). Here every bit the test
//! reads depends on all 64 hash bits and on the key.
//! `docs/repository.md` §10 says what this stops and what it does not.
//!
//! Cut points are exactly those of chunking the whole entry at once: a cut is
//! only searched when at least `MAX_CHUNK` bytes are buffered (a search never
//! looks further than that), or at the end of the entry.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const MIN_CHUNK: usize = FILE_CUTS.min;
pub const AVG_CHUNK: usize = FILE_CUTS.avg;
pub const MAX_CHUNK: usize = FILE_CUTS.max;

/// Buffer this much of an entry before searching for cut points. The segment
/// being cut counts against the writer's 16 MiB budget of chunk jobs: at
/// 16 MiB only one hashing job could run beside a cut, and the stage kept
/// 1.17 of 2 cores busy on a changed large file; at 8 MiB, 1.43.
pub const SEGMENT: usize = 2 * MAX_CHUNK;

/// Chunk sizes of one parameterisation of the chunker, and its boundary
/// probabilities per byte: one bit stricter than the average before it and
/// one bit looser after it (FastCDC's normalisation level 1).
#[derive(Clone, Copy, Debug)]
pub struct CutParams {
    pub min: usize,
    pub avg: usize,
    pub max: usize,
    threshold_before_avg: u64,
    threshold_after_avg: u64,
}

impl CutParams {
    /// Sizes `avg / 4`, `avg` and `avg * 4` for an average of `2^avg_bits`.
    const fn with_average_bits(avg_bits: u32) -> Self {
        let avg = 1 << avg_bits;
        CutParams {
            min: avg / 4,
            avg,
            max: avg * 4,
            threshold_before_avg: 1 << (64 - (avg_bits + 1)),
            threshold_after_avg: 1 << (64 - (avg_bits - 1)),
        }
    }
}

/// File content: 256 KiB / 1 MiB / 4 MiB.
pub const FILE_CUTS: CutParams = CutParams::with_average_bits(20);
/// Manifest segments (`docs/repository.md` §4.4): 16 KiB / 64 KiB / 256 KiB.
/// A changed entry costs its segment and the root lists one row per
/// segment, so the average trades the cost of a partly changed tree
/// against the size of every root manifest.
pub const MANIFEST_CUTS: CutParams = CutParams::with_average_bits(16);

/// Positions [`Chunker::scan`] rolls before it tests them together.
const SCAN_BLOCK: usize = 8;

/// HMAC-counter expansion labels of the chunker key.
const LABEL_GEAR: &[u8] = b"drhost-repo/v1/chunker/gear";
const LABEL_MIX: &[u8] = b"drhost-repo/v1/chunker/mix";

/// The secret chunking parameters expanded from one 256-bit chunker key.
pub struct Chunker {
    gear: [u64; 256],
    mix: BoundaryMix,
}

/// A keyed mix of the 64-bit rolling hash: the 128-bit product of `h ^ k`
/// and a secret odd multiplier, folded by XOR-ing its halves (wyhash's "mum").
/// Every output bit depends on every bit of `h` through the high half of the
/// product, which collects the carries of all of them. One widening multiply
/// per byte: a bijective two-multiply mix (`xor, mul, xor-shift, mul`) costs
/// a second one and ran at 1.65 GB/s here, against 1.9 GB/s for this one.
#[derive(Clone, Copy)]
struct BoundaryMix {
    xor: u64,
    mul: u64,
}

impl BoundaryMix {
    #[inline(always)]
    fn apply(self, hash: u64) -> u64 {
        let product = u128::from(hash ^ self.xor).wrapping_mul(u128::from(self.mul));
        (product >> 64) as u64 ^ product as u64
    }
}

impl std::fmt::Debug for Chunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunker").finish_non_exhaustive()
    }
}

impl Drop for Chunker {
    fn drop(&mut self) {
        // Best effort, like the other keys: the table is key material.
        self.gear.fill(0);
        self.mix = BoundaryMix { xor: 0, mul: 0 };
        std::hint::black_box(&mut self.gear);
    }
}

/// `HMAC-SHA256(key, label || counter)`: a PRF in counter mode.
fn prf_block(key: &[u8; 32], label: &[u8], counter: u32) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(label);
    m.update(&counter.to_be_bytes());
    m.finalize().into_bytes().into()
}

fn words(block: &[u8; 32]) -> [u64; 4] {
    std::array::from_fn(|i| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&block[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    })
}

impl Chunker {
    /// Expands the chunker key into the gear table (64 PRF blocks of four
    /// words) and the boundary mix (one block; the multiplier is forced odd so
    /// that the low half of the product is a bijection of `h ^ k`).
    pub fn new(key: &[u8; 32]) -> Self {
        let mut gear = [0u64; 256];
        for (counter, entries) in gear.chunks_exact_mut(4).enumerate() {
            let mut block = prf_block(key, LABEL_GEAR, counter as u32);
            entries.copy_from_slice(&words(&block));
            block.fill(0);
        }
        let mut block = prf_block(key, LABEL_MIX, 0);
        let [xor, mul, _, _] = words(&block);
        block.fill(0);
        Chunker {
            gear,
            mix: BoundaryMix { xor, mul: mul | 1 },
        }
    }

    /// Length of the chunk that starts `data`: the first boundary at or after
    /// `MIN_CHUNK`, or `MAX_CHUNK`, or all of `data` if it is shorter. Reads at
    /// most `MAX_CHUNK` bytes, which is what makes streaming cuts equal whole
    /// input cuts.
    pub fn next_cut(&self, data: &[u8]) -> usize {
        self.next_cut_with(&FILE_CUTS, data)
    }

    /// [`next_cut`](Self::next_cut) with the sizes of `p`.
    pub fn next_cut_with(&self, p: &CutParams, data: &[u8]) -> usize {
        self.next_cut_joined(p, data, &[])
    }

    /// [`next_cut_with`](Self::next_cut_with) over `head` followed by
    /// `rest`, without joining them: the chunk that starts in one segment
    /// and ends in the next is found where the bytes lie.
    fn next_cut_joined(&self, p: &CutParams, head: &[u8], rest: &[u8]) -> usize {
        let len = (head.len() + rest.len()).min(p.max);
        if len <= p.min {
            return len;
        }
        let normal = p.avg.min(len);
        let mut hash = 0u64;
        let before_avg = (p.min, normal, p.threshold_before_avg);
        if let Some(cut) = self.scan_joined(head, rest, before_avg, &mut hash) {
            return cut;
        }
        let after_avg = (normal, len, p.threshold_after_avg);
        self.scan_joined(head, rest, after_avg, &mut hash)
            .unwrap_or(len)
    }

    /// The length of the file chunk at `pos` of `carried` followed by
    /// `segment`, read where the bytes lie.
    pub(crate) fn next_cut_at(&self, carried: &[u8], segment: &[u8], pos: usize) -> usize {
        match carried.get(pos..) {
            Some(head) if !head.is_empty() => self.next_cut_joined(&FILE_CUTS, head, segment),
            _ => self.next_cut(&segment[pos - carried.len()..]),
        }
    }

    /// [`scan`](Self::scan) over `(from, to, threshold)` of `head` followed
    /// by `rest`.
    #[inline(always)]
    fn scan_joined(
        &self,
        head: &[u8],
        rest: &[u8],
        (from, to, threshold): (usize, usize, u64),
        hash: &mut u64,
    ) -> Option<usize> {
        let split = head.len();
        if from < split
            && let Some(cut) = self.scan(head, from, to.min(split), threshold, hash)
        {
            return Some(cut);
        }
        if to <= split {
            return None;
        }
        self.scan(rest, from.max(split) - split, to - split, threshold, hash)
            .map(|cut| split + cut)
    }

    /// Rolls the hash over `data[from..to]`; returns the chunk length at the
    /// first boundary.
    #[inline(always)]
    fn scan(
        &self,
        data: &[u8],
        from: usize,
        to: usize,
        threshold: u64,
        hash: &mut u64,
    ) -> Option<usize> {
        let gear = &self.gear;
        let mix = self.mix;
        let mut h = *hash;
        let bytes = &data[from..to];
        // Eight positions per branch: the rolling hash is one add deep per
        // byte, the mixes are independent multiplies the core overlaps, and
        // a boundary (one in a million bytes) is rare enough to look for
        // again position by position.
        let mut blocks = bytes.chunks_exact(SCAN_BLOCK);
        let mut start = from;
        for block in &mut blocks {
            let mut rolled = [0u64; SCAN_BLOCK];
            for (slot, &byte) in rolled.iter_mut().zip(block) {
                h = (h << 1).wrapping_add(gear[byte as usize]);
                *slot = h;
            }
            if rolled
                .iter()
                .fold(false, |hit, &r| hit | (mix.apply(r) < threshold))
            {
                let at = rolled.iter().position(|&r| mix.apply(r) < threshold);
                return at.map(|i| start + i + 1);
            }
            start += SCAN_BLOCK;
        }
        for (i, &byte) in blocks.remainder().iter().enumerate() {
            h = (h << 1).wrapping_add(gear[byte as usize]);
            if mix.apply(h) < threshold {
                return Some(start + i + 1);
            }
        }
        *hash = h;
        None
    }
}

/// Splits all of `data` with the sizes of `p` (CPU-bound: run on a
/// blocking thread).
pub fn split_whole(data: &Bytes, chunker: &Chunker, p: &CutParams) -> Vec<Bytes> {
    let mut pieces = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let end = pos + chunker.next_cut_with(p, &data[pos..]);
        pieces.push(data.slice(pos..end));
        pos = end;
    }
    pieces
}

/// Splits `carried` (the uncut rest of what came before) followed by
/// `segment` into chunks. Unless `last`, stops while fewer than `MAX_CHUNK`
/// bytes remain, and returns them: they begin what follows. Only a chunk
/// that spans the two is copied; the rest are slices. CPU-bound: run on a
/// blocking thread.
pub fn cut(carried: &Bytes, segment: &Bytes, chunker: &Chunker, last: bool) -> (Vec<Bytes>, Bytes) {
    let total = carried.len() + segment.len();
    let goes_on = |pos: usize| cut_goes_on(pos, total, last);
    let mut chunks = Vec::new();
    let mut pos = 0;
    while pos < carried.len() && goes_on(pos) {
        let end = pos + chunker.next_cut_at(carried, segment, pos);
        chunks.push(joined(carried, segment, pos..end));
        pos = end;
    }
    if pos < carried.len() {
        // Only with a segment shorter than `MAX_CHUNK`: the rest spans both.
        return (chunks, joined(carried, segment, pos..total));
    }
    let from = pos - carried.len();
    let mut start = from;
    for end in cut_ends(&segment[from..], chunker, last) {
        chunks.push(segment.slice(start..from + end));
        start = from + end;
    }
    (chunks, segment.slice(start..))
}

/// Whether a cut of `len` bytes goes on at `pos`: to the end if `last`,
/// else while `MAX_CHUNK` bytes or more remain (the rest begins what
/// follows). One rule for both halves of a join, so that their cut points
/// are those of one pass.
pub(crate) fn cut_goes_on(pos: usize, len: usize, last: bool) -> bool {
    pos < len && (last || len - pos >= MAX_CHUNK)
}

/// Bytes `range` of `a` followed by `b`: a slice where they lie in one of
/// them, else a copy.
pub(crate) fn joined(a: &Bytes, b: &Bytes, range: std::ops::Range<usize>) -> Bytes {
    let split = a.len();
    if range.end <= split {
        a.slice(range)
    } else if range.start >= split {
        b.slice(range.start - split..range.end - split)
    } else {
        let mut both = Vec::with_capacity(range.len());
        both.extend_from_slice(&a[range.start..]);
        both.extend_from_slice(&b[..range.end - split]);
        Bytes::from(both)
    }
}

/// Segments at least this long are cut on two threads.
const PARALLEL_FROM: usize = 2 * MAX_CHUNK;

/// The end of every chunk [`cut`] makes of `data`, exactly as one pass from
/// the start would find them, on two threads for a long segment: while this
/// thread cuts the first half, another cuts the second half as if a chunk
/// began in its middle. A cut depends only on where its chunk starts, so
/// once this thread's sequence lands on a cut of the other's, the two agree
/// from there on; they usually meet within a chunk or two. If they never
/// meet, this thread simply cuts on to the end.
fn cut_ends(data: &[u8], chunker: &Chunker, last: bool) -> Vec<usize> {
    let len = data.len();
    let goes_on = |pos: usize| cut_goes_on(pos, len, last);
    let cuts_from = |mut pos: usize, until: usize| {
        let mut ends = Vec::new();
        while pos < until && goes_on(pos) {
            pos += chunker.next_cut(&data[pos..]);
            ends.push(pos);
        }
        ends
    };
    if len < PARALLEL_FROM {
        return cuts_from(0, len);
    }
    let middle = len / 2;
    let (mut ends, speculative) = std::thread::scope(|scope| {
        let second = scope.spawn(|| cuts_from(middle, len));
        let first = cuts_from(0, middle);
        // A panic in the other thread is a bug here, not bad input: cut
        // everything on this thread instead.
        (first, second.join().unwrap_or_default())
    });
    let mut pos = ends.last().copied().unwrap_or(0);
    loop {
        if pos == middle {
            ends.extend_from_slice(&speculative);
            return ends;
        }
        if let Ok(i) = speculative.binary_search(&pos) {
            ends.extend_from_slice(&speculative[i + 1..]);
            return ends;
        }
        if !goes_on(pos) {
            return ends;
        }
        pos += chunker.next_cut(&data[pos..]);
        ends.push(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore, SeedableRng};

    #[test]
    fn cuts_on_two_threads_are_those_of_one_pass() {
        let chunker = Chunker::new(&[3u8; 32]);
        for (len, seed) in [
            (PARALLEL_FROM, 1),
            (SEGMENT, 2),
            (SEGMENT + 12_345, 3),
            (3 * MAX_CHUNK + 1, 4),
        ] {
            let mut data = random(len, seed);
            // Runs of one byte value: no boundary inside, cuts at the maximum.
            data[len / 2 - 100_000..len / 2 + 5_000_000.min(len / 2 - 1)].fill(7);
            for last in [false, true] {
                let one_pass = {
                    let mut ends = Vec::new();
                    let mut pos = 0;
                    while pos < len && (last || len - pos >= MAX_CHUNK) {
                        pos += chunker.next_cut(&data[pos..]);
                        ends.push(pos);
                    }
                    ends
                };
                assert_eq!(
                    cut_ends(&data, &chunker, last),
                    one_pass,
                    "{len} bytes, last {last}"
                );
            }
        }
    }

    fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut data = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
        data
    }

    fn whole_cut(data: &[u8], chunker: &Chunker) -> Vec<usize> {
        let mut lens = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let n = chunker.next_cut(&data[pos..]);
            lens.push(n);
            pos += n;
        }
        lens
    }

    /// The cut rule read byte by byte, as `docs/repository.md` §5 gives it.
    fn reference_cut(chunker: &Chunker, p: &CutParams, data: &[u8]) -> usize {
        let len = data.len().min(p.max);
        if len <= p.min {
            return len;
        }
        let mut h = 0u64;
        for (i, &byte) in data.iter().enumerate().take(len).skip(p.min) {
            h = (h << 1).wrapping_add(chunker.gear[byte as usize]);
            let threshold = if i < p.avg {
                p.threshold_before_avg
            } else {
                p.threshold_after_avg
            };
            if chunker.mix.apply(h) < threshold {
                return i + 1;
            }
        }
        len
    }

    #[test]
    fn cuts_are_those_of_the_byte_by_byte_rule() {
        let chunker = Chunker::new(&[9; 32]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog\n"
            .iter()
            .cycle()
            .take(3 << 20)
            .copied()
            .collect();
        for data in [random(3 << 20, 11), text] {
            for p in [&FILE_CUTS, &MANIFEST_CUTS] {
                let mut pos = 0;
                while pos < data.len() {
                    let want = reference_cut(&chunker, p, &data[pos..]);
                    assert_eq!(chunker.next_cut_with(p, &data[pos..]), want, "at {pos}");
                    // Odd steps put the scan's blocks at every alignment.
                    pos += want.min(rng.gen_range(1..=p.avg / 3));
                }
            }
        }
    }

    fn stream_cut(data: &[u8], chunker: &Chunker, rng: &mut impl Rng) -> Vec<usize> {
        let mut buf = Vec::new();
        let mut carried = Bytes::new();
        let mut lens = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let n = rng.gen_range(1..=rest.len().min(3 * 1024 * 1024));
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if buf.len() >= SEGMENT {
                let segment = Bytes::from(std::mem::take(&mut buf));
                let (chunks, uncut) = cut(&carried, &segment, chunker, false);
                lens.extend(chunks.iter().map(|c| c.len()));
                carried = uncut;
            }
        }
        let (chunks, uncut) = cut(&carried, &Bytes::from(buf), chunker, true);
        assert!(uncut.is_empty());
        lens.extend(chunks.iter().map(|c| c.len()));
        lens
    }

    /// Cut offsets from the start of the input (each chunk's end).
    fn cut_points(lens: &[usize]) -> std::collections::HashSet<usize> {
        lens.iter()
            .scan(0, |end, &l| {
                *end += l;
                Some(*end)
            })
            .collect()
    }

    #[test]
    fn streaming_cuts_equal_whole_input_cuts() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut data = random(20 * 1024 * 1024, 7);
        // Some long runs of zeros force max-size cuts.
        data[3_000_000..9_000_000].fill(0);
        for key in [[0u8; 32], [0x5a; 32]] {
            let chunker = Chunker::new(&key);
            let whole = whole_cut(&data, &chunker);
            let streamed = stream_cut(&data, &chunker, &mut rng);
            assert_eq!(whole, streamed);
            assert_eq!(streamed.iter().sum::<usize>(), data.len());
            assert!(streamed.iter().all(|&l| l <= MAX_CHUNK));
            assert!(
                whole.contains(&MAX_CHUNK),
                "the zero run is cut at the maximum"
            );
        }
    }

    #[test]
    fn sizes_average_about_one_mib_within_bounds() {
        let data = random(192 * 1024 * 1024, 9);
        let lens = whole_cut(&data, &Chunker::new(&[3; 32]));
        let (last, body) = lens.split_last().expect("chunks");
        assert!(*last <= MAX_CHUNK);
        assert!(body.iter().all(|&l| (MIN_CHUNK..=MAX_CHUNK).contains(&l)));
        let mean = body.iter().sum::<usize>() as f64 / body.len() as f64;
        let mib = 1024.0 * 1024.0;
        assert!(
            (0.7 * mib..=1.4 * mib).contains(&mean),
            "mean chunk size {:.2} MiB over {} chunks",
            mean / mib,
            body.len()
        );
    }

    #[test]
    fn keys_give_unrelated_boundaries() {
        let data = random(64 * 1024 * 1024, 8);
        let a = whole_cut(&data, &Chunker::new(&[1; 32]));
        let a_again = whole_cut(&data, &Chunker::new(&[1; 32]));
        let b = whole_cut(&data, &Chunker::new(&[2; 32]));
        assert_eq!(a, a_again, "the same key chunks identically");
        let shared = cut_points(&a[..a.len() - 1])
            .intersection(&cut_points(&b[..b.len() - 1]))
            .count();
        // Two independent ≈1 MiB cut sequences over 64 MiB share a cut point
        // only by chance (≈ 64 × 64 / 2^26 expected).
        assert!(shared <= 1, "{shared} shared cut points");
    }

    #[test]
    fn key_changes_every_gear_entry_and_the_mix() {
        let a = Chunker::new(&[1; 32]);
        let b = Chunker::new(&[2; 32]);
        assert!(a.gear.iter().zip(&b.gear).all(|(x, y)| x != y));
        assert_ne!(a.mix.xor, b.mix.xor);
        assert_ne!(a.mix.apply(0), b.mix.apply(0));
    }

    #[test]
    fn short_and_empty_inputs() {
        let chunker = Chunker::new(&[4; 32]);
        assert_eq!(chunker.next_cut(&[]), 0);
        assert_eq!(chunker.next_cut(&[7; 1000]), 1000);
        assert_eq!(chunker.next_cut(&vec![7; MIN_CHUNK]), MIN_CHUNK);
        let (chunks, rest) = cut(&Bytes::new(), &Bytes::new(), &chunker, true);
        assert!(chunks.is_empty() && rest.is_empty());
    }

    /// Wherever the carried rest ends and the segment begins, the chunks
    /// are those of one pass; only one spanning the join is a copy.
    #[test]
    fn cuts_across_the_join_are_those_of_one_pass() {
        let chunker = Chunker::new(&[6; 32]);
        let mut data = random(3 * MAX_CHUNK + 54_321, 6);
        // A run without boundaries across some of the joins below.
        data[MAX_CHUNK - 1_000..MAX_CHUNK + 300_000].fill(9);
        let data = Bytes::from(data);
        let one_pass = whole_cut(&data, &chunker);
        for split in [
            0,
            1,
            4_096,
            MIN_CHUNK,
            MAX_CHUNK - 1,
            MAX_CHUNK,
            2 * MAX_CHUNK + 7,
            // A segment shorter than `MAX_CHUNK`: not the last, the rest
            // begins in what was carried.
            3 * MAX_CHUNK + 53_321,
        ] {
            let (carried, segment) = (data.slice(..split), data.slice(split..));
            let (chunks, rest) = cut(&carried, &segment, &chunker, true);
            assert!(rest.is_empty());
            let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert_eq!(lens, one_pass, "split at {split}");
            assert_eq!(chunks.concat(), data, "split at {split}");
            let copies = chunks
                .iter()
                .filter(|c| !data.as_ptr_range().contains(&c.as_ptr()))
                .count();
            assert!(copies <= 1, "split at {split}: {copies} copies");

            // Not the last: stops with fewer than `MAX_CHUNK` bytes left,
            // exactly where one pass would.
            let (chunks, rest) = cut(&carried, &segment, &chunker, false);
            let cut_len: usize = chunks.iter().map(|c| c.len()).sum();
            assert_eq!(cut_len + rest.len(), data.len());
            assert!(rest.len() < MAX_CHUNK, "split at {split}");
            assert_eq!(rest, data.slice(cut_len..));
            let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert_eq!(lens, one_pass[..lens.len()], "split at {split}");
        }
    }

    #[test]
    fn manifest_cuts_are_a_smaller_scale_of_the_same_cuts() {
        assert_eq!(
            (
                FILE_CUTS.threshold_before_avg,
                FILE_CUTS.threshold_after_avg
            ),
            (1 << (64 - 21), 1 << (64 - 19)),
            "file chunk boundaries must not move"
        );
        let chunker = Chunker::new(&[7; 32]);
        let data = Bytes::from(random(8 * 1024 * 1024, 11));
        let pieces = split_whole(&data, &chunker, &MANIFEST_CUTS);
        assert_eq!(pieces.concat(), data);
        let (last, body) = pieces.split_last().unwrap();
        assert!(last.len() <= MANIFEST_CUTS.max);
        assert!(
            body.iter()
                .all(|p| (MANIFEST_CUTS.min..=MANIFEST_CUTS.max).contains(&p.len()))
        );
        let mean = data.len() / pieces.len();
        assert!(
            (MANIFEST_CUTS.avg * 3 / 4..MANIFEST_CUTS.avg * 3 / 2).contains(&mean),
            "mean piece {mean}"
        );
        // Content-defined: a byte inserted near the start leaves later cuts.
        let mut shifted = data.to_vec();
        shifted.insert(1000, 0xAA);
        let again = split_whole(&Bytes::from(shifted), &chunker, &MANIFEST_CUTS);
        let shared = again.iter().filter(|p| pieces.contains(p)).count();
        assert!(shared + 3 >= pieces.len(), "{shared} of {}", pieces.len());
    }

    /// Single-core chunking speed against the `fastcdc` crate the chunker
    /// replaced (same sizes, normalisation level 1). Run with
    /// `cargo test --release -p drhost-repo chunker_speed -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints a measurement; run in release"]
    fn chunker_speed() {
        use std::time::Instant;
        let data = random(256 * 1024 * 1024, 10);
        let gbps = |secs: f64| data.len() as f64 / secs / 1e9;
        let chunker = Chunker::new(&[6; 32]);
        for round in 0..3 {
            let t = Instant::now();
            let ours = whole_cut(&data, &chunker).len();
            let keyed = gbps(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let theirs = fastcdc::v2020::FastCDC::with_level_and_seed(
                &data,
                MIN_CHUNK as u32,
                AVG_CHUNK as u32,
                MAX_CHUNK as u32,
                fastcdc::v2020::Normalization::Level1,
                6,
            )
            .count();
            let fastcdc = gbps(t.elapsed().as_secs_f64());
            println!(
                "round {round}: keyed chunker {keyed:.2} GB/s ({ours} chunks), \
                 fastcdc 3 {fastcdc:.2} GB/s ({theirs} chunks)"
            );
        }
    }
}
