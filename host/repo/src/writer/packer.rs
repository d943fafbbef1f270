//! Packing: new blobs go into the open pack; full packs are sealed
//! (shuffled, padded, hashed) and uploaded, a bounded number at once. Every
//! pack this backup references, written or found, has a slot, which the
//! manifest turns into the pack's name.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinSet;
use tracing::{Instrument, debug};

use super::WriteStats;
use super::dedup::Loc;
use crate::error::RepoError;
use crate::keys::ChunkId;
use crate::names;
use crate::pack::{MAX_UPLOADS_IN_FLIGHT, PackBuilder, Placement};
use crate::resume::{PackChunk, PackUploadedHook, UploadedPack};
use crate::store::ObjectStore;

type Upload = Result<(u32, String, u64, Placement), RepoError>;

pub(super) struct Packer {
    store: Arc<dyn ObjectStore>,
    /// Pack names by slot; `None` while a new pack is open or uploading.
    slots: Vec<Option<String>>,
    slot_of: HashMap<String, u32>,
    pack: Option<PackBuilder>,
    /// Blob offsets in the packs this writer sealed, by slot.
    placements: HashMap<u32, Placement>,
    uploads: JoinSet<Upload>,
    /// The chunks of each pack not yet uploaded, by slot, for the hook.
    pack_chunks: HashMap<u32, Vec<PackChunk>>,
    on_pack_uploaded: Option<PackUploadedHook>,
    uploading_bytes: u64,
    span: tracing::Span,
}

/// Where the blobs of a finished backup are: pack names by slot, and the
/// offsets of the blobs in the packs it sealed.
pub(super) struct PackLayout {
    pub(super) slots: Vec<Option<String>>,
    pub(super) placements: HashMap<u32, Placement>,
}

impl Packer {
    pub(super) fn new(store: Arc<dyn ObjectStore>, span: tracing::Span) -> Self {
        Packer {
            store,
            slots: Vec::new(),
            slot_of: HashMap::new(),
            pack: None,
            placements: HashMap::new(),
            uploads: JoinSet::new(),
            pack_chunks: HashMap::new(),
            on_pack_uploaded: None,
            uploading_bytes: 0,
            span,
        }
    }

    pub(super) fn on_pack_uploaded(&mut self, hook: PackUploadedHook) {
        self.on_pack_uploaded = Some(hook);
    }

    /// The slot of an already stored pack, giving it one if it has none.
    pub(super) fn slot_for(&mut self, name: &str) -> u32 {
        if let Some(&slot) = self.slot_of.get(name) {
            return slot;
        }
        let slot = self.slots.len() as u32;
        self.slots.push(Some(name.to_string()));
        self.slot_of.insert(name.to_string(), slot);
        slot
    }

    /// Bytes held by the open pack and the packs being uploaded.
    pub(super) fn buffered(&self) -> u64 {
        self.pack.as_ref().map_or(0, PackBuilder::len) as u64 + self.uploading_bytes
    }

    /// Appends a new blob to the open pack (sealing it when full) and
    /// returns where it is.
    pub(super) async fn append(
        &mut self,
        id: ChunkId,
        size: u32,
        blob: Vec<u8>,
        stats: &mut WriteStats,
    ) -> Result<Loc, RepoError> {
        if self
            .pack
            .as_ref()
            .is_some_and(|p| p.would_overflow(blob.len()))
        {
            self.seal(stats).await?;
        }
        let pack = match &mut self.pack {
            Some(p) => p,
            None => {
                let slot = self.slots.len() as u32;
                self.slots.push(None);
                self.pack.insert(PackBuilder::new(slot))
            }
        };
        let length = blob.len();
        let offset = pack.push(blob);
        let loc = Loc {
            slot: pack.slot,
            offset,
            length: length as u32,
            size,
        };
        let full = pack.is_full();
        if self.on_pack_uploaded.is_some() {
            self.pack_chunks
                .entry(loc.slot)
                .or_default()
                .push(PackChunk {
                    id: id.0,
                    offset: loc.offset,
                    length: loc.length,
                    size: loc.size,
                });
        }
        stats.bytes_stored_new += length as u64;
        stats.chunks_new += 1;
        if full {
            self.seal(stats).await?;
        }
        Ok(loc)
    }

    /// Hands the open pack to an upload task, waiting while the maximum number
    /// of uploads is in flight.
    pub(super) async fn seal(&mut self, stats: &mut WriteStats) -> Result<(), RepoError> {
        let Some(pack) = self.pack.take() else {
            return Ok(());
        };
        if pack.is_empty() {
            return Ok(());
        }
        while self.uploads.len() >= MAX_UPLOADS_IN_FLIGHT {
            self.join_upload(stats).await?;
        }
        let size = pack.sealed_len() as u64;
        let slot = pack.slot;
        let store = self.store.clone();
        let hook = self.on_pack_uploaded.clone();
        let chunks = self.pack_chunks.remove(&slot).unwrap_or_default();
        stats.bytes_padding += size - pack.len() as u64;
        self.uploading_bytes += size;
        self.uploads.spawn(
            async move {
                let sealed = tokio::task::spawn_blocking(move || pack.seal())
                    .await
                    .map_err(RepoError::join)?;
                let name = names::pack_object(&sealed.hash);
                debug!(pack = %name, size, "uploading pack");
                store.put(&name, Bytes::from(sealed.data)).await?;
                if let Some(hook) = hook {
                    let chunks = placed_chunks(chunks, &sealed.placement)?;
                    report_uploaded(hook, name.clone(), chunks).await;
                }
                Ok((slot, name, size, sealed.placement))
            }
            .instrument(self.span.clone()),
        );
        stats.peak_uploads_in_flight = stats.peak_uploads_in_flight.max(self.uploads.len() as u64);
        Ok(())
    }

    async fn join_upload(&mut self, stats: &mut WriteStats) -> Result<(), RepoError> {
        let Some(res) = self.uploads.join_next().await else {
            return Ok(());
        };
        let (slot, name, size, placement) = res.map_err(RepoError::join)??;
        self.uploading_bytes -= size;
        self.placements.insert(slot, placement);
        stats.packs_written += 1;
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(name.clone());
        }
        self.slot_of.insert(name, slot);
        Ok(())
    }

    /// Seals the open pack and waits for every upload.
    pub(super) async fn finish(&mut self, stats: &mut WriteStats) -> Result<(), RepoError> {
        self.seal(stats).await?;
        while !self.uploads.is_empty() {
            self.join_upload(stats).await?;
        }
        Ok(())
    }

    /// The layout of what is uploaded so far, after [`Packer::finish`]: a
    /// copy, since the manifest's segments are packed after it is taken.
    pub(super) fn layout(&self) -> PackLayout {
        PackLayout {
            slots: self.slots.clone(),
            placements: self.placements.clone(),
        }
    }
}

/// Runs the pack-uploaded hook on a blocking thread (it may write and sync a
/// file). Right after the `put`, not when the writer joins the upload, so a
/// crash loses as few finished packs as possible.
async fn report_uploaded(hook: PackUploadedHook, name: String, chunks: Vec<PackChunk>) {
    let pack = UploadedPack { name, chunks };
    let result = tokio::task::spawn_blocking(move || {
        let result = hook(&pack);
        (pack.name, result)
    })
    .await;
    match result {
        Ok((_, Ok(()))) => {}
        Ok((pack, Err(e))) => {
            tracing::warn!(%pack, error = %e, "could not record an uploaded pack")
        }
        Err(e) => tracing::warn!(error = %e, "the pack-uploaded hook panicked"),
    }
}

/// The chunks of a sealed pack, with the offsets they have in it.
fn placed_chunks(
    chunks: Vec<PackChunk>,
    placement: &Placement,
) -> Result<Vec<PackChunk>, RepoError> {
    chunks
        .into_iter()
        .map(|c| {
            let offset = placement
                .offset(c.offset)
                .ok_or_else(|| RepoError::Internal("blob missing from its sealed pack".into()))?;
            Ok(PackChunk { offset, ..c })
        })
        .collect()
}
