//! Chunk jobs: batches of chunks hashed, looked up, compressed and encrypted
//! on blocking threads, a bounded number at once, finished in order.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::dedup::{Dedup, Found};
use super::guide::CutChunk;
use crate::blob;
use crate::error::RepoError;
use crate::keys::ChunkId;

/// Chunk jobs (each ≈ 1 MiB, at most one 4 MiB chunk) processed at once…
const MAX_JOBS: usize = 32;
/// …and the plaintext bytes they may hold, with the segment being cut. Jobs
/// finish out of order but are consumed in order, so a slow one must not
/// starve the cores: with 8 jobs the pipeline kept only about 1.1 of 2 cores
/// busy on compressible data. Not more: what is queued ahead of the packs is
/// what a crash loses (24 MiB left a backup killed at 50% writing 61% again).
pub(super) const MAX_JOB_BYTES: u64 = 16 << 20;
/// A batch is submitted once it holds this many bytes…
const BATCH_BYTES: usize = 1024 * 1024;
/// …or this many (small) chunks.
const BATCH_CHUNKS: usize = 64;

/// What a job found for one chunk.
pub(super) enum Outcome {
    Known {
        id: ChunkId,
        found: Found,
    },
    New {
        id: ChunkId,
        size: u32,
        blob: Vec<u8>,
    },
}

struct Job {
    /// Entry index (in the current stage) of each chunk, in order.
    targets: Vec<usize>,
    bytes: u64,
    handle: JoinHandle<Result<Vec<Outcome>, RepoError>>,
}

/// A finished job: each chunk's entry index and outcome, in order.
pub(super) struct Finished {
    pub(super) chunks: Vec<(usize, Outcome)>,
    pub(super) bytes: u64,
}

/// The batch being filled and the jobs in flight.
#[derive(Default)]
pub(super) struct ChunkJobs {
    jobs: VecDeque<Job>,
    jobs_bytes: u64,
    batch: Vec<(usize, CutChunk)>,
    batch_bytes: usize,
}

impl ChunkJobs {
    /// Adds a chunk of entry `entry` to the batch; true when the batch
    /// should be submitted.
    pub(super) fn add(&mut self, entry: usize, chunk: CutChunk) -> bool {
        self.batch_bytes += chunk.data.len();
        self.batch.push((entry, chunk));
        self.batch_bytes >= BATCH_BYTES || self.batch.len() >= BATCH_CHUNKS
    }

    pub(super) fn batch_is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// True while no job may be added before the oldest one is consumed.
    /// `being_cut` bytes of the entry, on their way to jobs, count against
    /// the jobs' bytes: everything queued ahead of the packs is lost by a
    /// crash, and a resumed backup writes it again.
    pub(super) fn is_full(&self, being_cut: u64) -> bool {
        self.jobs.len() >= MAX_JOBS
            || (self.jobs_bytes + being_cut >= MAX_JOB_BYTES && !self.jobs.is_empty())
    }

    pub(super) fn is_idle(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Plaintext bytes held by the batch and the jobs.
    pub(super) fn buffered(&self) -> u64 {
        self.batch_bytes as u64 + self.jobs_bytes
    }

    /// Starts a job for the batch (the caller makes room first).
    pub(super) fn submit(&mut self, dedup: &Arc<Dedup>) {
        let batch = std::mem::take(&mut self.batch);
        let bytes = std::mem::take(&mut self.batch_bytes) as u64;
        let (targets, chunks): (Vec<usize>, Vec<CutChunk>) = batch.into_iter().unzip();
        let dedup = dedup.clone();
        let handle = tokio::task::spawn_blocking(move || process(&dedup, chunks));
        self.jobs_bytes += bytes;
        self.jobs.push_back(Job {
            targets,
            bytes,
            handle,
        });
    }

    /// Waits for the oldest job: each chunk's entry index and outcome, in
    /// order. `None` when no job is in flight. Its bytes count as buffered
    /// until [`ChunkJobs::release`], when the caller has recorded them.
    pub(super) async fn next_finished(&mut self) -> Result<Option<Finished>, RepoError> {
        let Some(job) = self.jobs.pop_front() else {
            return Ok(None);
        };
        let outcomes = job.handle.await.map_err(RepoError::join)??;
        if outcomes.len() != job.targets.len() {
            return Err(RepoError::Internal("chunk job lost chunks".into()));
        }
        Ok(Some(Finished {
            chunks: job.targets.into_iter().zip(outcomes).collect(),
            bytes: job.bytes,
        }))
    }

    pub(super) fn release(&mut self, finished_bytes: u64) {
        self.jobs_bytes -= finished_bytes;
    }
}

/// Hashes each chunk whose id is not known yet, and compresses and
/// encrypts those not yet stored.
pub(super) fn process(dedup: &Dedup, chunks: Vec<CutChunk>) -> Result<Vec<Outcome>, RepoError> {
    let mut out = Vec::with_capacity(chunks.len());
    for CutChunk { data, id } in chunks {
        let id = id.unwrap_or_else(|| dedup.keys.chunk_id(&data));
        let size = data.len() as u32;
        // Equal ids mean equal content, so equal sizes; a differing size
        // can only come from a damaged index, and is not trusted.
        let found = dedup.find(&id)?.filter(|f| {
            let consistent = f.size() == size;
            if !consistent {
                tracing::warn!(chunk = %hex::encode(id.0), "indexed size differs; storing the chunk again");
            }
            consistent
        });
        match found {
            Some(found) => out.push(Outcome::Known { id, found }),
            None => {
                let blob =
                    blob::encode_chunk(&dedup.keys, &id, &data).map_err(RepoError::Internal)?;
                out.push(Outcome::New { id, size, blob });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_due_by_bytes_or_by_count() {
        let mut jobs = ChunkJobs::default();
        let chunk = |data: Vec<u8>| CutChunk::unidentified(data.into());
        assert!(!jobs.add(0, chunk(vec![0; BATCH_BYTES - 1])));
        assert!(jobs.add(0, chunk(b"x".to_vec())));
        let mut small = ChunkJobs::default();
        let due = (0..BATCH_CHUNKS).map(|i| small.add(i, chunk(b"x".to_vec())));
        assert_eq!(due.filter(|d| *d).count(), 1, "due at the last chunk only");
        assert_eq!(small.buffered(), BATCH_CHUNKS as u64);
    }
}
