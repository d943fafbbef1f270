//! Catalog events, `catalog/<seq>.json`: the write-once objects that change a
//! committed backup after the fact (a new retention date, a deletion). Plain
//! and checksummed like commit records; not MACed (they need no passcode), but
//! the next commit record's MAC covers them through its `prev` chain.

use serde::{Deserialize, Serialize};

use super::ChainLink;
use crate::{envelope, names};

pub const EVENT_FORMAT: &str = "drhost-repo-event";
pub const EVENT_VERSION: u32 = 1;
/// Largest event accepted; real ones are a few hundred bytes.
pub const MAX_EVENT_SIZE: u64 = 64 * 1024;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The backup's retention date is now `retention_date`.
    Retention,
    /// Tombstone: the backup is deleted; its record and data may be collected.
    Delete,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CatalogEvent {
    pub format: String,
    pub version: u32,
    pub seq: u64,
    /// The entry before; `None` only at position 1 (an event about a record
    /// from before the catalog can be its first entry).
    pub prev: Option<ChainLink>,
    pub kind: EventKind,
    /// The backup's name and the commit record the event applies to (a later
    /// backup of the same name has another record, so it is not affected).
    pub backup: String,
    pub record: ChainLink,
    /// Set for [`EventKind::Retention`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_date: Option<i64>,
}

impl CatalogEvent {
    pub fn new(
        seq: u64,
        prev: Option<ChainLink>,
        kind: EventKind,
        backup: &str,
        record: ChainLink,
        retention_date: Option<i64>,
    ) -> Self {
        CatalogEvent {
            format: EVENT_FORMAT.into(),
            version: EVENT_VERSION,
            seq,
            prev,
            kind,
            backup: backup.into(),
            record,
            retention_date,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        envelope::seal(&serde_json::to_vec(self).expect("event serialises"))
    }

    /// Checksum and structure. The error is why the event `object` is damaged.
    pub fn parse(object: &str, bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() as u64 > MAX_EVENT_SIZE {
            return Err("catalog event is larger than 64 KiB".into());
        }
        let raw = envelope::open(bytes)?;
        let e: CatalogEvent =
            serde_json::from_slice(raw).map_err(|e| format!("catalog event is not valid: {e}"))?;
        if e.format != EVENT_FORMAT || e.version != EVENT_VERSION {
            return Err(format!(
                "unsupported event format {} version {}",
                e.format, e.version
            ));
        }
        if names::seq_from_event_object(object) != Some(e.seq) {
            return Err(format!(
                "event has sequence number {}, not the one its object name says",
                e.seq
            ));
        }
        super::check_position(e.seq, e.prev.as_ref())?;
        names::validate_backup_name(&e.backup).map_err(|e| e.to_string())?;
        if names::name_from_record_object(&e.record.object).as_deref() != Some(e.backup.as_str()) {
            return Err("event names a record that is not its backup's".into());
        }
        if e.record.seq >= e.seq {
            return Err("event concerns a record that is not older than itself".into());
        }
        if (e.kind == EventKind::Retention) != e.retention_date.is_some() {
            return Err("only retention events carry a retention date".into());
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(seq: u64, object: &str) -> ChainLink {
        ChainLink {
            seq,
            object: object.into(),
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn round_trip_and_checks() {
        let record = names::record_object("nightly");
        let e = CatalogEvent::new(
            3,
            Some(link(2, &record)),
            EventKind::Retention,
            "nightly",
            link(2, &record),
            Some(42),
        );
        let bytes = e.to_bytes();
        let back = CatalogEvent::parse(&names::event_object(3), &bytes).unwrap();
        assert_eq!(back.retention_date, Some(42));
        assert_eq!(back.kind, EventKind::Retention);
        // Moved to another sequence number's name.
        assert!(CatalogEvent::parse(&names::event_object(4), &bytes).is_err());
        // A delete with a date, an event about another backup's record.
        let mut bad = e.clone();
        bad.kind = EventKind::Delete;
        assert!(CatalogEvent::parse(&names::event_object(3), &bad.to_bytes()).is_err());
        let mut bad = e;
        bad.backup = "other".into();
        assert!(CatalogEvent::parse(&names::event_object(3), &bad.to_bytes()).is_err());
    }
}
