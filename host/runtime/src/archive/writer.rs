//! The host side of `archive-writer` (and `archive-reuse`): checks a
//! backing-up stage's calls and forwards them as events.

use std::collections::HashSet;

use bytes::Bytes;
use drhost_repo::{EntryKind, EntryMeta, RawName, UnchangedFiles};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use wasmtime::component::Resource;

use super::{ArchiveBatch, ArchiveEvent, Pending, entry_from_wit};
use crate::bindings::stage::drhost::plugin::archive::{self as wit, HostArchiveWriter};
use crate::bindings::stage::drhost::plugin::archive_reuse;
use crate::bindings::stage::drhost::plugin::types::PluginError;
use crate::limits::MAX_CHUNK_BYTES;
use crate::notes::CallNotes;
use crate::resources::ResourceHost;

/// The entry a writer is in the middle of.
struct OpenEntry {
    path: RawName,
    kind: EntryKind,
    /// Content bytes written so far.
    size: u64,
    /// The content's running SHA-256, once the plugin asked for it
    /// (`content.hash-entry`).
    hash: Option<Sha256>,
}

/// Host side of `archive-writer`: checks the protocol and forwards events to
/// the backup pipeline in batches through a bounded channel (back-pressure).
pub struct ArchiveWriter {
    out: mpsc::Sender<ArchiveBatch>,
    pending: Pending,
    /// Answers `reuse-unchanged`; without it no file is taken over.
    unchanged: Option<UnchangedFiles>,
    open: Option<OpenEntry>,
    bytes: u64,
    max_bytes: Option<u64>,
    /// Paths of the symlink entries written so far: no later entry may lie
    /// below one, or a restore would write through the link, possibly out of
    /// its target (a real directory walk never yields such an entry).
    symlinks: HashSet<RawName>,
}

impl ArchiveWriter {
    pub(crate) fn new(
        out: mpsc::Sender<ArchiveBatch>,
        unchanged: Option<UnchangedFiles>,
        max_bytes: Option<u64>,
    ) -> Self {
        Self {
            out,
            pending: Pending::default(),
            unchanged,
            open: None,
            bytes: 0,
            max_bytes,
            symlinks: HashSet::new(),
        }
    }

    /// Refuses `meta` if it lies below a symlink entry; remembers symlinks.
    fn check_symlinks(&mut self, meta: &EntryMeta) -> Result<(), Refusal> {
        let path = meta.path.as_bytes();
        let below_link = path
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .map(|(end, _)| RawName(path[..end].to_vec()))
            .find(|parent| self.symlinks.contains(parent));
        if let Some(link) = below_link {
            return Err(Refusal::Protocol(format!(
                "entry {:?} lies below symlink entry {link:?}; entries may not be placed behind a symlink",
                meta.path
            )));
        }
        if meta.kind == EntryKind::Symlink {
            self.symlinks.insert(meta.path.clone());
        }
        Ok(())
    }

    /// The path of an entry begun and never ended, checked when backup returns.
    pub(crate) fn unfinished_entry(&self) -> Option<&RawName> {
        self.open.as_ref().map(|e| &e.path)
    }
}

/// Why a writer call was refused.
pub(crate) enum Refusal {
    /// The plugin broke the protocol; remembered so the call fails.
    Protocol(String),
    /// The archive limit; remembered so the call fails.
    Limit(u64),
    /// The consumer of the archive went away (its own error is the cause).
    Closed,
    /// Host code failed (e.g. reading the chunk index).
    Host(String),
}

impl ArchiveWriter {
    fn begin(&mut self, meta: wit::EntryMeta) -> Result<ArchiveEvent, Refusal> {
        if let Some(open) = &self.open {
            return Err(Refusal::Protocol(format!(
                "began entry {:?} before ending entry {:?}",
                RawName(meta.path),
                open.path
            )));
        }
        let meta = entry_from_wit(meta).map_err(Refusal::Protocol)?;
        self.check_symlinks(&meta)?;
        self.open = Some(OpenEntry {
            path: meta.path.clone(),
            kind: meta.kind,
            size: 0,
            hash: None,
        });
        Ok(ArchiveEvent::Begin(meta))
    }

    fn data(&mut self, data: Vec<u8>) -> Result<Option<ArchiveEvent>, Refusal> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| Refusal::Protocol("wrote data outside an entry".into()))?;
        if open.kind != EntryKind::File {
            return Err(Refusal::Protocol(format!(
                "wrote data into {:?}, which is not a regular file",
                open.path
            )));
        }
        if data.len() > MAX_CHUNK_BYTES {
            return Err(Refusal::Protocol(format!(
                "wrote {} bytes in one call; the limit is {MAX_CHUNK_BYTES}",
                data.len()
            )));
        }
        let total = self.bytes.saturating_add(data.len() as u64);
        if let Some(max) = self.max_bytes.filter(|max| total > *max) {
            return Err(Refusal::Limit(max));
        }
        self.bytes = total;
        open.size += data.len() as u64;
        if let Some(hash) = &mut open.hash {
            hash.update(&data);
        }
        Ok((!data.is_empty()).then(|| ArchiveEvent::Data(Bytes::from(data))))
    }

    /// Starts hashing the open file entry's content (`content.hash-entry`).
    pub(crate) fn hash_entry(&mut self) -> Result<(), Refusal> {
        match &mut self.open {
            Some(open) if open.kind == EntryKind::File && open.size == 0 => {
                open.hash.get_or_insert_with(Sha256::new);
                Ok(())
            }
            Some(open) if open.kind != EntryKind::File => Err(Refusal::Protocol(format!(
                "asked to hash {:?}, which is not a regular file",
                open.path
            ))),
            Some(open) => Err(Refusal::Protocol(format!(
                "asked to hash {:?} after its content began",
                open.path
            ))),
            None => Err(Refusal::Protocol("asked to hash outside an entry".into())),
        }
    }

    /// Size and SHA-256 of the open entry's content (`content.entry-digest`).
    pub(crate) fn entry_digest(&self) -> Result<(u64, [u8; 32]), Refusal> {
        let open = self
            .open
            .as_ref()
            .ok_or_else(|| Refusal::Protocol("asked for a digest outside an entry".into()))?;
        let hash = open.hash.as_ref().ok_or_else(|| {
            Refusal::Protocol(format!(
                "asked for the digest of {:?} without hash-entry",
                open.path
            ))
        })?;
        Ok((open.size, hash.clone().finalize().into()))
    }

    fn end(&mut self) -> Result<ArchiveEvent, Refusal> {
        self.open
            .take()
            .map(|_| ArchiveEvent::End)
            .ok_or_else(|| Refusal::Protocol("ended an entry that was not begun".into()))
    }

    /// The entry for `meta` if it is an unchanged file of `size` bytes.
    fn reuse(&mut self, meta: wit::EntryMeta, size: u64) -> Result<Option<ArchiveEvent>, Refusal> {
        if let Some(open) = &self.open {
            return Err(Refusal::Protocol(format!(
                "asked to reuse {:?} before ending entry {:?}",
                RawName(meta.path),
                open.path
            )));
        }
        let meta = entry_from_wit(meta).map_err(Refusal::Protocol)?;
        self.check_symlinks(&meta)?;
        let Some(unchanged) = &self.unchanged else {
            return Ok(None);
        };
        // Blocks on the index file at worst: stage calls have their own thread.
        let found = unchanged
            .lookup(&meta, size)
            .map_err(|e| Refusal::Host(format!("cannot look up unchanged files: {e}")))?;
        Ok(found.map(|file| ArchiveEvent::Unchanged { meta, file }))
    }

    /// Appends `data` to the open file entry (`write`).
    pub(crate) async fn write(&mut self, data: Vec<u8>) -> Result<(), Refusal> {
        match self.data(data)? {
            Some(event) => self.push(event).await,
            None => Ok(()),
        }
    }

    /// Queues `event`, sending the batch once it is full.
    async fn push(&mut self, event: ArchiveEvent) -> Result<(), Refusal> {
        if self.pending.add(event) {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends what is queued; called once more when the backup returns.
    pub(crate) async fn flush(&mut self) -> Result<(), Refusal> {
        match self.pending.take() {
            Some(batch) => self.out.send(batch).await.map_err(|_| Refusal::Closed),
            None => Ok(()),
        }
    }
}

impl Refusal {
    /// Records why a writer call was refused and tells the plugin.
    pub(crate) fn record(self, notes: &mut CallNotes) -> PluginError {
        match self {
            Refusal::Protocol(message) => {
                notes.protocol(message.clone());
                PluginError::InvalidData(message)
            }
            Refusal::Limit(max) => {
                notes.archive_limit.get_or_insert(max);
                PluginError::Denied(format!("the archive size limit of {max} bytes is reached"))
            }
            Refusal::Closed => {
                notes.host_failure("the backup pipeline stopped accepting data");
                PluginError::Io("the host stopped accepting archive data".into())
            }
            Refusal::Host(message) => {
                notes.host_failure(message.clone());
                PluginError::Io(message)
            }
        }
    }
}

impl HostArchiveWriter for ResourceHost<'_> {
    async fn begin_entry(
        &mut self,
        writer: Resource<ArchiveWriter>,
        meta: wit::EntryMeta,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let writer = self.table.get_mut(&writer)?;
        let result = match writer.begin(meta) {
            Ok(event) => writer.push(event).await,
            Err(refusal) => Err(refusal),
        };
        Ok(result.map_err(|r| r.record(self.notes)))
    }

    async fn write(
        &mut self,
        writer: Resource<ArchiveWriter>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let result = self.table.get_mut(&writer)?.write(data).await;
        Ok(result.map_err(|r| r.record(self.notes)))
    }

    async fn end_entry(
        &mut self,
        writer: Resource<ArchiveWriter>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let writer = self.table.get_mut(&writer)?;
        let result = match writer.end() {
            Ok(event) => writer.push(event).await,
            Err(refusal) => Err(refusal),
        };
        Ok(result.map_err(|r| r.record(self.notes)))
    }

    async fn drop(&mut self, writer: Resource<ArchiveWriter>) -> wasmtime::Result<()> {
        self.table.delete(writer)?;
        Ok(())
    }
}

impl archive_reuse::Host for ResourceHost<'_> {
    async fn reuse_unchanged(
        &mut self,
        writer: Resource<ArchiveWriter>,
        meta: wit::EntryMeta,
        size: u64,
    ) -> wasmtime::Result<Result<bool, PluginError>> {
        let writer = self.table.get_mut(&writer)?;
        let result = match writer.reuse(meta, size) {
            Ok(Some(event)) => writer.push(event).await.map(|()| true),
            Ok(None) => Ok(false),
            Err(refusal) => Err(refusal),
        };
        Ok(result.map_err(|r| r.record(self.notes)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::convert::test_meta::wit_meta;
    use super::*;

    #[test]
    fn no_entry_may_lie_below_a_symlink_entry() {
        let mut w = ArchiveWriter::new(mpsc::channel(8).0, None, None);
        assert!(w.begin(wit_meta("a/link", wit::EntryKind::Symlink)).is_ok());
        assert!(w.end().is_ok());
        for path in ["a/link/x", "a/link/deeper/x"] {
            match w.begin(wit_meta(path, wit::EntryKind::File)) {
                Err(Refusal::Protocol(m)) => assert!(m.contains("\"a/link\""), "{m}"),
                _ => panic!("{path} accepted"),
            }
            assert!(matches!(
                w.reuse(wit_meta(path, wit::EntryKind::File), 1),
                Err(Refusal::Protocol(_))
            ));
        }
        // Siblings and names that merely start with the link's name are fine.
        for path in ["a/linked", "a/x", "a/link2/x"] {
            assert!(
                w.begin(wit_meta(path, wit::EntryKind::File)).is_ok(),
                "{path}"
            );
            assert!(w.end().is_ok());
        }
    }

    #[test]
    fn the_host_hashes_an_entry_only_from_its_start_and_only_when_asked() {
        let mut w = ArchiveWriter::new(mpsc::channel(8).0, None, None);
        assert!(
            matches!(w.hash_entry(), Err(Refusal::Protocol(_))),
            "no entry"
        );
        assert!(w.begin(wit_meta("d", wit::EntryKind::Directory)).is_ok());
        assert!(
            matches!(w.hash_entry(), Err(Refusal::Protocol(_))),
            "a directory"
        );
        assert!(w.end().is_ok());
        assert!(w.begin(wit_meta("f", wit::EntryKind::File)).is_ok());
        assert!(
            matches!(w.entry_digest(), Err(Refusal::Protocol(_))),
            "not asked"
        );
        assert!(w.hash_entry().is_ok());
        assert!(w.data(b"hello ".to_vec()).is_ok());
        assert!(w.data(b"world".to_vec()).is_ok());
        assert!(
            matches!(w.hash_entry(), Err(Refusal::Protocol(_))),
            "too late"
        );
        let (size, sha256) = w.entry_digest().unwrap_or_else(|_| panic!());
        assert_eq!(size, 11);
        assert_eq!(sha256, <[u8; 32]>::from(Sha256::digest(b"hello world")));
        assert!(w.end().is_ok());
        assert!(
            matches!(w.entry_digest(), Err(Refusal::Protocol(_))),
            "ended"
        );
    }

    #[test]
    fn writer_enforces_order_kinds_and_limits() {
        let (tx, _rx) = mpsc::channel(8);
        let mut w = ArchiveWriter::new(tx, None, Some(10));
        assert!(matches!(w.data(vec![1]), Err(Refusal::Protocol(_))));
        assert!(matches!(w.end(), Err(Refusal::Protocol(_))));
        assert!(w.begin(wit_meta("d", wit::EntryKind::Directory)).is_ok());
        assert!(
            matches!(w.data(vec![1]), Err(Refusal::Protocol(_))),
            "data into a directory"
        );
        assert!(matches!(
            w.begin(wit_meta("f", wit::EntryKind::File)),
            Err(Refusal::Protocol(_))
        ));
        assert!(w.end().is_ok());
        assert!(w.begin(wit_meta("f", wit::EntryKind::File)).is_ok());
        assert!(matches!(w.data(vec![]), Ok(None)));
        assert!(matches!(
            w.data(vec![0; 10]),
            Ok(Some(ArchiveEvent::Data(_)))
        ));
        assert!(matches!(w.data(vec![0; 1]), Err(Refusal::Limit(10))));
        assert_eq!(w.unfinished_entry(), Some(&RawName::from("f")));
        let mut big = ArchiveWriter::new(mpsc::channel(1).0, None, None);
        big.begin(wit_meta("f", wit::EntryKind::File))
            .unwrap_or_else(|_| panic!());
        assert!(matches!(
            big.data(vec![0; MAX_CHUNK_BYTES + 1]),
            Err(Refusal::Protocol(_))
        ));
    }
}
