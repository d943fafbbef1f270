//! Loading one batch: consecutive chunks of a stage that lie in the same
//! pack, fetched with that pack and decoded in one blocking job.

use bytes::Bytes;

use super::pack_cache::PackCell;
use super::{Check, ReadShared};
use crate::error::RepoError;

/// The decoded chunks of a batch, in order, up to the first that failed.
pub(super) struct DecodedBatch {
    pub chunks: Vec<Bytes>,
    /// Why the chunk after `chunks` (and so the batch) could not be read.
    pub failure: Option<RepoError>,
}

impl DecodedBatch {
    fn failed(failure: RepoError) -> Self {
        DecodedBatch {
            chunks: Vec::new(),
            failure: Some(failure),
        }
    }
}

impl ReadShared {
    /// Fetches pack `pack` through `cell` (once for all batches sharing the
    /// cell) and decodes the chunks `indices` out of it.
    pub(super) async fn load_batch(
        self: std::sync::Arc<Self>,
        cell: PackCell,
        pack: u32,
        indices: Vec<u32>,
    ) -> DecodedBatch {
        let data = match cell
            .get_or_try_init(|| self.clone().fetch_pack(pack, Check::BlobsOnly))
            .await
        {
            Ok(data) => data.clone(),
            Err(e) => return DecodedBatch::failed(e),
        };
        // Only the cell's holders keep the pack: the decoded chunks are copies.
        drop(cell);
        let (batch, indices) = match self.clone().decode_off_thread(data, pack, indices).await {
            Ok(decoded) => decoded,
            Err(e) => return DecodedBatch::failed(e),
        };
        if batch.failure.is_none() {
            return batch;
        }
        self.packs.forget(pack);
        // The copy that failed may be a bad read, or one fetched (by read-ahead)
        // before the store was repaired: a chunk is only called damaged if a
        // fresh copy of its pack fails too.
        let data = match self.clone().fetch_pack(pack, Check::BlobsOnly).await {
            Ok(data) => data,
            Err(e) => return DecodedBatch::failed(e),
        };
        let batch = match self.clone().decode_off_thread(data, pack, indices).await {
            Ok((batch, _)) => batch,
            Err(e) => return DecodedBatch::failed(e),
        };
        if batch.failure.is_some() {
            self.packs.forget(pack);
        }
        batch
    }

    /// [`Self::decode_batch`] on a blocking thread; gives `indices` back.
    async fn decode_off_thread(
        self: std::sync::Arc<Self>,
        data: Bytes,
        pack: u32,
        indices: Vec<u32>,
    ) -> Result<(DecodedBatch, Vec<u32>), RepoError> {
        tokio::task::spawn_blocking(move || {
            let batch = self.decode_batch(&data, pack, &indices);
            (batch, indices)
        })
        .await
        .map_err(RepoError::join)
    }

    /// Decodes and verifies chunks `indices` of the verified pack `pack_data`,
    /// stopping at the first that fails. The chunks share one buffer (see
    /// [`crate::blob::decode_chunk_into`]), held until the last is dropped:
    /// batches are small and consumed in order.
    fn decode_batch(&self, pack_data: &[u8], pack: u32, indices: &[u32]) -> DecodedBatch {
        let total = indices.iter().map(|&i| self.chunk_size(i)).sum();
        let mut out = Vec::with_capacity(total);
        let mut scratch = Vec::new();
        let mut ends = Vec::with_capacity(indices.len());
        let mut failure = None;
        for &index in indices {
            match self.decode_into(pack_data, pack, index, &mut out, &mut scratch) {
                Ok(()) => ends.push(out.len()),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let whole = Bytes::from(out);
        let mut start = 0;
        let chunks = ends
            .into_iter()
            .map(|end| {
                let chunk = whole.slice(start..end);
                start = end;
                chunk
            })
            .collect();
        DecodedBatch { chunks, failure }
    }
}
