//! Reading one stage's entries in order, with its chunks loaded ahead in
//! batches (see `read_ahead.rs`).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::ReadShared;
use super::batch::DecodedBatch;
use super::pack_cache::PackCell;
use super::read_ahead::{Ahead, PlannedChunk};
use crate::archive::EntryMeta;
use crate::error::RepoError;

/// The entries of one stage, in the order they were written. Owned and `Send`.
pub struct StageReader {
    shared: Arc<ReadShared>,
    stage: usize,
    /// The chunks of the whole stage, in order.
    plan: Vec<PlannedChunk>,
    /// `plan` positions up to here belong to a started batch.
    submitted: usize,
    /// `plan` positions up to here were handed out.
    consumed: usize,
    ahead: Ahead,
    /// Started batches, oldest first.
    batches: VecDeque<Batch>,
    /// Cells of the packs that started batches need, so that later batches
    /// of the same pack share the fetch even if the cache evicted it.
    packs: Vec<(u32, PackCell)>,
    /// Decoded chunks of finished batches, next to be handed out first.
    ready: VecDeque<Bytes>,
    /// Why the chunk after `ready` cannot be read.
    failure: Option<RepoError>,
    /// Set once a failure was reported: every later call fails the same way.
    failed: Option<Failed>,
    next_entry: usize,
    current: Option<usize>,
    /// `plan` position where the current entry's chunks end.
    entry_end: usize,
    /// Unread rest of the current chunk.
    chunk: Bytes,
}

struct Batch {
    pack: u32,
    task: JoinHandle<DecodedBatch>,
}

/// A reported failure, kept to report it again.
enum Failed {
    Damaged { object: String, reason: String },
    Other(String),
}

impl Failed {
    fn of(e: &RepoError) -> Self {
        match e {
            RepoError::Damaged { object, reason } => Failed::Damaged {
                object: object.clone(),
                reason: reason.clone(),
            },
            other => Failed::Other(other.to_string()),
        }
    }

    fn again(&self) -> RepoError {
        match self {
            Failed::Damaged { object, reason } => {
                RepoError::damaged(object.clone(), reason.clone())
            }
            Failed::Other(e) => {
                RepoError::Internal(format!("the stage reader failed earlier: {e}"))
            }
        }
    }
}

impl StageReader {
    pub(super) fn new(shared: Arc<ReadShared>, stage: usize) -> Result<Self, RepoError> {
        let m = &shared.manifest;
        let entries = &m
            .stages
            .get(stage)
            .ok_or_else(|| RepoError::Internal("stage index out of range".into()))?
            .entries;
        let plan = entries
            .iter()
            .flat_map(|e| e.chunks.iter())
            .map(|&index| {
                let c = m
                    .chunks
                    .get(index as usize)
                    .ok_or_else(|| RepoError::Internal("chunk index out of range".into()))?;
                Ok(PlannedChunk {
                    index,
                    pack: c.pack,
                    size: c.size,
                })
            })
            .collect::<Result<_, RepoError>>()?;
        Ok(StageReader {
            shared,
            stage,
            plan,
            submitted: 0,
            consumed: 0,
            ahead: Ahead::default(),
            batches: VecDeque::new(),
            packs: Vec::new(),
            ready: VecDeque::new(),
            failure: None,
            failed: None,
            next_entry: 0,
            current: None,
            entry_end: 0,
            chunk: Bytes::new(),
        })
    }

    /// Starts batches while the read-ahead has room.
    fn fill(&mut self) {
        while let Some(range) = self.ahead.next_batch(&self.plan, self.submitted) {
            let Some(chunks) = self.plan.get(range.clone()) else {
                break;
            };
            let Some(pack) = chunks.first().map(|c| c.pack) else {
                break;
            };
            let indices = chunks.iter().map(|c| c.index).collect();
            self.ahead.started(chunks);
            self.submitted = range.end;
            let known = self.packs.iter().find(|(p, _)| *p == pack).map(|(_, c)| c);
            let cell = self.shared.packs.cell(pack, known);
            if known.is_none() {
                self.packs.push((pack, cell.clone()));
            }
            let shared = self.shared.clone();
            let span = shared.span.clone();
            let task = tokio::spawn(shared.load_batch(cell, pack, indices).instrument(span));
            self.batches.push_back(Batch { pack, task });
        }
    }

    /// Waits for the oldest started batch and queues its chunks. Dropping
    /// this future part-way loses nothing: the batch stays queued.
    async fn finish_batch(&mut self) -> Result<(), RepoError> {
        let batch = self
            .batches
            .front_mut()
            .ok_or_else(|| RepoError::Internal("no chunk to read".into()))?;
        let decoded = (&mut batch.task).await;
        let pack = batch.pack;
        self.batches.pop_front();
        if self.ahead.batch_finished(pack) {
            self.packs.retain(|(p, _)| *p != pack);
        }
        match decoded {
            Ok(decoded) => {
                self.ready.extend(decoded.chunks);
                self.failure = decoded.failure;
            }
            Err(e) => self.failure = Some(RepoError::join(e)),
        }
        Ok(())
    }

    /// The next chunk of the stage, verified. Chunks are handed out in plan
    /// order; a failure is reported only once every chunk before it was.
    async fn take_chunk(&mut self) -> Result<Bytes, RepoError> {
        loop {
            if let Some(failed) = &self.failed {
                return Err(failed.again());
            }
            if let Some(chunk) = self.ready.pop_front() {
                if let Some(planned) = self.plan.get(self.consumed) {
                    self.ahead.consumed(planned);
                }
                self.consumed += 1;
                self.fill();
                return Ok(chunk);
            }
            if let Some(e) = self.failure.take() {
                self.failed = Some(Failed::of(&e));
                return Err(e);
            }
            self.fill();
            self.finish_batch().await?;
        }
    }

    /// The next entry, or `None` after the last. Unread content of the
    /// previous entry is skipped (still verified).
    pub async fn next_entry(&mut self) -> Result<Option<EntryMeta>, RepoError> {
        self.chunk = Bytes::new();
        while self.consumed < self.entry_end {
            self.take_chunk().await?;
        }
        let shared = self.shared.clone();
        let entries = &shared.manifest.stages[self.stage].entries;
        let Some(entry) = entries.get(self.next_entry) else {
            self.current = None;
            return Ok(None);
        };
        self.current = Some(self.next_entry);
        self.next_entry += 1;
        self.entry_end = self.consumed + entry.chunks.len();
        self.fill();
        Ok(Some(entry.meta.clone()))
    }

    /// Up to `max` bytes of the current entry; empty at its end (and for
    /// entries other than files).
    pub async fn read(&mut self, max: usize) -> Result<Bytes, RepoError> {
        if max == 0 {
            return Err(RepoError::Misuse("read with max = 0".into()));
        }
        if self.current.is_none() {
            return Err(RepoError::Misuse(
                "no current entry (call next_entry first)".into(),
            ));
        }
        if self.chunk.is_empty() {
            if self.consumed >= self.entry_end {
                return Ok(Bytes::new());
            }
            self.chunk = self.take_chunk().await?;
        }
        let n = max.min(self.chunk.len());
        Ok(self.chunk.split_to(n))
    }

    /// Size in bytes of the current entry's content.
    pub fn entry_size(&self) -> Option<u64> {
        let i = self.current?;
        self.shared.manifest.stages[self.stage]
            .entries
            .get(i)
            .map(|e| e.size)
    }
}

impl Drop for StageReader {
    fn drop(&mut self) {
        for batch in &self.batches {
            batch.task.abort();
        }
    }
}

impl std::fmt::Debug for StageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageReader")
            .field("stage", &self.shared.manifest.stages[self.stage].name)
            .field("next_entry", &self.next_entry)
            .finish_non_exhaustive()
    }
}
