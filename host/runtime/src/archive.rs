//! `drhost:plugin/archive`: the host-owned archive writer a stage backs up
//! into and the reader it restores from, bridged to tokio channels.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;
use drhost_repo::{EntryKind, EntryMeta, Owner, RawName, UnchangedFile, UnchangedFiles};
use tokio::sync::mpsc;
use wasmtime::component::Resource;

use crate::bindings::stage::drhost::plugin::archive::{
    self as wit, HostArchiveReader, HostArchiveWriter,
};
use crate::bindings::stage::drhost::plugin::archive_reuse;
use crate::bindings::stage::drhost::plugin::types::PluginError;
use crate::limits::MAX_CHUNK_BYTES;
use crate::state::PluginState;

/// What a stage's backup produces and its restore consumes, in order:
/// `Begin`, any `Data` (files only), `End`, next entry... A backup may also
/// send `Unchanged` between entries.
#[derive(Debug)]
pub enum ArchiveEvent {
    Begin(EntryMeta),
    Data(Bytes),
    End,
    /// A complete file entry taken over from the previous backup
    /// (`archive-reuse`), already looked up.
    Unchanged {
        meta: EntryMeta,
        file: UnchangedFile,
    },
}

/// Events travel between a plugin's thread and the repository in batches:
/// one hand-off per batch rather than three per small file.
pub type ArchiveBatch = Vec<ArchiveEvent>;

/// A batch is sent once it holds this many events…
const BATCH_EVENTS: usize = 256;
/// …or this many content bytes (one data event holds at most 4 MiB).
const BATCH_BYTES: usize = 1 << 20;

/// Events gathered for the next hand-off.
#[derive(Default)]
struct Pending {
    events: ArchiveBatch,
    bytes: usize,
}

impl Pending {
    /// Adds `event`; true once the batch is full.
    fn add(&mut self, event: ArchiveEvent) -> bool {
        if let ArchiveEvent::Data(data) = &event {
            self.bytes += data.len();
        }
        self.events.push(event);
        self.events.len() >= BATCH_EVENTS || self.bytes >= BATCH_BYTES
    }

    /// The batch to send, if there is one.
    fn take(&mut self) -> Option<ArchiveBatch> {
        self.bytes = 0;
        Some(std::mem::take(&mut self.events)).filter(|events| !events.is_empty())
    }
}

/// The sending side of a restore's input (what [`StagePlugin::restore`]
/// reads from), in batches.
///
/// [`StagePlugin::restore`]: crate::StagePlugin::restore
pub struct RestoreFeed {
    tx: mpsc::Sender<Result<ArchiveBatch, String>>,
    pending: Pending,
}

/// The restoring plugin stopped reading; its own result says why.
#[derive(Debug)]
pub struct PluginGone;

impl RestoreFeed {
    pub fn new(tx: mpsc::Sender<Result<ArchiveBatch, String>>) -> Self {
        Self {
            tx,
            pending: Pending::default(),
        }
    }

    /// Queues `event`, sending the batch once it is full.
    pub async fn push(&mut self, event: ArchiveEvent) -> Result<(), PluginGone> {
        if self.pending.add(event) {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends what is queued.
    pub async fn flush(&mut self) -> Result<(), PluginGone> {
        match self.pending.take() {
            Some(batch) => self.tx.send(Ok(batch)).await.map_err(|_| PluginGone),
            None => Ok(()),
        }
    }

    /// Sends what is queued (it is intact), then the input's failure.
    pub async fn fail(mut self, message: String) {
        if self.flush().await.is_ok() {
            let _ = self.tx.send(Err(message)).await;
        }
    }
}

/// The entry a writer is in the middle of.
struct OpenEntry {
    path: RawName,
    kind: EntryKind,
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
        });
        Ok(ArchiveEvent::Begin(meta))
    }

    fn data(&mut self, data: Vec<u8>) -> Result<Option<ArchiveEvent>, Refusal> {
        let open = self
            .open
            .as_ref()
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
        Ok((!data.is_empty()).then(|| ArchiveEvent::Data(Bytes::from(data))))
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

impl PluginState {
    /// Records why a writer call was refused and tells the plugin.
    pub(crate) fn refuse(&mut self, refusal: Refusal) -> PluginError {
        match refusal {
            Refusal::Protocol(message) => {
                self.notes.protocol(message.clone());
                PluginError::InvalidData(message)
            }
            Refusal::Limit(max) => {
                self.notes.archive_limit.get_or_insert(max);
                PluginError::Denied(format!("the archive size limit of {max} bytes is reached"))
            }
            Refusal::Closed => {
                self.notes
                    .host_failure("the backup pipeline stopped accepting data");
                PluginError::Io("the host stopped accepting archive data".into())
            }
            Refusal::Host(message) => {
                self.notes.host_failure(message.clone());
                PluginError::Io(message)
            }
        }
    }
}

impl HostArchiveWriter for PluginState {
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
        Ok(result.map_err(|r| self.refuse(r)))
    }

    async fn write(
        &mut self,
        writer: Resource<ArchiveWriter>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let writer = self.table.get_mut(&writer)?;
        let result = match writer.data(data) {
            Ok(Some(event)) => writer.push(event).await,
            Ok(None) => Ok(()),
            Err(refusal) => Err(refusal),
        };
        Ok(result.map_err(|r| self.refuse(r)))
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
        Ok(result.map_err(|r| self.refuse(r)))
    }

    async fn drop(&mut self, writer: Resource<ArchiveWriter>) -> wasmtime::Result<()> {
        self.table.delete(writer)?;
        Ok(())
    }
}

impl archive_reuse::Host for PluginState {
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
        Ok(result.map_err(|r| self.refuse(r)))
    }
}

/// Where a reader is in the stream of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    /// Before the first entry or after an entry was fully consumed via `next-entry`.
    BetweenEntries,
    /// Inside an entry whose `End` has not been seen.
    InEntry,
    /// The current entry's `End` was seen; `read` returns empty lists.
    EntryDone,
    /// No more entries.
    Finished,
    /// The input failed; every call fails.
    Failed,
}

/// Host side of `archive-reader`: serves a stage's entries from the restore
/// pipeline's channel. An `Err` on the channel is the pipeline's failure
/// (e.g. a damaged pack); it is remembered as the cause of the call.
pub struct ArchiveReader {
    input: mpsc::Receiver<Result<ArchiveBatch, String>>,
    /// The rest of the batch being read.
    queued: VecDeque<ArchiveEvent>,
    state: ReaderState,
    /// Part of a `Data` event the plugin has not read yet.
    leftover: Bytes,
}

/// Why a reader call failed.
enum ReadFailure {
    /// The restore pipeline failed or broke the event order.
    Host(String),
    /// The plugin called in the wrong order.
    Protocol(String),
    /// An earlier failure was already reported.
    Failed,
}

impl ArchiveReader {
    pub(crate) fn new(input: mpsc::Receiver<Result<ArchiveBatch, String>>) -> Self {
        Self {
            input,
            queued: VecDeque::new(),
            state: ReaderState::BetweenEntries,
            leftover: Bytes::new(),
        }
    }

    /// The next event; a closed channel inside an entry is a truncated input.
    async fn recv(&mut self) -> Result<Option<ArchiveEvent>, ReadFailure> {
        self.next_event().await.map_err(ReadFailure::Host)
    }

    /// The next event, or the input's failure.
    async fn next_event(&mut self) -> Result<Option<ArchiveEvent>, String> {
        while self.queued.is_empty() {
            match self.input.recv().await {
                Some(Ok(batch)) => self.queued.extend(batch),
                Some(Err(message)) => return Err(message),
                None => return Ok(None),
            }
        }
        Ok(self.queued.pop_front())
    }

    async fn next_entry(&mut self) -> Result<Option<EntryMeta>, ReadFailure> {
        match self.state {
            ReaderState::Failed => return Err(ReadFailure::Failed),
            ReaderState::Finished => return Ok(None),
            ReaderState::InEntry => {
                // Skip what the plugin did not read.
                self.leftover = Bytes::new();
                loop {
                    match self.recv().await? {
                        Some(ArchiveEvent::Data(_)) => {}
                        Some(ArchiveEvent::End) => break,
                        Some(ArchiveEvent::Begin(meta) | ArchiveEvent::Unchanged { meta, .. }) => {
                            return Err(ReadFailure::Host(format!(
                                "restore input began entry {:?} inside another entry",
                                meta.path
                            )));
                        }
                        None => return Err(truncated_input()),
                    }
                }
            }
            ReaderState::BetweenEntries | ReaderState::EntryDone => {}
        }
        match self.recv().await? {
            Some(ArchiveEvent::Begin(meta)) => {
                self.state = ReaderState::InEntry;
                Ok(Some(meta))
            }
            Some(_) => Err(ReadFailure::Host(
                "restore input sent entry data outside an entry".into(),
            )),
            None => {
                self.state = ReaderState::Finished;
                Ok(None)
            }
        }
    }

    async fn read(&mut self, max: u32) -> Result<Bytes, ReadFailure> {
        match self.state {
            ReaderState::Failed => return Err(ReadFailure::Failed),
            ReaderState::EntryDone | ReaderState::Finished => return Ok(Bytes::new()),
            ReaderState::BetweenEntries => {
                return Err(ReadFailure::Protocol("read before next-entry".into()));
            }
            ReaderState::InEntry => {}
        }
        if max == 0 {
            return Err(ReadFailure::Protocol(
                "read with max 0 (an empty result marks the end of an entry)".into(),
            ));
        }
        let max = (max as usize).min(MAX_CHUNK_BYTES);
        while self.leftover.is_empty() {
            match self.recv().await? {
                Some(ArchiveEvent::Data(data)) => self.leftover = data,
                Some(ArchiveEvent::End) => {
                    self.state = ReaderState::EntryDone;
                    return Ok(Bytes::new());
                }
                Some(ArchiveEvent::Begin(meta) | ArchiveEvent::Unchanged { meta, .. }) => {
                    return Err(ReadFailure::Host(format!(
                        "restore input began entry {:?} inside another entry",
                        meta.path
                    )));
                }
                None => return Err(truncated_input()),
            }
        }
        let n = max.min(self.leftover.len());
        Ok(self.leftover.split_to(n))
    }
}

impl ArchiveReader {
    /// After a restore reported success: checks that it consumed the whole
    /// input, so a plugin that stops early cannot pass off a partial restore.
    /// A plugin need not ask for the end it already reached; this looks.
    pub(crate) async fn check_consumed(&mut self) -> Result<(), String> {
        match self.state {
            ReaderState::Finished | ReaderState::Failed => Ok(()),
            ReaderState::InEntry => {
                Err("restore returned before reading the end of an entry".into())
            }
            ReaderState::BetweenEntries | ReaderState::EntryDone => match self.next_event().await {
                Ok(None) => {
                    self.state = ReaderState::Finished;
                    Ok(())
                }
                Ok(Some(_)) => Err("restore returned before reading all entries".into()),
                // The input failed after the plugin's last read: the restore
                // is incomplete for the host's reason, reported as such.
                Err(message) => {
                    self.state = ReaderState::Failed;
                    Err(message)
                }
            },
        }
    }

    /// True once the input failed (its error is the host's failure).
    pub(crate) fn failed(&self) -> bool {
        self.state == ReaderState::Failed
    }
}

fn truncated_input() -> ReadFailure {
    ReadFailure::Host("restore input ended in the middle of an entry".into())
}

impl PluginState {
    fn read_failed(
        &mut self,
        reader: &Resource<ArchiveReader>,
        failure: ReadFailure,
    ) -> PluginError {
        match failure {
            ReadFailure::Host(message) => {
                if let Ok(reader) = self.table.get_mut(reader) {
                    reader.state = ReaderState::Failed;
                }
                let error = PluginError::Io(format!("restore data unavailable: {message}"));
                self.notes.host_failure(message);
                error
            }
            ReadFailure::Protocol(message) => {
                self.notes.protocol(message.clone());
                PluginError::InvalidData(message)
            }
            ReadFailure::Failed => {
                PluginError::Io("restore data unavailable (see the earlier error)".into())
            }
        }
    }
}

impl HostArchiveReader for PluginState {
    async fn next_entry(
        &mut self,
        reader: Resource<ArchiveReader>,
    ) -> wasmtime::Result<Result<Option<wit::EntryMeta>, PluginError>> {
        let result = self.table.get_mut(&reader)?.next_entry().await;
        Ok(match result {
            Ok(meta) => Ok(meta.map(entry_to_wit)),
            Err(failure) => Err(self.read_failed(&reader, failure)),
        })
    }

    async fn read(
        &mut self,
        reader: Resource<ArchiveReader>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, PluginError>> {
        let result = self.table.get_mut(&reader)?.read(max).await;
        Ok(match result {
            Ok(data) => Ok(Vec::from(data)),
            Err(failure) => Err(self.read_failed(&reader, failure)),
        })
    }

    async fn drop(&mut self, reader: Resource<ArchiveReader>) -> wasmtime::Result<()> {
        self.table.delete(reader)?;
        Ok(())
    }
}

impl wit::Host for PluginState {}

/// Checks an entry from a plugin and converts it to the repository's type.
pub(crate) fn entry_from_wit(meta: wit::EntryMeta) -> Result<EntryMeta, String> {
    let meta = EntryMeta {
        path: RawName(meta.path),
        kind: match meta.kind {
            wit::EntryKind::File => EntryKind::File,
            wit::EntryKind::Directory => EntryKind::Directory,
            wit::EntryKind::Symlink => EntryKind::Symlink,
            wit::EntryKind::HardLink => EntryKind::HardLink,
        },
        // Type bits (S_IFREG...) are redundant with `kind`; keep permissions.
        mode: meta.mode & 0o7777,
        mtime_seconds: meta.mtime_seconds,
        mtime_nanoseconds: meta.mtime_nanoseconds,
        link_target: meta.link_target.map(RawName),
        owner: meta.owner.map(|o| Owner {
            uid: o.uid,
            gid: o.gid,
            user: o.user,
            group: o.group,
        }),
        attributes: meta.attributes,
    };
    meta.validate().map_err(|e| e.to_string())?;
    Ok(meta)
}

pub(crate) fn entry_to_wit(meta: EntryMeta) -> wit::EntryMeta {
    wit::EntryMeta {
        path: meta.path.0,
        kind: match meta.kind {
            EntryKind::File => wit::EntryKind::File,
            EntryKind::Directory => wit::EntryKind::Directory,
            EntryKind::Symlink => wit::EntryKind::Symlink,
            EntryKind::HardLink => wit::EntryKind::HardLink,
        },
        mode: meta.mode,
        mtime_seconds: meta.mtime_seconds,
        mtime_nanoseconds: meta.mtime_nanoseconds,
        link_target: meta.link_target.map(|t| t.0),
        owner: meta.owner.map(|o| wit::Owner {
            uid: o.uid,
            gid: o.gid,
            user: o.user,
            group: o.group,
        }),
        attributes: meta.attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wit_meta(path: &str, kind: wit::EntryKind) -> wit::EntryMeta {
        wit::EntryMeta {
            path: path.into(),
            kind,
            mode: 0o100644,
            mtime_seconds: 1,
            mtime_nanoseconds: 2,
            link_target: (kind == wit::EntryKind::Symlink).then(|| b"target".to_vec()),
            owner: None,
            attributes: vec![],
        }
    }

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
    fn entries_are_validated_and_modes_masked() {
        let meta = entry_from_wit(wit_meta("a/b", wit::EntryKind::File)).unwrap();
        assert_eq!(meta.mode, 0o644);
        assert!(entry_from_wit(wit_meta("../x", wit::EntryKind::File)).is_err());
        let mut link = wit_meta("l", wit::EntryKind::Symlink);
        assert!(entry_from_wit(link.clone()).is_ok());
        link.link_target = None;
        assert!(entry_from_wit(link).is_err());
        let mut file = wit_meta("f", wit::EntryKind::File);
        file.link_target = Some("x".into());
        assert!(entry_from_wit(file).is_err());
        let mut nanos = wit_meta("f", wit::EntryKind::File);
        nanos.mtime_nanoseconds = 1_000_000_000;
        assert!(entry_from_wit(nanos).is_err());
        let mut attrs = wit_meta("f", wit::EntryKind::File);
        attrs.attributes = (0..65).map(|i| (i.to_string(), String::new())).collect();
        assert!(entry_from_wit(attrs).is_err());
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

    fn repo_meta(path: &str) -> EntryMeta {
        entry_from_wit(wit_meta(path, wit::EntryKind::File)).unwrap()
    }

    #[tokio::test]
    async fn reader_splits_chunks_and_skips_unread_data() {
        let (tx, rx) = mpsc::channel(16);
        for event in [
            ArchiveEvent::Begin(repo_meta("a")),
            ArchiveEvent::Data(Bytes::from_static(b"hello")),
            ArchiveEvent::Data(Bytes::from_static(b"world")),
            ArchiveEvent::End,
            ArchiveEvent::Begin(repo_meta("b")),
            ArchiveEvent::Data(Bytes::from_static(b"xyz")),
            ArchiveEvent::End,
        ] {
            tx.send(Ok(vec![event])).await.unwrap();
        }
        drop(tx);
        let mut r = ArchiveReader::new(rx);
        assert!(matches!(r.read(4).await, Err(ReadFailure::Protocol(_))));
        assert_eq!(r.next_entry().await.ok().flatten().unwrap().path, "a");
        assert_eq!(&r.read(3).await.ok().unwrap()[..], b"hel");
        assert_eq!(&r.read(100).await.ok().unwrap()[..], b"lo");
        // "world" is skipped.
        assert_eq!(r.next_entry().await.ok().flatten().unwrap().path, "b");
        assert_eq!(&r.read(100).await.ok().unwrap()[..], b"xyz");
        assert!(r.read(100).await.ok().unwrap().is_empty());
        assert!(r.read(100).await.ok().unwrap().is_empty());
        assert!(r.next_entry().await.ok().unwrap().is_none());
        assert!(r.next_entry().await.ok().unwrap().is_none());
    }

    #[tokio::test]
    async fn reader_reports_host_errors_and_truncation() {
        let (tx, rx) = mpsc::channel(16);
        tx.send(Ok(vec![ArchiveEvent::Begin(repo_meta("a"))]))
            .await
            .unwrap();
        tx.send(Err("pack 1f is damaged".to_string()))
            .await
            .unwrap();
        drop(tx);
        let mut r = ArchiveReader::new(rx);
        assert!(r.next_entry().await.is_ok());
        match r.read(10).await {
            Err(ReadFailure::Host(m)) => assert_eq!(m, "pack 1f is damaged"),
            _ => panic!("expected the host error"),
        }

        let (tx, rx) = mpsc::channel(16);
        tx.send(Ok(vec![ArchiveEvent::Begin(repo_meta("a"))]))
            .await
            .unwrap();
        drop(tx);
        let mut r = ArchiveReader::new(rx);
        assert!(r.next_entry().await.is_ok());
        assert!(matches!(r.read(10).await, Err(ReadFailure::Host(_))));
    }

    #[tokio::test]
    async fn a_restore_feed_batches_events_and_sends_a_failure_after_them() {
        let (tx, rx) = mpsc::channel(16);
        let mut feed = RestoreFeed::new(tx);
        for i in 0..300 {
            feed.push(ArchiveEvent::Begin(repo_meta(&format!("f{i}"))))
                .await
                .unwrap();
            feed.push(ArchiveEvent::End).await.unwrap();
        }
        feed.fail("pack 1f is damaged".into()).await;
        let mut rx = rx;
        let mut sizes = Vec::new();
        let mut failure = None;
        while let Some(item) = rx.recv().await {
            match item {
                Ok(batch) => sizes.push(batch.len()),
                Err(message) => failure = Some(message),
            }
        }
        assert_eq!(sizes, [BATCH_EVENTS, BATCH_EVENTS, 600 - 2 * BATCH_EVENTS]);
        assert_eq!(failure.as_deref(), Some("pack 1f is damaged"));

        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut feed = RestoreFeed::new(tx);
        assert!(
            feed.push(ArchiveEvent::End).await.is_ok(),
            "queued, not sent"
        );
        assert!(feed.flush().await.is_err(), "the plugin is gone");
    }

    #[tokio::test]
    async fn a_restore_must_consume_its_whole_input() {
        let (tx, rx) = mpsc::channel(16);
        tx.send(Ok(vec![ArchiveEvent::Begin(repo_meta("a"))]))
            .await
            .unwrap();
        tx.send(Ok(vec![ArchiveEvent::End])).await.unwrap();
        tx.send(Ok(vec![ArchiveEvent::Begin(repo_meta("b"))]))
            .await
            .unwrap();
        tx.send(Ok(vec![ArchiveEvent::End])).await.unwrap();
        drop(tx);
        let mut r = ArchiveReader::new(rx);
        assert!(r.next_entry().await.is_ok());
        assert!(r.check_consumed().await.is_err(), "inside entry a");
        assert!(r.read(1).await.ok().unwrap().is_empty());
        assert!(r.check_consumed().await.is_err(), "entry b unread");

        let (tx, rx) = mpsc::channel(16);
        tx.send(Ok(vec![ArchiveEvent::Begin(repo_meta("a"))]))
            .await
            .unwrap();
        tx.send(Ok(vec![ArchiveEvent::End])).await.unwrap();
        drop(tx);
        let mut r = ArchiveReader::new(rx);
        assert!(r.next_entry().await.is_ok());
        assert!(r.read(1).await.ok().unwrap().is_empty());
        // The plugin never asked for the end; it is there.
        assert!(r.check_consumed().await.is_ok());
    }
}
