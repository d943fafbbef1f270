//! Content-defined chunking (FastCDC 2020, normalisation level 1) over a stream
//! that arrives in arbitrary pieces. Cut points are exactly those of running
//! FastCDC over the whole entry at once: a cut is only searched when at least
//! `MAX_CHUNK` bytes are buffered (FastCDC never looks further than that), or at
//! the end of the entry.
//!
//! The gear table is XOR-ed with a seed derived from the passcode, so boundaries
//! differ between passcodes. This is obfuscation, not a keyed PRF: see the
//! "known gaps" section of `docs/repository.md`.

use bytes::Bytes;
use fastcdc::v2020::{FastCDC, Normalization};

pub const MIN_CHUNK: usize = 256 * 1024;
pub const AVG_CHUNK: usize = 1024 * 1024;
pub const MAX_CHUNK: usize = 4 * 1024 * 1024;

/// Buffer this much of an entry before searching for cut points.
pub const SEGMENT: usize = 4 * MAX_CHUNK;

/// Splits `segment` into chunks. Unless `last`, stops while fewer than
/// `MAX_CHUNK` bytes remain and returns them as the tail to prepend to what
/// follows. CPU-bound: run on a blocking thread.
pub fn cut(segment: Bytes, seed: u64, last: bool) -> (Vec<Bytes>, Vec<u8>) {
    let mut chunks = Vec::new();
    if segment.is_empty() {
        return (chunks, Vec::new());
    }
    let cdc = FastCDC::with_level_and_seed(
        &segment,
        MIN_CHUNK as u32,
        AVG_CHUNK as u32,
        MAX_CHUNK as u32,
        Normalization::Level1,
        seed,
    );
    let len = segment.len();
    let mut pos = 0;
    while pos < len && (last || len - pos >= MAX_CHUNK) {
        let (_, end) = cdc.cut(pos, len - pos);
        if end <= pos || end > len {
            break;
        }
        chunks.push(segment.slice(pos..end));
        pos = end;
    }
    let rest = &segment[pos..];
    let tail = if last {
        rest.to_vec()
    } else {
        // Room for the next segment, with one byte of every page written here
        // so that a fresh allocation's page faults are paid on this blocking
        // thread rather than while the runtime copies written data into it.
        let mut tail = Vec::with_capacity(SEGMENT);
        tail.extend_from_slice(rest);
        for page in tail.spare_capacity_mut().chunks_mut(4096) {
            page[0] = std::mem::MaybeUninit::new(0);
        }
        std::hint::black_box(&mut tail);
        tail
    };
    (chunks, tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore, SeedableRng};

    fn stream_cut(data: &[u8], seed: u64, rng: &mut impl Rng) -> Vec<usize> {
        let mut buf = Vec::new();
        let mut lens = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let n = rng.gen_range(1..=rest.len().min(3 * 1024 * 1024));
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if buf.len() >= SEGMENT {
                let (chunks, tail) = cut(Bytes::from(std::mem::take(&mut buf)), seed, false);
                lens.extend(chunks.iter().map(|c| c.len()));
                buf = tail;
            }
        }
        let (chunks, tail) = cut(Bytes::from(buf), seed, true);
        assert!(tail.is_empty());
        lens.extend(chunks.iter().map(|c| c.len()));
        lens
    }

    #[test]
    fn streaming_cuts_equal_whole_input_cuts() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut data = vec![0u8; 20 * 1024 * 1024];
        rng.fill_bytes(&mut data);
        // Some long runs of zeros force max-size cuts.
        data[3_000_000..9_000_000].fill(0);
        for seed in [0u64, 0x1234_5678_9abc_def0] {
            let whole: Vec<usize> = FastCDC::with_level_and_seed(
                &data,
                MIN_CHUNK as u32,
                AVG_CHUNK as u32,
                MAX_CHUNK as u32,
                Normalization::Level1,
                seed,
            )
            .map(|c| c.length)
            .collect();
            let streamed = stream_cut(&data, seed, &mut rng);
            assert_eq!(whole, streamed);
            assert_eq!(streamed.iter().sum::<usize>(), data.len());
            assert!(streamed.iter().all(|&l| l <= MAX_CHUNK));
        }
    }

    #[test]
    fn seed_changes_boundaries() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let mut data = vec![0u8; 8 * 1024 * 1024];
        rng.fill_bytes(&mut data);
        let a = cut(Bytes::from(data.clone()), 1, true).0;
        let b = cut(Bytes::from(data), 2, true).0;
        let la: Vec<_> = a.iter().map(|c| c.len()).collect();
        let lb: Vec<_> = b.iter().map(|c| c.len()).collect();
        assert_ne!(la, lb);
    }
}
