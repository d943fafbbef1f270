//! What the newest earlier backup under the same key holds, so that a stage
//! can skip reading files that did not change.

use std::collections::HashMap;
use std::sync::Arc;

use super::dedup::{Dedup, Found};
use super::guide::{GUIDED_FROM, Guide};
use crate::archive::{EntryKind, EntryMeta, RawName};
use crate::error::RepoError;
use crate::keys::ChunkId;
use crate::manifest::Manifest;

/// Answers, for one stage, whether a file is unchanged since the newest
/// earlier backup under the same key, without going through the writer: a
/// stage asks for every file it meets, so the question is answered where it
/// is asked, and only the answer travels (as an [`UnchangedFile`] for
/// [`super::StageWriter::add_unchanged`]). Cheap to clone and usable from any
/// thread; a lookup may read the index file, so it blocks.
#[derive(Clone)]
pub struct UnchangedFiles {
    pub(super) dedup: Arc<Dedup>,
    pub(super) previous: Arc<PreviousFiles>,
    pub(super) stage: Arc<str>,
}

/// A file found unchanged: its size and where its chunks are stored.
pub struct UnchangedFile {
    pub(super) stage: Arc<str>,
    pub(super) size: u64,
    pub(super) chunks: Vec<(ChunkId, Found)>,
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
            .map(|(id, _)| Ok(self.dedup.find(id)?.map(|f| (*id, f))))
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
/// unchanged, and its content as chunk ids and sizes.
struct PreviousFile {
    size: u64,
    mtime: (i64, u32),
    chunks: Vec<(ChunkId, u32)>,
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
                            .map(|&i| m.chunks.get(i as usize).map(|c| (c.id, c.size)))
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

    /// The cuts of the file at `path` in the previous backup, to cut its new
    /// version by, if it is large enough to be worth it.
    pub(super) fn guide(&self, stage: &str, path: &RawName) -> Option<Guide> {
        let previous = self.get(stage, path)?;
        if previous.size < GUIDED_FROM {
            return None;
        }
        Some(Guide::new(previous.chunks.iter().copied()))
    }
}
