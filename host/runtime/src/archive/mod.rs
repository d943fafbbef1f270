//! `drhost:plugin/archive`: the host-owned archive writer a stage backs up
//! into ([`writer`]) and the reader it restores from ([`reader`]), bridged to
//! tokio channels in batches of [`ArchiveEvent`]s; [`convert`] turns the WIT
//! entry records into the repository's, checking them.

mod content;
mod convert;
mod reader;
mod writer;

use bytes::Bytes;
use drhost_repo::{EntryMeta, UnchangedFile};
use tokio::sync::mpsc;

use crate::bindings::stage::drhost::plugin::archive as wit;
use crate::resources::ResourceHost;

pub(crate) use convert::{entry_from_wit, entry_to_wit};
pub use reader::ArchiveReader;
pub use writer::ArchiveWriter;

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

impl wit::Host for ResourceHost<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use convert::test_meta::repo_meta;

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
}
