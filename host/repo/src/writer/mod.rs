//! Writing a backup: entries are chunked, deduplicated, compressed, encrypted
//! and packed, with the CPU work on blocking threads and a bounded number of
//! chunk jobs and pack uploads in flight.
//!
//! Pipeline (all bounded, so memory stays flat):
//!
//! ```text
//! write() ─▶ entry buffer (≤ 8 MiB) ─cut (blocking, while the next 8 MiB
//!        fill)─▶ chunk batches (≈1 MiB)
//!        ─▶ ≤ 32 blocking jobs (≤ 16 MiB with the segment being cut): HMAC id,
//!           known? else zstd + AES-GCM
//!        ─▶ in-order consumer: dedup, append to the open pack (≤ 32 MiB)
//!        ─▶ ≤ 2 concurrent uploads (shuffle, pad and SHA-256 on a blocking
//!           thread, then put)
//! ```
//!
//! A blob's offset is the one it was pushed at until its pack is sealed; the
//! manifest and the pack-uploaded hook get the offset in the shuffled pack
//! from the pack's [`Placement`], as the manifest gets the pack's name from
//! its slot.
//!
//! The writer drives a few collaborators, one job each: [`stage`] (the open
//! stage and the rules an entry must pass), [`content`] (the open entry's
//! bytes, cut into chunks), [`jobs`] (chunk jobs on blocking
//! threads), [`dedup`] (where each chunk is stored, and the chunk table),
//! [`packer`] (packs, slots and uploads), [`previous`] (files unchanged
//! since the previous backup) and [`assemble`] (the manifest). At commit the
//! manifest's body is cut into segments, stored through the same dedup and
//! packer as file chunks (`docs/repository.md` §4.4).

mod assemble;
mod content;
mod dedup;
mod guide;
mod jobs;
mod packer;
mod previous;
mod stage;
mod stage_writer;

use std::sync::Arc;

use bytes::Bytes;
use tracing::{Instrument, info_span};

use crate::archive::{EntryKind, EntryMeta};
use crate::blob;
use crate::catalog::Appender;
use crate::chunker::{self, MANIFEST_CUTS};
use crate::commit::{CommitRecord, RECORD_FORMAT, RECORD_VERSION};
use crate::error::RepoError;
use crate::index::{IndexSet, PackSizes};
use crate::keys::{ChunkId, KdfParams, Keys};
use crate::manifest::segmented::{self, Root};
use crate::manifest::{self, MAX_STAGE_METADATA, PluginBuild, StageRecord};
use crate::names;
use crate::pack;
use crate::resume::{PackUploadedHook, Resumed, UploadedPack};
use crate::store::ObjectStore;
use crate::{BackupInfo, IncompleteStage, StagePublic};

use assemble::{add_segments, assemble_manifest};
use content::EntryContent;
use dedup::{ChunkTable, Dedup, Found, Loc};
use guide::CutChunk;
use jobs::{ChunkJobs, Outcome};
use packer::Packer;
pub(crate) use previous::PreviousFiles;
pub use previous::{UnchangedFile, UnchangedFiles};
use stage::{OpenEntry, StageBuild, between_entries};
pub use stage_writer::StageWriter;

/// Total bytes of one stage's metadata pairs.
const MAX_STAGE_METADATA_BYTES: usize = 1024 * 1024;

/// Progress of a backup being written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Content bytes received.
    pub bytes_in: u64,
    /// Content bytes of unchanged files taken over from the previous backup
    /// without being received again ([`StageWriter::reuse_unchanged`]).
    pub bytes_reused: u64,
    /// Files taken over that way.
    pub files_reused: u64,
    /// Content bytes of changed files cut where their previous version was
    /// (checked by chunk id, not searched for).
    pub bytes_cut_as_before: u64,
    /// Bytes of new blobs appended to packs (after compression and
    /// encryption), the manifest's new segments included.
    pub bytes_stored_new: u64,
    /// Random bytes that padded the packs sealed so far to their Padmé
    /// lengths (stored too, but not blobs).
    pub bytes_padding: u64,
    /// Chunks referenced.
    pub chunks_total: u64,
    /// Chunks not already in the store, the manifest's new segments included.
    pub chunks_new: u64,
    /// Packs uploaded so far.
    pub packs_written: u64,
    /// Most bytes the pipeline held at once (entry buffer, chunk jobs, open
    /// pack, packs being uploaded); an accounting bound, not RSS.
    pub peak_buffered_bytes: u64,
    /// Most pack uploads in flight at once.
    pub peak_uploads_in_flight: u64,
}

/// A backup being written. Nothing is visible until [`BackupWriter::commit`];
/// dropping the writer leaves only unreferenced packs, which garbage
/// collection removes.
pub struct BackupWriter {
    store: Arc<dyn ObjectStore>,
    dedup: Arc<Dedup>,
    kdf: KdfParams,
    info: BackupInfo,
    jobs: ChunkJobs,
    packer: Packer,
    table: ChunkTable,
    stages: Vec<StageRecord>,
    stage: Option<StageBuild>,
    previous: Arc<PreviousFiles>,
    stats: WriteStats,
    failed: Option<String>,
    span: tracing::Span,
    /// Places the commit record in the store's catalog.
    catalog: Appender,
}

/// Errors after which the writer cannot go on: what it already sent to the
/// store, or its own state, is in doubt.
fn poisons(e: &RepoError) -> bool {
    matches!(
        e,
        RepoError::Store(_) | RepoError::Internal(_) | RepoError::Damaged { .. }
    )
}

impl BackupWriter {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        keys: Arc<Keys>,
        kdf: KdfParams,
        mut info: BackupInfo,
        known: Arc<IndexSet>,
        previous: PreviousFiles,
    ) -> Self {
        info.stages.clear();
        info.incomplete_stages.clear();
        info.stored_bytes = 0;
        info.total_bytes = 0;
        let span = info_span!("backup", name = %info.name);
        BackupWriter {
            catalog: Appender::new(store.clone(), None),
            packer: Packer::new(store.clone(), span.clone()),
            store,
            dedup: Arc::new(Dedup::new(keys, known)),
            kdf,
            info,
            jobs: ChunkJobs::default(),
            table: ChunkTable::default(),
            stages: Vec::new(),
            stage: None,
            previous: Arc::new(previous),
            stats: WriteStats::default(),
            failed: None,
            span,
        }
    }

    /// Commits through `catalog` (which also keeps the host's anchor).
    pub(crate) fn with_catalog(mut self, catalog: Appender) -> Self {
        self.catalog = catalog;
        self
    }

    /// The key id new chunks are written under.
    pub fn key_id(&self) -> String {
        self.dedup.keys.key_id_hex()
    }

    pub fn stats(&self) -> WriteStats {
        self.stats.clone()
    }

    /// Counts the chunks of packs an interrupted run of this backup uploaded
    /// (from its journal) as this backup's own, so they are not written
    /// again. Same rule as for earlier backups (§5): a pack missing from the
    /// store (`pack_sizes`, from listing `packs/`) or too short for its
    /// chunks contributes nothing. O(chunks): call on a blocking thread.
    pub(crate) fn seed_uploaded(
        &mut self,
        packs: &[UploadedPack],
        pack_sizes: &PackSizes,
    ) -> Result<Resumed, RepoError> {
        let mut resumed = Resumed::default();
        for pack in packs {
            let Some(stored) = pack_sizes
                .object_size(&pack.name)
                .filter(|&size| size >= pack.bytes())
            else {
                resumed.packs_missing += 1;
                continue;
            };
            let slot = self.packer.slot_for(&pack.name);
            self.dedup.remember_all(pack.chunks.iter().map(|c| {
                let loc = Loc {
                    slot,
                    offset: c.offset,
                    length: c.length,
                    size: c.size,
                };
                (ChunkId(c.id), loc)
            }))?;
            resumed.packs += 1;
            resumed.bytes += stored;
        }
        Ok(resumed)
    }

    /// Calls `hook` after each pack upload completes, with the pack's name
    /// and chunks: what a caller journals to resume this backup after a crash.
    pub fn on_pack_uploaded(&mut self, hook: PackUploadedHook) {
        self.packer.on_pack_uploaded(hook);
    }

    fn check_failed(&self) -> Result<(), RepoError> {
        match &self.failed {
            Some(msg) => Err(RepoError::Misuse(format!(
                "the backup writer failed earlier: {msg}"
            ))),
            None => Ok(()),
        }
    }

    fn guard<T>(&mut self, r: Result<T, RepoError>) -> Result<T, RepoError> {
        if let Err(e) = &r
            && poisons(e)
        {
            self.failed = Some(e.to_string());
        }
        r
    }

    fn open_content(&self) -> Option<&EntryContent> {
        let entry = self.stage.as_ref().and_then(|s| s.open.as_ref());
        entry.map(|e| &e.content)
    }

    fn being_cut(&self) -> u64 {
        self.open_content().map_or(0, |c| c.being_cut() as u64)
    }

    fn note_memory(&mut self) {
        let entry = self.open_content().map_or(0, |c| c.buffered());
        let now = entry as u64 + self.jobs.buffered() + self.packer.buffered();
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(now);
    }

    /// Starts a stage. Stage names are unique within a backup.
    pub async fn begin_stage(
        &mut self,
        name: &str,
        plugin: &str,
    ) -> Result<StageWriter<'_>, RepoError> {
        self.begin_stage_of(name, plugin, PluginBuild::default())
            .await
    }

    /// [`begin_stage`](Self::begin_stage), recording which build of the
    /// plugin (component digest and version) writes the stage.
    pub async fn begin_stage_of(
        &mut self,
        name: &str,
        plugin: &str,
        build: PluginBuild,
    ) -> Result<StageWriter<'_>, RepoError> {
        self.check_failed()?;
        if let Some(s) = &self.stage {
            return Err(RepoError::Misuse(format!(
                "stage {:?} was not finished",
                s.name
            )));
        }
        manifest::validate_stage_name("stage", name).map_err(RepoError::Misuse)?;
        manifest::validate_stage_name("plugin", plugin).map_err(RepoError::Misuse)?;
        build.validate().map_err(RepoError::Misuse)?;
        if self.stages.iter().any(|s| s.name == name) {
            return Err(RepoError::Misuse(format!(
                "stage {name:?} was already written"
            )));
        }
        self.stage = Some(StageBuild::new(name, plugin, build));
        Ok(StageWriter::new(self))
    }

    fn open_entry(&mut self) -> Result<&mut OpenEntry, RepoError> {
        self.stage
            .as_mut()
            .ok_or_else(|| RepoError::Misuse("no stage is open".into()))?
            .open
            .as_mut()
            .ok_or_else(|| RepoError::Misuse("no entry is open (call begin_entry first)".into()))
    }

    async fn write_inner(&mut self, mut data: &[u8]) -> Result<(), RepoError> {
        while !data.is_empty() {
            let entry = self.open_entry()?;
            if !entry.file {
                return Err(RepoError::Misuse("only file entries have content".into()));
            }
            let n = entry.content.fill(data);
            let full = entry.content.is_full();
            let index = entry.index;
            data = &data[n..];
            if let Some(stage) = self.stage.as_mut() {
                stage.entries[index].size += n as u64;
            }
            self.stats.bytes_in += n as u64;
            self.note_memory();
            let chunks = if full {
                let keys = self.dedup.keys.clone();
                self.open_entry()?.content.seal(&keys).await?
            } else {
                self.open_entry()?.content.cut_chunks().await?
            };
            self.queue_chunks(index, chunks).await?;
        }
        Ok(())
    }

    async fn end_entry_inner(&mut self) -> Result<(), RepoError> {
        let keys = self.dedup.keys.clone();
        let entry = self.open_entry()?;
        if entry.file {
            let index = entry.index;
            let chunks = entry.content.finish(&keys).await?;
            self.queue_chunks(index, chunks).await?;
        }
        if let Some(stage) = self.stage.as_mut() {
            stage.open = None;
        }
        Ok(())
    }

    /// Queues chunks of entry `index` for their jobs.
    async fn queue_chunks(&mut self, index: usize, chunks: Vec<CutChunk>) -> Result<(), RepoError> {
        for c in chunks {
            if c.id.is_some() {
                self.stats.bytes_cut_as_before += c.data.len() as u64;
            }
            let due = self.jobs.add(index, c);
            self.note_memory();
            if due {
                self.submit_batch().await?;
            }
        }
        Ok(())
    }

    async fn submit_batch(&mut self) -> Result<(), RepoError> {
        if self.jobs.batch_is_empty() {
            return Ok(());
        }
        while self.jobs.is_full(self.being_cut()) {
            self.consume_one().await?;
        }
        self.jobs.submit(&self.dedup);
        self.note_memory();
        Ok(())
    }

    /// Waits for the oldest chunk job and records its chunks, in order.
    async fn consume_one(&mut self) -> Result<(), RepoError> {
        let Some(finished) = self.jobs.next_finished().await? else {
            return Ok(());
        };
        for (entry, outcome) in finished.chunks {
            let (id, loc) = self.store_outcome(outcome).await?;
            let pos = self.table.position(id, loc);
            self.stats.chunks_total += 1;
            let stage = self
                .stage
                .as_mut()
                .ok_or_else(|| RepoError::Internal("chunk finished outside a stage".into()))?;
            stage
                .entries
                .get_mut(entry)
                .ok_or_else(|| RepoError::Internal("chunk for an unknown entry".into()))?
                .chunks
                .push(pos);
        }
        self.jobs.release(finished.bytes);
        Ok(())
    }

    /// Where a chunk a job looked at is stored: where it already was, or in
    /// the open pack.
    async fn store_outcome(&mut self, outcome: Outcome) -> Result<(ChunkId, Loc), RepoError> {
        match outcome {
            Outcome::Known { id, found } => Ok((id, self.reference(id, found)?)),
            // Another job of this backup may have stored it meanwhile.
            Outcome::New { id, size, blob } => match self.dedup.in_session(&id)? {
                Some(loc) => Ok((id, loc)),
                None => {
                    let loc = self.packer.append(id, size, blob, &mut self.stats).await?;
                    self.dedup.remember(id, loc)?;
                    self.note_memory();
                    Ok((id, loc))
                }
            },
        }
    }

    /// The location of an already stored chunk, giving a pack found in the
    /// index a slot of this writer.
    fn reference(&mut self, id: ChunkId, found: Found) -> Result<Loc, RepoError> {
        let hit = match found {
            Found::Session(loc) => return Ok(loc),
            Found::Index(hit) => hit,
        };
        if let Some(loc) = self.dedup.in_session(&id)? {
            return Ok(loc);
        }
        let loc = Loc {
            slot: self.packer.slot_for(&names::pack_object(&hit.pack)),
            offset: hit.offset,
            length: hit.length,
            size: hit.size,
        };
        self.dedup.remember(id, loc)?;
        Ok(loc)
    }

    /// Adds a file found unchanged as a complete entry of the open stage.
    fn add_unchanged_inner(
        &mut self,
        meta: EntryMeta,
        file: UnchangedFile,
    ) -> Result<(), RepoError> {
        let stage = between_entries(&mut self.stage)?;
        if stage.name != *file.stage {
            return Err(RepoError::Misuse(format!(
                "file {} was looked up for stage {:?}, not {:?}",
                meta.path, file.stage, stage.name
            )));
        }
        if meta.kind != EntryKind::File {
            return Err(RepoError::Misuse(format!("{} is not a file", meta.path)));
        }
        stage.admit(&meta)?;
        let mut chunks = Vec::with_capacity(file.chunks.len());
        for (id, found) in file.chunks {
            let loc = self.reference(id, found)?;
            chunks.push(self.table.position(id, loc));
        }
        self.stats.chunks_total += chunks.len() as u64;
        self.stats.bytes_reused += file.size;
        self.stats.files_reused += 1;
        if let Some(stage) = self.stage.as_mut() {
            stage.entries.push(manifest::EntryRecord {
                meta,
                size: file.size,
                chunks,
            });
        }
        Ok(())
    }

    async fn drain_jobs(&mut self) -> Result<(), RepoError> {
        self.submit_batch().await?;
        while !self.jobs.is_idle() {
            self.consume_one().await?;
        }
        Ok(())
    }

    fn finish_stage_checks(&mut self, metadata: &[(String, String)]) -> Result<(), RepoError> {
        between_entries(&mut self.stage)?;
        let bytes: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if metadata.len() > MAX_STAGE_METADATA || bytes > MAX_STAGE_METADATA_BYTES {
            return Err(RepoError::InvalidInfo(format!(
                "stage metadata is limited to {MAX_STAGE_METADATA} pairs and 1 MiB"
            )));
        }
        Ok(())
    }

    async fn finish_stage_inner(
        &mut self,
        metadata: Vec<(String, String)>,
        start_time: i64,
        end_time: i64,
    ) -> Result<StagePublic, RepoError> {
        self.finish_stage_checks(&metadata)?;
        self.drain_jobs().await?;
        let stage = self
            .stage
            .take()
            .ok_or_else(|| RepoError::Misuse("no stage is open".into()))?;
        let public = StagePublic {
            name: stage.name.clone(),
            plugin: stage.plugin.clone(),
            items: stage.entries.len() as u64,
            bytes: stage.entries.iter().map(|e| e.size).sum(),
            start_time,
            end_time,
        };
        self.stages.push(StageRecord {
            name: stage.name,
            plugin: stage.plugin,
            plugin_digest: stage.build.digest,
            plugin_version: stage.build.version,
            metadata,
            entries: stage.entries,
        });
        self.info.stages.push(public.clone());
        Ok(public)
    }
    /// Records that the stage `name` (run by `plugin`) failed, so the backup
    /// commits as *partial*, without it. If that stage is open, what it
    /// wrote is dropped (its chunks stay stored, so a later backup reuses
    /// them). Fails if the writer itself failed (the store, not the stage,
    /// is the problem): then nothing can be committed.
    pub async fn stage_failed(&mut self, name: &str, plugin: &str) -> Result<(), RepoError> {
        let span = self.span.clone();
        async move {
            self.check_failed()?;
            manifest::validate_stage_name("stage", name).map_err(RepoError::Misuse)?;
            manifest::validate_stage_name("plugin", plugin).map_err(RepoError::Misuse)?;
            if self.stages.iter().any(|s| s.name == name)
                || self.info.incomplete_stages.iter().any(|s| s.name == name)
            {
                return Err(RepoError::Misuse(format!(
                    "stage {name:?} was already written"
                )));
            }
            if let Some(open) = &self.stage {
                if open.name != name {
                    return Err(RepoError::Misuse(format!(
                        "stage {:?} is open, not {name:?}",
                        open.name
                    )));
                }
                // The queued chunks of the dropped entries still land in the
                // open stage; wait for them, then drop the stage whole.
                let r = self.drain_jobs().await;
                self.guard(r)?;
                self.stage = None;
            }
            self.info.incomplete_stages.push(IncompleteStage {
                name: name.to_string(),
                plugin: plugin.to_string(),
            });
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Uploads the remaining packs, then the manifest's segments, then its
    /// root, then the commit record (which makes the backup visible).
    /// Returns the public information.
    pub async fn commit(mut self, complete_time: i64) -> Result<BackupInfo, RepoError> {
        let span = self.span.clone();
        async move {
            self.check_failed()?;
            if let Some(s) = &self.stage {
                return Err(RepoError::Misuse(format!(
                    "stage {:?} was not finished",
                    s.name
                )));
            }
            self.drain_jobs().await?;
            // The body names the packs of this backup's chunks and their
            // offsets in the shuffled packs: every pack must be sealed first.
            self.packer.finish(&mut self.stats).await?;
            let (root, segments) = self.store_manifest_body().await?;
            // Segment packs are uploaded before the root that names them (§7).
            self.packer.finish(&mut self.stats).await?;
            self.write_manifest_and_record(root, &segments, complete_time)
                .await
        }
        .instrument(span)
        .await
    }

    /// Assembles the manifest, splits it into root and body, cuts the body
    /// into segments and stores them like file chunks, through the same
    /// dedup: the segments of an unchanged body are found, not written.
    /// Returns the root and where its segments are.
    async fn store_manifest_body(&mut self) -> Result<(Root, Vec<(ChunkId, Loc)>), RepoError> {
        let chunk_table = std::mem::take(&mut self.table).into_chunks();
        let layout = self.packer.layout();
        let stages = std::mem::take(&mut self.stages);
        let backup = self.info.name.clone();
        let dedup = self.dedup.clone();
        // O(chunks) of CPU: assembling, serialising, cutting, hashing and
        // encrypting. On a blocking thread.
        let (root, outcomes) = tokio::task::spawn_blocking(move || {
            let key_id = dedup.keys.key_id_hex();
            let manifest = assemble_manifest(backup, key_id, &chunk_table, &layout, stages)?;
            drop(chunk_table);
            let (root, body) = segmented::split(manifest).map_err(RepoError::Internal)?;
            let json = segmented::body_bytes(&body).map_err(RepoError::Internal)?;
            // The entries are in the JSON now: a large tree's entries must
            // not stay in memory while it is cut, hashed and encrypted.
            drop(body);
            let body = Bytes::from(json);
            // What the reader would refuse is not committed.
            if body.len() as u64 > blob::MAX_MANIFEST_PLAINTEXT {
                return Err(RepoError::InvalidInfo(format!(
                    "the manifest would be {} bytes, more than the 1 GiB a reader accepts",
                    body.len()
                )));
            }
            let segments = chunker::split_whole(&body, dedup.keys.chunker(), &MANIFEST_CUTS);
            let segments = segments.into_iter().map(CutChunk::unidentified).collect();
            Ok::<_, RepoError>((root, jobs::process(&dedup, segments)?))
        })
        .await
        .map_err(RepoError::join)??;
        let mut segments = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            segments.push(self.store_outcome(outcome).await?);
        }
        Ok((root, segments))
    }

    async fn write_manifest_and_record(
        &mut self,
        mut root: Root,
        segments: &[(ChunkId, Loc)],
        complete_time: i64,
    ) -> Result<BackupInfo, RepoError> {
        let key_id = self.dedup.keys.key_id_hex();
        let layout = self.packer.layout();
        let segments = segments.to_vec();
        let dedup = self.dedup.clone();
        let (sealed, hash, packs) = tokio::task::spawn_blocking(move || {
            add_segments(&mut root, &segments, &layout)?;
            let json = serde_json::to_vec(&root).map_err(|e| RepoError::Internal(e.to_string()))?;
            let sealed = blob::seal_manifest(&dedup.keys, &json).map_err(RepoError::Internal)?;
            let hash = pack::pack_hash(&sealed);
            Ok::<_, RepoError>((sealed, hash, root.packs))
        })
        .await
        .map_err(RepoError::join)??;
        let manifest_name = names::manifest_object(&hash);
        let manifest_size = sealed.len() as u64;
        self.store.put(&manifest_name, Bytes::from(sealed)).await?;

        let mut info = self.info.clone();
        info.complete_time = complete_time;
        info.total_bytes = self.stats.bytes_in + self.stats.bytes_reused;
        info.stored_bytes = self.stats.bytes_stored_new + self.stats.bytes_padding + manifest_size;
        let (seq, prev) = self.catalog.next_position().await?;
        let mut record = CommitRecord {
            format: RECORD_FORMAT.into(),
            version: RECORD_VERSION,
            info: info.clone(),
            kdf: self.kdf.clone(),
            key_id,
            manifest: manifest_name,
            manifest_size,
            packs,
            seq,
            prev,
            mac: String::new(),
        };
        let dedup = self.dedup.clone();
        let record_bytes = tokio::task::spawn_blocking(move || {
            record.sign(&dedup.keys);
            record.to_bytes()
        })
        .await
        .map_err(RepoError::join)?;
        let object = names::record_object(&info.name);
        let taken = || RepoError::NameTaken(info.name.clone());
        self.catalog
            .put_new(&object, seq, record_bytes, Some(&info.name), taken)
            .await?;
        tracing::info!(
            stored = info.stored_bytes,
            total = info.total_bytes,
            chunks = self.stats.chunks_total,
            new_chunks = self.stats.chunks_new,
            "backup committed"
        );
        Ok(info)
    }
}

impl std::fmt::Debug for BackupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupWriter")
            .field("name", &self.info.name)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
