//! Writing a backup: entries are chunked, deduplicated, compressed, encrypted
//! and packed, with the CPU work on blocking threads and a bounded number of
//! chunk jobs and pack uploads in flight.
//!
//! Pipeline (all bounded, so memory stays flat):
//!
//! ```text
//! write() ─▶ entry buffer (≤ 16 MiB) ─cut (blocking)─▶ chunk batches (≈1 MiB)
//!        ─▶ ≤ 32 blocking jobs (≤ 24 MiB): HMAC id, known? else zstd + AES-GCM
//!        ─▶ in-order consumer: dedup, append to the open pack (≤ 32 MiB)
//!        ─▶ ≤ 2 concurrent uploads (shuffle, pad and SHA-256 on a blocking
//!           thread, then put)
//! ```
//!
//! A blob's offset is the one it was pushed at until its pack is sealed; the
//! manifest and the pack-uploaded hook get the offset in the shuffled pack
//! from the pack's [`Placement`], as the manifest gets the pack's name from
//! its slot.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{Instrument, debug, info_span};

use crate::archive::{EntryKind, EntryMeta, RawName};
use crate::blob;
use crate::catalog::Appender;
use crate::chunker::{self, MIN_CHUNK, SEGMENT};
use crate::commit::{CommitRecord, RECORD_FORMAT, RECORD_VERSION};
use crate::error::RepoError;
use crate::index::{IndexHit, IndexSet, PackSizes};
use crate::keys::{ChunkId, KdfParams, Keys};
use crate::manifest::{
    self, ChunkRecord, EntryRecord, MANIFEST_VERSION, MAX_STAGE_METADATA, Manifest, StageRecord,
};
use crate::names;
use crate::pack::{self, MAX_UPLOADS_IN_FLIGHT, PackBuilder, Placement};
use crate::resume::{PackChunk, PackUploadedHook, Resumed, UploadedPack};
use crate::store::ObjectStore;
use crate::{BackupInfo, IncompleteStage, StagePublic};

/// Chunk jobs (each ≈ 1 MiB, at most one 4 MiB chunk) processed at once…
const MAX_JOBS: usize = 32;
/// …and the plaintext bytes they may hold. Jobs finish out of order but are
/// consumed in order, so a slow one must not starve the cores: with 8 jobs
/// the pipeline kept only about 1.1 of 2 cores busy on compressible data.
const MAX_JOB_BYTES: u64 = 24 << 20;
/// A batch is submitted once it holds this many bytes…
const BATCH_BYTES: usize = 1024 * 1024;
/// …or this many (small) chunks.
const BATCH_CHUNKS: usize = 64;
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
    /// Bytes of new blobs appended to packs (after compression and encryption).
    pub bytes_stored_new: u64,
    /// Random bytes that padded the packs sealed so far to their Padmé
    /// lengths (stored too, but not blobs).
    pub bytes_padding: u64,
    /// Chunks referenced.
    pub chunks_total: u64,
    /// Chunks not already in the store.
    pub chunks_new: u64,
    /// Packs uploaded so far.
    pub packs_written: u64,
    /// Most bytes the pipeline held at once (entry buffer, chunk jobs, open
    /// pack, packs being uploaded); an accounting bound, not RSS.
    pub peak_buffered_bytes: u64,
    /// Most pack uploads in flight at once.
    pub peak_uploads_in_flight: u64,
}

/// Where a chunk's blob is: a pack slot of this writer and a byte range. In a
/// pack this writer wrote, the offset is the one the blob was pushed at (see
/// [`Placement`]).
#[derive(Clone, Copy, Debug)]
struct Loc {
    slot: u32,
    offset: u32,
    length: u32,
    size: u32,
}

/// What the blocking jobs need.
struct Shared {
    keys: Arc<Keys>,
    /// Chunks stored by earlier backups under this key: an on-disk index
    /// behind an in-RAM filter. Looked up on the blocking jobs, where the
    /// ids are computed, because a lookup may read the index file.
    known: Arc<IndexSet>,
    /// Chunks this backup has written or referenced so far.
    session: RwLock<HashMap<ChunkId, Loc>>,
}

impl Shared {
    fn session(&self) -> Result<std::sync::RwLockReadGuard<'_, HashMap<ChunkId, Loc>>, RepoError> {
        self.session
            .read()
            .map_err(|_| RepoError::Internal("chunk session lock poisoned".into()))
    }

    /// Where an already stored chunk is, if it is (blocking: may read the
    /// index file).
    fn find(&self, id: &ChunkId) -> Result<Option<Found>, RepoError> {
        if let Some(loc) = self.session()?.get(id) {
            return Ok(Some(Found::Session(*loc)));
        }
        Ok(self.known.lookup(&id.0)?.map(Found::Index))
    }

    /// Records where this backup's chunk `id` is.
    fn remember(&self, id: ChunkId, loc: Loc) -> Result<(), RepoError> {
        self.session
            .write()
            .map_err(|_| RepoError::Internal("chunk session lock poisoned".into()))?
            .insert(id, loc);
        Ok(())
    }
}

/// An already stored chunk: referenced earlier by this backup, or found in
/// the index of earlier backups.
#[derive(Clone, Copy, Debug)]
enum Found {
    Session(Loc),
    Index(IndexHit),
}

impl Found {
    /// The chunk's plaintext size.
    fn size(&self) -> u32 {
        match self {
            Found::Session(loc) => loc.size,
            Found::Index(hit) => hit.size,
        }
    }
}

/// Answers, for one stage, whether a file is unchanged since the newest
/// earlier backup under the same key, without going through the writer: a
/// stage asks for every file it meets, so the question is answered where it
/// is asked, and only the answer travels (as an [`UnchangedFile`] for
/// [`StageWriter::add_unchanged`]). Cheap to clone and usable from any
/// thread; a lookup may read the index file, so it blocks.
#[derive(Clone)]
pub struct UnchangedFiles {
    shared: Arc<Shared>,
    previous: Arc<PreviousFiles>,
    stage: Arc<str>,
}

/// A file found unchanged: its size and where its chunks are stored.
pub struct UnchangedFile {
    stage: Arc<str>,
    size: u64,
    chunks: Vec<(ChunkId, Found)>,
}

impl UnchangedFiles {
    /// The stored content of `meta`, a regular file of `size` bytes, if the
    /// same path in the previous backup had the same size and modification
    /// time (seconds and nanoseconds) and all its chunks are still stored.
    pub fn lookup(&self, meta: &EntryMeta, size: u64) -> Result<Option<UnchangedFile>, RepoError> {
        let Some(previous) = self.previous.get(&self.stage, &meta.path) else {
            return Ok(None);
        };
        if meta.kind != EntryKind::File
            || previous.size != size
            || previous.mtime != (meta.mtime_seconds, meta.mtime_nanoseconds)
        {
            return Ok(None);
        }
        // Only chunks known to be in the store (their pack listed and long
        // enough) may be referenced; otherwise the file is read again.
        let Some(chunks) = previous
            .chunks
            .iter()
            .map(|id| Ok(self.shared.find(id)?.map(|f| (*id, f))))
            .collect::<Result<Option<Vec<_>>, RepoError>>()?
        else {
            return Ok(None);
        };
        // The sizes must add up to the file's, as in a manifest (§4.4); a
        // mismatch can only come from a damaged index.
        if chunks.iter().map(|(_, f)| u64::from(f.size())).sum::<u64>() != size {
            return Ok(None);
        }
        Ok(Some(UnchangedFile {
            stage: self.stage.clone(),
            size,
            chunks,
        }))
    }
}

impl std::fmt::Debug for UnchangedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnchangedFile")
            .field("size", &self.size)
            .field("chunks", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

/// A file of the previous backup: what must still match for it to count as
/// unchanged, and its content as chunk ids.
struct PreviousFile {
    size: u64,
    mtime: (i64, u32),
    chunks: Vec<ChunkId>,
}

/// The files of the newest earlier backup under the same key, by stage name
/// and path: what lets a stage skip reading files that did not change.
#[derive(Default)]
pub(crate) struct PreviousFiles(HashMap<String, HashMap<RawName, PreviousFile>>);

impl PreviousFiles {
    pub(crate) fn from_manifest(m: &Manifest) -> Self {
        let stages = m
            .stages
            .iter()
            .map(|stage| {
                let files = stage
                    .entries
                    .iter()
                    .filter(|e| e.meta.kind == EntryKind::File)
                    .filter_map(|e| {
                        let chunks = e
                            .chunks
                            .iter()
                            .map(|&i| m.chunks.get(i as usize).map(|c| c.id))
                            .collect::<Option<Vec<_>>>()?;
                        let file = PreviousFile {
                            size: e.size,
                            mtime: (e.meta.mtime_seconds, e.meta.mtime_nanoseconds),
                            chunks,
                        };
                        Some((e.meta.path.clone(), file))
                    })
                    .collect();
                (stage.name.clone(), files)
            })
            .collect();
        Self(stages)
    }

    fn get(&self, stage: &str, path: &RawName) -> Option<&PreviousFile> {
        self.0.get(stage)?.get(path)
    }
}

enum Outcome {
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

struct OpenEntry {
    index: usize,
    file: bool,
    buf: Vec<u8>,
}

struct StageBuild {
    name: String,
    plugin: String,
    entries: Vec<EntryRecord>,
    open: Option<OpenEntry>,
    /// The stage's file paths so far, which hard links may name.
    files: FilePaths,
}

/// Hashes of the file paths of a stage: enough to refuse a hard link to
/// anything but an earlier file at write time, at 8 bytes a file. Random
/// hash keys, so a plugin cannot craft a collision; the manifest check on
/// read compares whole paths.
#[derive(Default)]
struct FilePaths {
    hashes: HashSet<u64>,
    keys: std::hash::RandomState,
}

impl FilePaths {
    fn hash(&self, path: &RawName) -> u64 {
        std::hash::BuildHasher::hash_one(&self.keys, path)
    }

    fn add(&mut self, path: &RawName) {
        let hash = self.hash(path);
        self.hashes.insert(hash);
    }

    fn contains(&self, path: &RawName) -> bool {
        self.hashes.contains(&self.hash(path))
    }
}

/// Checks an entry's metadata, and that a hard link names an earlier file
/// of the stage, then remembers a file's path for later hard links.
fn admit_entry(stage: &mut StageBuild, meta: &EntryMeta) -> Result<(), RepoError> {
    meta.validate()
        .map_err(|e| RepoError::InvalidEntry(e.to_string()))?;
    match meta.kind {
        EntryKind::File => stage.files.add(&meta.path),
        EntryKind::HardLink
            if !meta
                .link_target
                .as_ref()
                .is_some_and(|t| stage.files.contains(t)) =>
        {
            return Err(RepoError::InvalidEntry(format!(
                "{}: hard link to a path that is not an earlier file of the stage",
                meta.path
            )));
        }
        _ => {}
    }
    Ok(())
}

/// A backup being written. Nothing is visible until [`BackupWriter::commit`];
/// dropping the writer leaves only unreferenced packs, which garbage
/// collection removes.
pub struct BackupWriter {
    store: Arc<dyn ObjectStore>,
    shared: Arc<Shared>,
    kdf: KdfParams,
    info: BackupInfo,
    /// Pack names by slot; `None` while a new pack is open or uploading.
    slots: Vec<Option<String>>,
    slot_of: HashMap<String, u32>,
    pack: Option<PackBuilder>,
    /// Blob offsets in the packs this writer sealed, by slot.
    placements: HashMap<u32, Placement>,
    uploads: JoinSet<Result<(u32, String, u64, Placement), RepoError>>,
    /// The chunks of each pack not yet uploaded, by slot, for the hook.
    pack_chunks: HashMap<u32, Vec<PackChunk>>,
    on_pack_uploaded: Option<PackUploadedHook>,
    uploading_bytes: u64,
    jobs: VecDeque<Job>,
    jobs_bytes: u64,
    batch: Vec<(usize, Bytes)>,
    batch_bytes: usize,
    /// This backup's chunk table (manifest order) and positions in it.
    chunk_table: Vec<(ChunkId, Loc)>,
    chunk_pos: HashMap<ChunkId, u32>,
    stages: Vec<StageRecord>,
    stage: Option<StageBuild>,
    previous: Arc<PreviousFiles>,
    stats: WriteStats,
    failed: Option<String>,
    span: tracing::Span,
    /// Places the commit record in the store's catalog.
    catalog: Appender,
}

/// Writes the entries of one stage. Obtained from [`BackupWriter::begin_stage`];
/// must be [`finish`](StageWriter::finish)ed before the next stage or commit.
pub struct StageWriter<'a> {
    w: &'a mut BackupWriter,
}

/// The open stage, if no entry of it is open. A function of the field, not
/// of the writer, so callers can use the writer's other fields meanwhile.
fn between_entries(stage: &mut Option<StageBuild>) -> Result<&mut StageBuild, RepoError> {
    let stage = stage
        .as_mut()
        .ok_or_else(|| RepoError::Misuse("no stage is open".into()))?;
    if let Some(open) = &stage.open {
        return Err(RepoError::Misuse(format!(
            "entry {} was not ended",
            stage.entries[open.index].meta.path
        )));
    }
    Ok(stage)
}

fn poisons(e: &RepoError) -> bool {
    matches!(
        e,
        RepoError::Store(_) | RepoError::Internal(_) | RepoError::Damaged { .. }
    )
}

/// Hashes each chunk, and compresses and encrypts those not yet stored.
fn process(shared: &Shared, chunks: Vec<Bytes>) -> Result<Vec<Outcome>, RepoError> {
    let mut out = Vec::with_capacity(chunks.len());
    for data in chunks {
        let id = shared.keys.chunk_id(&data);
        let size = data.len() as u32;
        // Equal ids mean equal content, so equal sizes; a differing size
        // can only come from a damaged index, and is not trusted.
        let found = shared.find(&id)?.filter(|f| {
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
                    blob::encode_chunk(&shared.keys, &id, &data).map_err(RepoError::Internal)?;
                out.push(Outcome::New { id, size, blob });
            }
        }
    }
    Ok(out)
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
            store,
            shared: Arc::new(Shared {
                keys,
                known,
                session: RwLock::new(HashMap::new()),
            }),
            kdf,
            info,
            slots: Vec::new(),
            slot_of: HashMap::new(),
            pack: None,
            placements: HashMap::new(),
            uploads: JoinSet::new(),
            pack_chunks: HashMap::new(),
            on_pack_uploaded: None,
            uploading_bytes: 0,
            jobs: VecDeque::new(),
            jobs_bytes: 0,
            batch: Vec::new(),
            batch_bytes: 0,
            chunk_table: Vec::new(),
            chunk_pos: HashMap::new(),
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
        self.shared.keys.key_id_hex()
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
        let shared = self.shared.clone();
        let mut session = shared
            .session
            .write()
            .map_err(|_| RepoError::Internal("chunk session lock poisoned".into()))?;
        let mut resumed = Resumed::default();
        for pack in packs {
            let Some(stored) = pack_sizes
                .object_size(&pack.name)
                .filter(|&size| size >= pack.bytes())
            else {
                resumed.packs_missing += 1;
                continue;
            };
            let slot = match self.slot_of.get(&pack.name) {
                Some(&s) => s,
                None => {
                    let s = self.slots.len() as u32;
                    self.slots.push(Some(pack.name.clone()));
                    self.slot_of.insert(pack.name.clone(), s);
                    s
                }
            };
            for c in &pack.chunks {
                session.entry(ChunkId(c.id)).or_insert(Loc {
                    slot,
                    offset: c.offset,
                    length: c.length,
                    size: c.size,
                });
            }
            resumed.packs += 1;
            resumed.bytes += stored;
        }
        Ok(resumed)
    }

    /// Calls `hook` after each pack upload completes, with the pack's name
    /// and chunks: what a caller journals to resume this backup after a crash.
    pub fn on_pack_uploaded(&mut self, hook: PackUploadedHook) {
        self.on_pack_uploaded = Some(hook);
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

    fn note_memory(&mut self) {
        let entry = self
            .stage
            .as_ref()
            .and_then(|s| s.open.as_ref())
            .map_or(0, |e| e.buf.len());
        let pack = self.pack.as_ref().map_or(0, PackBuilder::len);
        let now = (entry + self.batch_bytes + pack) as u64 + self.jobs_bytes + self.uploading_bytes;
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(now);
    }

    /// Starts a stage. Stage names are unique within a backup.
    pub async fn begin_stage(
        &mut self,
        name: &str,
        plugin: &str,
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
        if self.stages.iter().any(|s| s.name == name) {
            return Err(RepoError::Misuse(format!(
                "stage {name:?} was already written"
            )));
        }
        self.stage = Some(StageBuild {
            name: name.to_string(),
            plugin: plugin.to_string(),
            entries: Vec::new(),
            open: None,
            files: FilePaths::default(),
        });
        Ok(StageWriter { w: self })
    }

    fn open_entry(&mut self) -> Result<&mut OpenEntry, RepoError> {
        self.stage
            .as_mut()
            .ok_or_else(|| RepoError::Misuse("no stage is open".into()))?
            .open
            .as_mut()
            .ok_or_else(|| RepoError::Misuse("no entry is open (call begin_entry first)".into()))
    }

    fn begin_entry_inner(&mut self, meta: EntryMeta) -> Result<(), RepoError> {
        let stage = between_entries(&mut self.stage)?;
        admit_entry(stage, &meta)?;
        let file = meta.kind == EntryKind::File;
        stage.open = Some(OpenEntry {
            index: stage.entries.len(),
            file,
            buf: Vec::new(),
        });
        stage.entries.push(EntryRecord {
            meta,
            size: 0,
            chunks: Vec::new(),
        });
        Ok(())
    }

    async fn write_inner(&mut self, mut data: &[u8]) -> Result<(), RepoError> {
        while !data.is_empty() {
            let entry = self.open_entry()?;
            if !entry.file {
                return Err(RepoError::Misuse("only file entries have content".into()));
            }
            let n = (SEGMENT - entry.buf.len().min(SEGMENT))
                .min(data.len())
                .max(1);
            if entry.buf.len() + n > entry.buf.capacity() && entry.buf.capacity() > 0 {
                // The entry is larger than its first write: grow once, straight
                // to a whole segment, instead of doubling (and copying) repeatedly.
                entry.buf.reserve_exact(SEGMENT - entry.buf.len());
            }
            entry.buf.extend_from_slice(&data[..n]);
            let full = entry.buf.len() >= SEGMENT;
            let index = entry.index;
            data = &data[n..];
            if let Some(stage) = self.stage.as_mut() {
                stage.entries[index].size += n as u64;
            }
            self.stats.bytes_in += n as u64;
            self.note_memory();
            if full {
                self.cut_entry(false).await?;
            }
        }
        Ok(())
    }

    async fn end_entry_inner(&mut self) -> Result<(), RepoError> {
        let entry = self.open_entry()?;
        if entry.file {
            self.cut_entry(true).await?;
        }
        if let Some(stage) = self.stage.as_mut() {
            stage.open = None;
        }
        Ok(())
    }

    /// Cuts the buffered part of the open entry into chunks and queues them.
    async fn cut_entry(&mut self, last: bool) -> Result<(), RepoError> {
        let keys = self.shared.keys.clone();
        let entry = self.open_entry()?;
        let index = entry.index;
        let buf = std::mem::take(&mut entry.buf);
        let chunks = if last && buf.len() <= MIN_CHUNK {
            // No cut is ever below the minimum: one chunk, no work to do.
            if buf.is_empty() {
                Vec::new()
            } else {
                vec![Bytes::from(buf)]
            }
        } else {
            let (chunks, tail) = tokio::task::spawn_blocking(move || {
                chunker::cut(Bytes::from(buf), keys.chunker(), last)
            })
            .await
            .map_err(RepoError::join)?;
            self.open_entry()?.buf = tail;
            chunks
        };
        for c in chunks {
            self.queue_chunk(index, c).await?;
        }
        Ok(())
    }

    async fn queue_chunk(&mut self, entry: usize, data: Bytes) -> Result<(), RepoError> {
        self.batch_bytes += data.len();
        self.batch.push((entry, data));
        self.note_memory();
        if self.batch_bytes >= BATCH_BYTES || self.batch.len() >= BATCH_CHUNKS {
            self.submit_batch().await?;
        }
        Ok(())
    }

    async fn submit_batch(&mut self) -> Result<(), RepoError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        while self.jobs.len() >= MAX_JOBS
            || (self.jobs_bytes >= MAX_JOB_BYTES && !self.jobs.is_empty())
        {
            self.consume_one().await?;
        }
        let batch = std::mem::take(&mut self.batch);
        let bytes = std::mem::take(&mut self.batch_bytes) as u64;
        let (targets, chunks): (Vec<usize>, Vec<Bytes>) = batch.into_iter().unzip();
        let shared = self.shared.clone();
        let handle = tokio::task::spawn_blocking(move || process(&shared, chunks));
        self.jobs_bytes += bytes;
        self.jobs.push_back(Job {
            targets,
            bytes,
            handle,
        });
        self.note_memory();
        Ok(())
    }

    /// Waits for the oldest chunk job and records its chunks, in order.
    async fn consume_one(&mut self) -> Result<(), RepoError> {
        let Some(job) = self.jobs.pop_front() else {
            return Ok(());
        };
        let outcomes = job.handle.await.map_err(RepoError::join)??;
        if outcomes.len() != job.targets.len() {
            return Err(RepoError::Internal("chunk job lost chunks".into()));
        }
        for (entry, outcome) in job.targets.into_iter().zip(outcomes) {
            let (id, loc) = match outcome {
                Outcome::Known { id, found } => (id, self.reference(id, found)?),
                Outcome::New { id, size, blob } => {
                    // Another job of this backup may have stored it meanwhile.
                    let existing = self.shared.session()?.get(&id).copied();
                    match existing {
                        Some(loc) => (id, loc),
                        None => (id, self.append_blob(id, size, blob).await?),
                    }
                }
            };
            let pos = self.chunk_position(id, loc);
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
        self.jobs_bytes -= job.bytes;
        Ok(())
    }

    /// The location of an already stored chunk, giving a pack found in the
    /// index a slot of this writer.
    fn reference(&mut self, id: ChunkId, found: Found) -> Result<Loc, RepoError> {
        let hit = match found {
            Found::Session(loc) => return Ok(loc),
            Found::Index(hit) => hit,
        };
        if let Some(loc) = self.shared.session()?.get(&id) {
            return Ok(*loc);
        }
        let name = names::pack_object(&hit.pack);
        let slot = match self.slot_of.get(&name) {
            Some(&slot) => slot,
            None => {
                let slot = self.slots.len() as u32;
                self.slots.push(Some(name.clone()));
                self.slot_of.insert(name, slot);
                slot
            }
        };
        let loc = Loc {
            slot,
            offset: hit.offset,
            length: hit.length,
            size: hit.size,
        };
        self.shared.remember(id, loc)?;
        Ok(loc)
    }

    /// The chunk's index in this backup's chunk table, adding it if new.
    fn chunk_position(&mut self, id: ChunkId, loc: Loc) -> u32 {
        match self.chunk_pos.get(&id) {
            Some(&p) => p,
            None => {
                let p = self.chunk_table.len() as u32;
                self.chunk_table.push((id, loc));
                self.chunk_pos.insert(id, p);
                p
            }
        }
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
        admit_entry(stage, &meta)?;
        let mut chunks = Vec::with_capacity(file.chunks.len());
        for (id, found) in file.chunks {
            let loc = self.reference(id, found)?;
            chunks.push(self.chunk_position(id, loc));
        }
        self.stats.chunks_total += chunks.len() as u64;
        self.stats.bytes_reused += file.size;
        self.stats.files_reused += 1;
        if let Some(stage) = self.stage.as_mut() {
            stage.entries.push(EntryRecord {
                meta,
                size: file.size,
                chunks,
            });
        }
        Ok(())
    }

    async fn drain_jobs(&mut self) -> Result<(), RepoError> {
        self.submit_batch().await?;
        while !self.jobs.is_empty() {
            self.consume_one().await?;
        }
        Ok(())
    }

    async fn append_blob(
        &mut self,
        id: ChunkId,
        size: u32,
        blob: Vec<u8>,
    ) -> Result<Loc, RepoError> {
        if self
            .pack
            .as_ref()
            .is_some_and(|p| p.would_overflow(blob.len()))
        {
            self.seal_pack().await?;
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
        self.stats.bytes_stored_new += length as u64;
        self.stats.chunks_new += 1;
        self.shared.remember(id, loc)?;
        self.note_memory();
        if full {
            self.seal_pack().await?;
        }
        Ok(loc)
    }

    /// Hands the open pack to an upload task, waiting while the maximum number
    /// of uploads is in flight.
    async fn seal_pack(&mut self) -> Result<(), RepoError> {
        let Some(pack) = self.pack.take() else {
            return Ok(());
        };
        if pack.is_empty() {
            return Ok(());
        }
        while self.uploads.len() >= MAX_UPLOADS_IN_FLIGHT {
            self.join_upload().await?;
        }
        let size = pack.sealed_len() as u64;
        let slot = pack.slot;
        let store = self.store.clone();
        let hook = self.on_pack_uploaded.clone();
        let chunks = self.pack_chunks.remove(&slot).unwrap_or_default();
        self.stats.bytes_padding += size - pack.len() as u64;
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
        self.stats.peak_uploads_in_flight = self
            .stats
            .peak_uploads_in_flight
            .max(self.uploads.len() as u64);
        self.note_memory();
        Ok(())
    }

    async fn join_upload(&mut self) -> Result<(), RepoError> {
        let Some(res) = self.uploads.join_next().await else {
            return Ok(());
        };
        let (slot, name, size, placement) = res.map_err(RepoError::join)??;
        self.uploading_bytes -= size;
        self.placements.insert(slot, placement);
        self.stats.packs_written += 1;
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(name.clone());
        }
        self.slot_of.insert(name, slot);
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

    /// Uploads the remaining packs, then the manifest, then the commit record
    /// (which makes the backup visible). Returns the public information.
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
            self.seal_pack().await?;
            while !self.uploads.is_empty() {
                self.join_upload().await?;
            }
            self.write_manifest_and_record(complete_time).await
        }
        .instrument(span)
        .await
    }

    async fn write_manifest_and_record(
        &mut self,
        complete_time: i64,
    ) -> Result<BackupInfo, RepoError> {
        let key_id = self.shared.keys.key_id_hex();
        let chunk_table = std::mem::take(&mut self.chunk_table);
        let slots = std::mem::take(&mut self.slots);
        let placements = std::mem::take(&mut self.placements);
        let stages = std::mem::take(&mut self.stages);
        let backup = self.info.name.clone();
        let shared = self.shared.clone();
        let kid = key_id.clone();
        // Assembling, serialising, compressing and encrypting the manifest is
        // O(chunks) of CPU: do it on a blocking thread.
        let (sealed, hash, packs) = tokio::task::spawn_blocking(move || {
            let manifest =
                assemble_manifest(backup, kid, &chunk_table, &slots, &placements, stages)?;
            let json =
                serde_json::to_vec(&manifest).map_err(|e| RepoError::Internal(e.to_string()))?;
            let sealed = blob::seal_manifest(&shared.keys, &json).map_err(RepoError::Internal)?;
            let hash = pack::pack_hash(&sealed);
            Ok::<_, RepoError>((sealed, hash, manifest.packs))
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
        let shared = self.shared.clone();
        let record_bytes = tokio::task::spawn_blocking(move || {
            record.sign(&shared.keys);
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

/// Builds the manifest: the packs this backup references (sorted) and its
/// chunk table with pack slots turned into indices of that list, and offsets
/// in the packs this backup wrote turned into offsets in the shuffled packs.
fn assemble_manifest(
    backup: String,
    key_id: String,
    chunk_table: &[(ChunkId, Loc)],
    slots: &[Option<String>],
    placements: &HashMap<u32, Placement>,
    stages: Vec<StageRecord>,
) -> Result<Manifest, RepoError> {
    let slot_name = |slot: u32| {
        slots
            .get(slot as usize)
            .and_then(|s| s.as_deref())
            .ok_or_else(|| RepoError::Internal("chunk in a pack that was never uploaded".into()))
    };
    let mut referenced = BTreeSet::new();
    for (_, loc) in chunk_table {
        referenced.insert(slot_name(loc.slot)?);
    }
    let packs: Vec<String> = referenced.into_iter().map(str::to_string).collect();
    let pack_index: HashMap<&str, u32> = packs
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32))
        .collect();
    let mut chunks = Vec::with_capacity(chunk_table.len());
    for (id, loc) in chunk_table {
        let pack = *pack_index
            .get(slot_name(loc.slot)?)
            .ok_or_else(|| RepoError::Internal("pack index lost".into()))?;
        let offset = match placements.get(&loc.slot) {
            Some(placement) => placement
                .offset(loc.offset)
                .ok_or_else(|| RepoError::Internal("blob missing from its sealed pack".into()))?,
            None => loc.offset,
        };
        chunks.push(ChunkRecord {
            id: *id,
            pack,
            offset,
            length: loc.length,
            size: loc.size,
        });
    }
    Ok(Manifest {
        version: MANIFEST_VERSION,
        backup,
        key_id,
        packs,
        chunks,
        stages,
    })
}

impl StageWriter<'_> {
    /// Starts an entry; the previous one must have been ended.
    pub async fn begin_entry(&mut self, meta: EntryMeta) -> Result<(), RepoError> {
        self.w.check_failed()?;
        self.w.begin_entry_inner(meta)
    }

    /// Adds `meta`, a file of `size` bytes, as a complete entry with the
    /// content the same path had in the newest earlier backup under this key,
    /// if that file had the same size and modification time and all its
    /// chunks are still stored. Returns `false`, having added nothing,
    /// otherwise: the caller then writes the entry as usual.
    pub async fn reuse_unchanged(&mut self, meta: EntryMeta, size: u64) -> Result<bool, RepoError> {
        self.w.check_failed()?;
        between_entries(&mut self.w.stage)?;
        meta.validate()
            .map_err(|e| RepoError::InvalidEntry(e.to_string()))?;
        let unchanged = self.unchanged_files()?;
        let (found, meta) =
            tokio::task::spawn_blocking(move || (unchanged.lookup(&meta, size), meta))
                .await
                .map_err(RepoError::join)?;
        match self.w.guard(found)? {
            Some(file) => self.add_unchanged(meta, file).map(|()| true),
            None => Ok(false),
        }
    }

    /// What answers [`UnchangedFiles::lookup`] for this stage.
    pub fn unchanged_files(&self) -> Result<UnchangedFiles, RepoError> {
        let stage = self
            .w
            .stage
            .as_ref()
            .ok_or_else(|| RepoError::Misuse("no stage is open".into()))?;
        Ok(UnchangedFiles {
            shared: self.w.shared.clone(),
            previous: self.w.previous.clone(),
            stage: stage.name.as_str().into(),
        })
    }

    /// Adds a file [`UnchangedFiles::lookup`] found as a complete entry.
    pub fn add_unchanged(&mut self, meta: EntryMeta, file: UnchangedFile) -> Result<(), RepoError> {
        self.w.check_failed()?;
        let r = self.w.add_unchanged_inner(meta, file);
        self.w.guard(r)
    }

    /// Appends content to the open file entry. Waits while the pipeline is full.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), RepoError> {
        self.w.check_failed()?;
        let r = self.w.write_inner(data).await;
        self.w.guard(r)
    }

    /// Ends the open entry.
    pub async fn end_entry(&mut self) -> Result<(), RepoError> {
        self.w.check_failed()?;
        let r = self.w.end_entry_inner().await;
        self.w.guard(r)
    }

    /// Finishes the stage: waits for its chunks and records its metadata.
    pub async fn finish(
        self,
        metadata: Vec<(String, String)>,
        start_time: i64,
        end_time: i64,
    ) -> Result<StagePublic, RepoError> {
        self.w.check_failed()?;
        let r = self
            .w
            .finish_stage_inner(metadata, start_time, end_time)
            .await;
        self.w.guard(r)
    }

    /// Progress of the whole backup.
    pub fn stats(&self) -> WriteStats {
        self.w.stats()
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

impl std::fmt::Debug for StageWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageWriter")
            .field("stage", &self.w.stage.as_ref().map(|s| s.name.as_str()))
            .finish_non_exhaustive()
    }
}
