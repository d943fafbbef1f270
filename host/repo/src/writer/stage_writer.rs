//! The public face of one stage being written: entries in order, each
//! begun, written and ended, or taken over unchanged from the previous
//! backup.

use super::stage::between_entries;
use super::{BackupWriter, UnchangedFile, UnchangedFiles, WriteStats};
use crate::StagePublic;
use crate::archive::{EntryKind, EntryMeta};
use crate::error::RepoError;

/// Writes the entries of one stage. Obtained from [`BackupWriter::begin_stage`];
/// must be [`finish`](StageWriter::finish)ed before the next stage or commit.
pub struct StageWriter<'a> {
    w: &'a mut BackupWriter,
}

impl<'a> StageWriter<'a> {
    pub(super) fn new(w: &'a mut BackupWriter) -> Self {
        StageWriter { w }
    }

    /// Starts an entry; the previous one must have been ended.
    pub async fn begin_entry(&mut self, meta: EntryMeta) -> Result<(), RepoError> {
        self.w.check_failed()?;
        let stage = between_entries(&mut self.w.stage)?;
        let guide = match meta.kind {
            EntryKind::File => self.w.previous.guide(&stage.name, &meta.path),
            _ => None,
        };
        stage.open(meta, guide)
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
            dedup: self.w.dedup.clone(),
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

impl std::fmt::Debug for StageWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageWriter")
            .field("stage", &self.w.stage.as_ref().map(|s| s.name.as_str()))
            .finish_non_exhaustive()
    }
}
