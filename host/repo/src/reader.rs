//! Reading a backup back: every chunk is authenticated, decompressed and
//! re-hashed to its id before a byte of it is handed out; `verify` also
//! checks every pack whole against its SHA-256 name.

mod batch;
mod buffer_pool;
mod pack_cache;
mod read_ahead;
mod stage;

use std::sync::Arc;

use bytes::Bytes;
use tracing::Instrument;

use crate::BackupInfo;
use crate::blob;
use crate::error::RepoError;
use crate::keys::Keys;
use crate::manifest::{Manifest, PluginBuild, StageRecord};
use crate::pack;
use crate::store::{ObjectStore, StoreError};
use buffer_pool::BufferPool;
use pack_cache::PackCache;
pub use stage::StageReader;

/// Packs being downloaded at once, as many as the read-ahead may hold
/// (`read_ahead::READ_AHEAD_PACKS`, where the choice is measured).
/// Read-ahead batches that fall in different packs would otherwise fetch
/// them all at once, and peak memory would follow the timing of the
/// consumer instead of this bound.
const PACK_FETCHES: usize = 3;

/// What [`BackupReader::verify`] checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub packs: u64,
    pub chunks: u64,
    /// Plaintext bytes of the chunks checked.
    pub bytes: u64,
}

pub(crate) struct ReadShared {
    store: Arc<dyn ObjectStore>,
    keys: Arc<Keys>,
    info: BackupInfo,
    manifest: Manifest,
    /// Per pack, how much of it a restore fetches: the Padmé length of
    /// where the last blob this backup reads ends. Asking for a known length
    /// lets the store adapter fill one buffer of that size; asking for the
    /// exact end would tell the store how long the blobs before the padding
    /// are, which the padding hides (this length is never more than the
    /// pack's, and reveals no more than it).
    pack_ends: Vec<u64>,
    packs: PackCache,
    fetches: tokio::sync::Semaphore,
    /// Buffers of packs no batch needs any more, for the next fetches.
    buffers: Arc<BufferPool>,
    span: tracing::Span,
}

/// An opened backup: passcode checked, commit record MAC and manifest verified.
#[derive(Clone)]
pub struct BackupReader {
    shared: Arc<ReadShared>,
}

/// How much of a fetched pack is checked before its blobs are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Its SHA-256 against its name (`verify`: damage anywhere in it).
    Whole,
    /// Only the blobs read from it, each by its AEAD and HMAC id (restore:
    /// that is every byte handed out; hashing the whole pack as well cost a
    /// fifth of a restore's CPU and only re-proved what the blobs prove).
    BlobsOnly,
}

impl ReadShared {
    /// Fetches a pack; with `Check::Whole`, checks it against its name.
    async fn fetch_pack(self: Arc<Self>, index: u32, check: Check) -> Result<Bytes, RepoError> {
        let object = self
            .manifest
            .packs
            .get(index as usize)
            .ok_or_else(|| RepoError::Internal("pack index out of range".into()))?
            .clone();
        let _slot = self
            .fetches
            .acquire()
            .await
            .map_err(|_| RepoError::Internal("pack fetch slots closed".into()))?;
        let data = match check {
            Check::Whole => self.get_pack(&object, None).await?,
            Check::BlobsOnly => {
                let end = self.pack_ends.get(index as usize).copied();
                match self.get_pack(&object, end).await {
                    Ok(data) => data,
                    // A pack cut short fails a ranged read in some stores:
                    // read it whole, and the blob past its end is reported
                    // as damage like any other.
                    Err(RepoError::Store(_)) => self.get_pack(&object, None).await?,
                    Err(e) => return Err(e),
                }
            }
        };
        if check == Check::BlobsOnly {
            return Ok(data);
        }
        let name = object.clone();
        tokio::task::spawn_blocking(move || pack::verify_pack(&name, &data).map(|()| data))
            .await
            .map_err(RepoError::join)?
            .map_err(|reason| RepoError::damaged(object, reason))
    }

    /// `length` bytes (all when `None`) from the start of pack `object`.
    async fn get_pack(&self, object: &str, length: Option<u64>) -> Result<Bytes, RepoError> {
        let fetched = match length {
            Some(length) => self
                .store
                .get_into(object, 0, length, self.buffers.take())
                .await
                .map(|filled| BufferPool::share(&self.buffers, filled)),
            None => self.store.get(object, 0, None).await,
        };
        match fetched {
            Ok(data) => Ok(data),
            Err(StoreError::NotFound(_)) => Err(RepoError::damaged(
                object.to_string(),
                "pack is missing from the store",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Decodes chunk `index` out of its (verified) pack `pack_data`,
    /// appending it to `out` (see [`blob::decode_chunk_into`]).
    fn decode_into(
        &self,
        pack_data: &[u8],
        pack: u32,
        index: u32,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<(), RepoError> {
        let damaged = |reason: String| {
            let object = self.manifest.packs.get(pack as usize);
            RepoError::damaged(object.cloned().unwrap_or_default(), reason)
        };
        let c = self
            .manifest
            .chunks
            .get(index as usize)
            .ok_or_else(|| RepoError::Internal("chunk index out of range".into()))?;
        let start = c.offset as usize;
        let end = start + c.length as usize;
        let blob = pack_data
            .get(start..end)
            .ok_or_else(|| damaged("a chunk lies beyond the end of the pack".into()))?;
        blob::decode_chunk_into(&self.keys, &c.id, c.size as usize, blob, out, scratch)
            .map_err(|reason| damaged(format!("chunk {}: {reason}", hex::encode(c.id.0))))
    }

    /// Plaintext size of chunk `index`, as the (verified) manifest says.
    fn chunk_size(&self, index: u32) -> usize {
        self.manifest
            .chunks
            .get(index as usize)
            .map_or(0, |c| c.size as usize)
    }
}

impl BackupReader {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        keys: Arc<Keys>,
        info: BackupInfo,
        manifest: Manifest,
    ) -> Self {
        let span = tracing::info_span!("restore", name = %info.name);
        let mut pack_ends = vec![0usize; manifest.packs.len()];
        for c in &manifest.chunks {
            if let Some(end) = pack_ends.get_mut(c.pack as usize) {
                *end = (*end).max(c.offset as usize + c.length as usize);
            }
        }
        let pack_ends = pack_ends
            .into_iter()
            .map(|end| pack::padme_len(end) as u64)
            .collect();
        BackupReader {
            shared: Arc::new(ReadShared {
                store,
                keys,
                info,
                manifest,
                pack_ends,
                packs: PackCache::default(),
                fetches: tokio::sync::Semaphore::new(PACK_FETCHES),
                // Never more packs in use at once than being fetched plus
                // held by read-ahead (and the one cached between readers).
                buffers: BufferPool::new(PACK_FETCHES + read_ahead::READ_AHEAD_PACKS + 1),
                span,
            }),
        }
    }

    /// The backup's keys (to check other records under the same passcode).
    pub(crate) fn keys(&self) -> &Arc<Keys> {
        &self.shared.keys
    }

    /// The verified manifest, for tests that look at the layout in the store.
    #[cfg(test)]
    pub(crate) fn manifest(&self) -> &Manifest {
        &self.shared.manifest
    }

    /// Public information from the (MAC-verified) commit record.
    pub fn info(&self) -> &BackupInfo {
        &self.shared.info
    }

    pub fn stage_names(&self) -> Vec<String> {
        self.shared
            .manifest
            .stages
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// The metadata the stage's backup returned, or `None` if there is no such stage.
    pub fn stage_metadata(&self, stage: &str) -> Option<Vec<(String, String)>> {
        self.shared
            .manifest
            .stages
            .iter()
            .find(|s| s.name == stage)
            .map(|s| s.metadata.clone())
    }

    /// The plugin build (component digest and version) that wrote the stage;
    /// unknown (empty) for backups written before it was recorded, `None` if
    /// there is no such stage.
    pub fn stage_plugin_build(&self, stage: &str) -> Option<PluginBuild> {
        self.shared
            .manifest
            .stages
            .iter()
            .find(|s| s.name == stage)
            .map(StageRecord::plugin_build)
    }

    /// Number of entries of a stage.
    pub fn stage_items(&self, stage: &str) -> Option<u64> {
        self.shared
            .manifest
            .stages
            .iter()
            .find(|s| s.name == stage)
            .map(|s| s.entries.len() as u64)
    }

    /// A reader over a stage's entries. Several may be open at once.
    pub fn stage_reader(&self, stage: &str) -> Result<StageReader, RepoError> {
        let index = self
            .shared
            .manifest
            .stages
            .iter()
            .position(|s| s.name == stage)
            .ok_or_else(|| RepoError::NoSuchStage(stage.to_string()))?;
        StageReader::new(self.shared.clone(), index)
    }

    /// Reads every pack the backup references and verifies every chunk in it
    /// (pack SHA-256, chunk AEAD, size and id), without restoring anything.
    pub async fn verify(&self) -> Result<VerifyReport, RepoError> {
        let shared = self.shared.clone();
        let span = shared.span.clone();
        async move {
            let m = &shared.manifest;
            let mut by_pack: Vec<Vec<u32>> = vec![Vec::new(); m.packs.len()];
            for (i, c) in m.chunks.iter().enumerate() {
                if let Some(list) = by_pack.get_mut(c.pack as usize) {
                    list.push(i as u32);
                }
            }
            let mut report = VerifyReport::default();
            let mut next = (!m.packs.is_empty())
                .then(|| tokio::spawn(shared.clone().fetch_pack(0, Check::Whole)));
            for (p, chunks) in by_pack.into_iter().enumerate() {
                let Some(fetch) = next.take() else { break };
                let data = fetch.await.map_err(RepoError::join)??;
                if p + 1 < m.packs.len() {
                    next = Some(tokio::spawn(
                        shared.clone().fetch_pack(p as u32 + 1, Check::Whole),
                    ));
                }
                let s = shared.clone();
                let n = chunks.len() as u64;
                let bytes = tokio::task::spawn_blocking(move || {
                    let (mut chunk, mut scratch) = (Vec::new(), Vec::new());
                    let mut bytes = 0u64;
                    for c in chunks {
                        chunk.clear();
                        s.decode_into(&data, p as u32, c, &mut chunk, &mut scratch)?;
                        bytes += chunk.len() as u64;
                    }
                    Ok::<_, RepoError>(bytes)
                })
                .await
                .map_err(RepoError::join)??;
                report.packs += 1;
                report.chunks += n;
                report.bytes += bytes;
            }
            tracing::info!(
                packs = report.packs,
                chunks = report.chunks,
                "backup verified"
            );
            Ok(report)
        }
        .instrument(span)
        .await
    }
}

impl std::fmt::Debug for BackupReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupReader")
            .field("name", &self.shared.info.name)
            .field("stages", &self.stage_names())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
