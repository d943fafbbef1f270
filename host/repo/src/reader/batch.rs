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
        let shared = self.clone();
        let batch = tokio::task::spawn_blocking(move || shared.decode_batch(&data, pack, &indices))
            .await
            .unwrap_or_else(|e| DecodedBatch::failed(RepoError::join(e)));
        if batch.failure.is_some() {
            self.packs.forget(pack);
        }
        batch
    }

    /// Decodes and verifies chunks `indices` of the verified pack `pack_data`,
    /// stopping at the first that fails.
    fn decode_batch(&self, pack_data: &[u8], pack: u32, indices: &[u32]) -> DecodedBatch {
        let mut chunks = Vec::with_capacity(indices.len());
        for &index in indices {
            match self.decode(pack_data, pack, index) {
                Ok(chunk) => chunks.push(chunk),
                Err(e) => {
                    return DecodedBatch {
                        chunks,
                        failure: Some(e),
                    };
                }
            }
        }
        DecodedBatch {
            chunks,
            failure: None,
        }
    }
}
