//! The host side of `archive-reader`: serves a restoring stage the events
//! of its part of the backup, in order.

use std::collections::VecDeque;

use bytes::Bytes;
use drhost_repo::EntryMeta;
use tokio::sync::mpsc;
use wasmtime::component::Resource;

use super::{ArchiveBatch, ArchiveEvent, entry_to_wit};
use crate::bindings::stage::drhost::plugin::archive::{self as wit, HostArchiveReader};
use crate::bindings::stage::drhost::plugin::types::PluginError;
use crate::limits::MAX_CHUNK_BYTES;
use crate::resources::ResourceHost;

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
    /// Content bytes of the current entry handed out so far.
    entry_read: u64,
}

/// Why a reader call failed.
pub(crate) enum ReadFailure {
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
            entry_read: 0,
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
                self.entry_read = 0;
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
        self.entry_read += n as u64;
        Ok(self.leftover.split_to(n))
    }

    /// Checks that the whole content of the current entry is still to be
    /// read, as `content.copy-to-file` requires.
    pub(crate) fn check_unread(&self) -> Result<(), ReadFailure> {
        match self.state {
            ReaderState::Failed => Err(ReadFailure::Failed),
            ReaderState::InEntry if self.entry_read == 0 => Ok(()),
            ReaderState::InEntry | ReaderState::EntryDone => Err(ReadFailure::Protocol(
                "copy-to-file after the entry's content was read".into(),
            )),
            ReaderState::BetweenEntries | ReaderState::Finished => Err(ReadFailure::Protocol(
                "copy-to-file outside an entry".into(),
            )),
        }
    }

    /// The next piece of the current entry's content, as it came from the
    /// restore pipeline (no copy); empty at its end.
    pub(crate) async fn next_content(&mut self) -> Result<Bytes, ReadFailure> {
        self.read(MAX_CHUNK_BYTES as u32).await
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

impl ResourceHost<'_> {
    pub(crate) fn read_failed(
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

impl HostArchiveReader for ResourceHost<'_> {
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

#[cfg(test)]
mod tests {
    use super::super::convert::test_meta::repo_meta;
    use super::*;

    /// A reader over `input`, each item a batch of its own (an `Err` is the
    /// restore pipeline's failure), after which the input ends.
    async fn reader_over(input: Vec<Result<ArchiveEvent, &str>>) -> ArchiveReader {
        let (tx, rx) = mpsc::channel(input.len().max(1));
        for item in input {
            let batch = item.map(|event| vec![event]).map_err(String::from);
            tx.send(batch).await.unwrap();
        }
        ArchiveReader::new(rx)
    }

    fn data(bytes: &'static [u8]) -> ArchiveEvent {
        ArchiveEvent::Data(Bytes::from_static(bytes))
    }

    fn begin(path: &str) -> ArchiveEvent {
        ArchiveEvent::Begin(repo_meta(path))
    }

    #[tokio::test]
    async fn reader_splits_chunks_and_skips_unread_data() {
        let mut r = reader_over(vec![
            Ok(begin("a")),
            Ok(data(b"hello")),
            Ok(data(b"world")),
            Ok(ArchiveEvent::End),
            Ok(begin("b")),
            Ok(data(b"xyz")),
            Ok(ArchiveEvent::End),
        ])
        .await;
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
        let mut r = reader_over(vec![Ok(begin("a")), Err("pack 1f is damaged")]).await;
        assert!(r.next_entry().await.is_ok());
        match r.read(10).await {
            Err(ReadFailure::Host(m)) => assert_eq!(m, "pack 1f is damaged"),
            _ => panic!("expected the host error"),
        }

        let mut r = reader_over(vec![Ok(begin("a"))]).await;
        assert!(r.next_entry().await.is_ok());
        assert!(matches!(r.read(10).await, Err(ReadFailure::Host(_))));
    }

    #[tokio::test]
    async fn a_copy_takes_a_whole_entry_or_nothing() {
        let mut r = reader_over(vec![
            Ok(begin("a")),
            Ok(data(b"hello")),
            Ok(ArchiveEvent::End),
            Ok(begin("b")),
            Ok(data(b"xyz")),
            Ok(ArchiveEvent::End),
        ])
        .await;
        assert!(matches!(r.check_unread(), Err(ReadFailure::Protocol(_))));
        assert!(r.next_entry().await.is_ok());
        assert!(r.check_unread().is_ok());
        assert_eq!(&r.read(2).await.ok().unwrap()[..], b"he");
        assert!(
            matches!(r.check_unread(), Err(ReadFailure::Protocol(_))),
            "read began"
        );
        assert!(r.next_entry().await.is_ok());
        assert!(r.check_unread().is_ok(), "a new entry");
        assert_eq!(&r.next_content().await.ok().unwrap()[..], b"xyz");
        assert!(r.next_content().await.ok().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_restore_must_consume_its_whole_input() {
        let mut r = reader_over(vec![
            Ok(begin("a")),
            Ok(ArchiveEvent::End),
            Ok(begin("b")),
            Ok(ArchiveEvent::End),
        ])
        .await;
        assert!(r.next_entry().await.is_ok());
        assert!(r.check_consumed().await.is_err(), "inside entry a");
        assert!(r.read(1).await.ok().unwrap().is_empty());
        assert!(r.check_consumed().await.is_err(), "entry b unread");

        let mut r = reader_over(vec![Ok(begin("a")), Ok(ArchiveEvent::End)]).await;
        assert!(r.next_entry().await.is_ok());
        assert!(r.read(1).await.ok().unwrap().is_empty());
        // The plugin never asked for the end; it is there.
        assert!(r.check_consumed().await.is_ok());
    }
}
