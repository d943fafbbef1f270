//! The store's tamper-evident catalog: every commit record and every catalog
//! event (retention change, tombstone) is one entry with a global sequence
//! number and a link to the entry before it (its object name and the SHA-256
//! of its stored bytes). Every object is written once; nothing in the catalog
//! is ever rewritten. See `docs/repository.md` §4.3, §4.6 and §9.1.

mod anchor;
mod audit;
mod event;

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::commit::{CommitRecord, MAX_RECORD_SIZE};
use crate::error::RepoError;
use crate::names::{self, BACKUPS_PREFIX, CATALOG_PREFIX};
use crate::store::{ObjectStore, StoreError};

pub use anchor::{AnchorStore, CatalogAnchor};
pub(crate) use audit::audit;
pub use audit::{CatalogFinding, FindingKind};
pub(crate) use event::{CatalogEvent, EventKind};

/// A reference to one catalog entry: where it is and what its bytes were.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChainLink {
    pub seq: u64,
    /// `backups/<hex>.json` or `catalog/<seq>.json`.
    pub object: String,
    /// Lowercase hex SHA-256 of the entry's stored bytes.
    pub sha256: String,
}

/// Structural checks of an entry's `seq` and `prev` (no store access).
pub(crate) fn check_position(seq: u64, prev: Option<&ChainLink>) -> Result<(), String> {
    match (seq, prev) {
        // A record from before the catalog: valid, but outside the chain.
        (0, None) => Ok(()),
        (0, Some(_)) => Err("an entry outside the catalog (position 0) has a predecessor".into()),
        (1, None) => Ok(()),
        (1, Some(_)) => Err("the first catalog entry links to a predecessor".into()),
        (_, None) => Err("a catalog entry after the first has no predecessor".into()),
        (seq, Some(p)) => {
            if p.seq != seq - 1 {
                return Err(format!(
                    "catalog entry {seq} links to entry {}, not {}",
                    p.seq,
                    seq - 1
                ));
            }
            if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("predecessor checksum is not 64 hex digits".into());
            }
            let is_record = names::name_from_record_object(&p.object).is_some();
            if !is_record && names::seq_from_event_object(&p.object) != Some(p.seq) {
                return Err(format!("malformed predecessor object name {:?}", p.object));
            }
            Ok(())
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) enum EntryBody {
    Record(Box<CommitRecord>),
    Event(CatalogEvent),
}

/// One intact catalog object.
pub(crate) struct Entry {
    pub object: String,
    pub sha256: String,
    pub body: EntryBody,
}

impl Entry {
    pub fn seq(&self) -> u64 {
        match &self.body {
            EntryBody::Record(r) => r.seq,
            EntryBody::Event(e) => e.seq,
        }
    }

    pub fn prev(&self) -> Option<&ChainLink> {
        match &self.body {
            EntryBody::Record(r) => r.prev.as_ref(),
            EntryBody::Event(e) => e.prev.as_ref(),
        }
    }

    pub fn link(&self) -> ChainLink {
        ChainLink {
            seq: self.seq(),
            object: self.object.clone(),
            sha256: self.sha256.clone(),
        }
    }

    /// The backup the entry is (a record) or concerns (an event).
    pub fn backup(&self) -> &str {
        match &self.body {
            EntryBody::Record(r) => &r.info.name,
            EntryBody::Event(e) => &e.backup,
        }
    }
}

/// The events, and what they say about records (by the record's SHA-256).
#[derive(Default)]
pub(crate) struct Events {
    pub intact: Vec<Entry>,
    /// `(object, why it is damaged)`.
    pub damaged: Vec<(String, String)>,
    /// Links to the damaged events that could be read: a new entry after
    /// one of them links to its bytes as they are, so the chain goes on.
    pub damaged_links: Vec<ChainLink>,
}

impl Events {
    fn events(&self) -> impl Iterator<Item = &CatalogEvent> {
        self.intact.iter().filter_map(|e| match &e.body {
            EntryBody::Event(ev) => Some(ev),
            EntryBody::Record(_) => None,
        })
    }

    /// The tombstone of the record whose bytes hash to `record_sha256`.
    pub fn tombstone(&self, record_sha256: &str) -> Option<&CatalogEvent> {
        self.events()
            .find(|e| e.kind == EventKind::Delete && e.record.sha256 == record_sha256)
    }

    /// The newest retention date set for that record, if any was.
    pub fn retention(&self, record_sha256: &str) -> Option<i64> {
        self.events()
            .filter(|e| e.kind == EventKind::Retention && e.record.sha256 == record_sha256)
            .max_by_key(|e| e.seq)
            .and_then(|e| e.retention_date)
    }
}

/// Every catalog object of a store, read and checked (no passcode).
pub(crate) struct Catalog {
    pub records: Vec<Entry>,
    /// Commit records that could not be parsed: `(object, reason)`.
    pub damaged_records: Vec<(String, String)>,
    pub events: Events,
}

/// Reads one object that may have vanished since it was listed.
async fn get_if_present(
    store: &Arc<dyn ObjectStore>,
    object: &str,
) -> Result<Option<Bytes>, RepoError> {
    match store.get(object, 0, None).await {
        Ok(b) => Ok(Some(b)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Parses and hashes an object on a blocking thread (records grow with their pack list).
async fn parse_entry<F>(
    object: String,
    bytes: Bytes,
    parse: F,
) -> Result<Result<Entry, String>, RepoError>
where
    F: FnOnce(&str, &[u8]) -> Result<EntryBody, String> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let body = parse(&object, &bytes)?;
        Ok(Entry {
            sha256: sha256_hex(&bytes),
            object,
            body,
        })
    })
    .await
    .map_err(RepoError::join)
}

fn parse_record(object: &str, bytes: &[u8]) -> Result<EntryBody, String> {
    CommitRecord::parse(object, bytes).map(|r| EntryBody::Record(Box::new(r)))
}

fn parse_event(object: &str, bytes: &[u8]) -> Result<EntryBody, String> {
    CatalogEvent::parse(object, bytes).map(EntryBody::Event)
}

/// Every catalog event (they are small; there is one per retention change or deletion).
pub(crate) async fn load_events(store: &Arc<dyn ObjectStore>) -> Result<Events, RepoError> {
    let mut events = Events::default();
    for obj in store.list(CATALOG_PREFIX).await? {
        if names::seq_from_event_object(&obj.name).is_none() {
            warn!(object = %obj.name, "ignoring foreign object under catalog/");
            continue;
        }
        if obj.size > event::MAX_EVENT_SIZE {
            let reason = "catalog event is larger than 64 KiB".to_string();
            events.damaged.push((obj.name, reason));
            continue;
        }
        let Some(bytes) = get_if_present(store, &obj.name).await? else {
            continue;
        };
        let sha256 = sha256_hex(&bytes);
        match parse_entry(obj.name.clone(), bytes, parse_event).await? {
            Ok(entry) => events.intact.push(entry),
            Err(reason) => {
                if let Some(seq) = names::seq_from_event_object(&obj.name) {
                    events.damaged_links.push(ChainLink {
                        seq,
                        object: obj.name.clone(),
                        sha256,
                    });
                }
                events.damaged.push((obj.name, reason));
            }
        }
    }
    Ok(events)
}

/// One commit record as a catalog entry, `None` if it does not exist.
pub(crate) async fn load_record(
    store: &Arc<dyn ObjectStore>,
    object: &str,
) -> Result<Option<Result<Entry, String>>, RepoError> {
    let Some(stat) = store.stat(object).await? else {
        return Ok(None);
    };
    if stat.size > MAX_RECORD_SIZE as u64 {
        return Ok(Some(Err("commit record is larger than 64 MiB".into())));
    }
    let Some(bytes) = get_if_present(store, object).await? else {
        return Ok(None);
    };
    Ok(Some(
        parse_entry(object.to_string(), bytes, parse_record).await?,
    ))
}

impl Catalog {
    pub async fn load(store: &Arc<dyn ObjectStore>) -> Result<Self, RepoError> {
        let mut records = Vec::new();
        let mut damaged_records = Vec::new();
        for obj in store.list(BACKUPS_PREFIX).await? {
            if names::name_from_record_object(&obj.name).is_none() {
                // Not a name this format writes (e.g. a stray file): not a backup.
                warn!(object = %obj.name, "ignoring foreign object under backups/");
                continue;
            }
            if obj.size > MAX_RECORD_SIZE as u64 {
                let reason = "commit record is larger than 64 MiB".to_string();
                damaged_records.push((obj.name, reason));
                continue;
            }
            let Some(bytes) = get_if_present(store, &obj.name).await? else {
                continue;
            };
            match parse_entry(obj.name.clone(), bytes, parse_record).await? {
                Ok(entry) => records.push(entry),
                Err(reason) => damaged_records.push((obj.name, reason)),
            }
        }
        let events = load_events(store).await?;
        Ok(Catalog {
            records,
            damaged_records,
            events,
        })
    }

    /// Every intact entry, records and events.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.records.iter().chain(&self.events.intact)
    }

    /// Every entry in the chain (records from before the catalog are not).
    pub fn chained(&self) -> impl Iterator<Item = &Entry> {
        self.entries().filter(|e| e.seq() > 0)
    }

    /// The chained entry with the highest sequence number.
    pub fn head(&self) -> Option<&Entry> {
        self.chained().max_by_key(|e| e.seq())
    }

    /// Where the next entry goes: one past the last position in use, linked
    /// to the entry there (a damaged event there is linked as it is).
    pub fn next_position(&self) -> (u64, Option<ChainLink>) {
        let last = self
            .chained()
            .map(Entry::link)
            .chain(self.events.damaged_links.iter().cloned())
            .max_by_key(|l| l.seq);
        match last {
            Some(link) => (link.seq.saturating_add(1), Some(link)),
            None => (1, None),
        }
    }

    /// Records without a tombstone, with their retention date made current.
    pub fn live_records(&self) -> impl Iterator<Item = (&Entry, CommitRecord)> {
        self.records
            .iter()
            .filter_map(|entry| effective_record(&self.events, entry).map(|r| (entry, r)))
    }

    /// Records that carry a tombstone (still present: not yet collected).
    pub fn tombstoned_records(&self) -> impl Iterator<Item = (&Entry, &CommitRecord)> {
        self.records.iter().filter_map(|entry| match &entry.body {
            EntryBody::Record(r) if self.events.tombstone(&entry.sha256).is_some() => {
                Some((entry, r.as_ref()))
            }
            _ => None,
        })
    }
}

/// Applies the catalog's events to one record: `None` if it was deleted.
pub(crate) fn effective_record(events: &Events, entry: &Entry) -> Option<CommitRecord> {
    let EntryBody::Record(record) = &entry.body else {
        return None;
    };
    if events.tombstone(&entry.sha256).is_some() {
        return None;
    }
    let mut record = (**record).clone();
    if let Some(date) = events.retention(&entry.sha256) {
        record.info.retention_date = date;
    }
    Some(record)
}

/// Writes entries after the current head: checks that the object does not
/// exist yet (write-once; the host runs one job at a time), puts it, and moves
/// the host's anchor forward.
#[derive(Clone)]
pub(crate) struct Appender {
    store: Arc<dyn ObjectStore>,
    anchor: Option<Arc<dyn AnchorStore>>,
}

impl Appender {
    pub fn new(store: Arc<dyn ObjectStore>, anchor: Option<Arc<dyn AnchorStore>>) -> Self {
        Appender { store, anchor }
    }

    /// `(seq, prev)` for the next entry.
    pub async fn next_position(&self) -> Result<(u64, Option<ChainLink>), RepoError> {
        Ok(Catalog::load(&self.store).await?.next_position())
    }

    /// Puts a sealed entry under `object` unless something is already there
    /// (then `taken` says why). `record_of` is the backup a record belongs to
    /// (the anchor remembers it).
    pub async fn put_new(
        &self,
        object: &str,
        seq: u64,
        bytes: Vec<u8>,
        record_of: Option<&str>,
        taken: impl FnOnce() -> RepoError,
    ) -> Result<ChainLink, RepoError> {
        if self.store.stat(object).await?.is_some() {
            return Err(taken());
        }
        let link = ChainLink {
            seq,
            object: object.to_string(),
            sha256: sha256_hex(&bytes),
        };
        self.store.put(object, Bytes::from(bytes)).await?;
        if let Some(anchor) = &self.anchor {
            anchor::after_append(anchor.as_ref(), &link, record_of);
        }
        Ok(link)
    }

    /// Appends a retention or delete event about `record` of backup `backup`.
    pub async fn append_event(
        &self,
        kind: EventKind,
        backup: &str,
        record: ChainLink,
        retention_date: Option<i64>,
    ) -> Result<ChainLink, RepoError> {
        let (seq, prev) = self.next_position().await?;
        let event = CatalogEvent::new(seq, prev, kind, backup, record, retention_date);
        let object = names::event_object(seq);
        let taken = || {
            RepoError::damaged(
                object.clone(),
                "a catalog event with this sequence number already exists",
            )
        };
        self.put_new(&object, seq, event.to_bytes(), None, taken)
            .await
    }

    /// Saves what a listing saw as the anchor, if its history is consistent.
    pub fn after_listing(&self, catalog: &Catalog, findings: &[CatalogFinding]) {
        if let Some(anchor) = &self.anchor {
            anchor::after_listing(anchor.as_ref(), catalog, findings);
        }
    }

    pub fn load_anchor(&self) -> Option<CatalogAnchor> {
        self.anchor.as_ref().and_then(|a| anchor::load(a.as_ref()))
    }
}
