//! Checks a store's catalog without a passcode: every link between entries,
//! gaps, forks, the host's anchor (rollback) and the records' manifests and
//! packs (against one listing of each, not a read per backup). Each finding
//! names the backup it concerns whenever the catalog or the anchor knows it.

use std::collections::{BTreeMap, HashSet};

use super::anchor::{self, CatalogAnchor};
use super::{Catalog, ChainLink, Entry, EntryBody, EventKind};
use crate::names;

/// Gaps longer than this are reported as one finding, not one per entry.
const MAX_GAP_FINDINGS: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// A record or event is gone, and no tombstone allows that.
    DeletedWithoutTombstone,
    /// An object's bytes differ from what the catalog (or the anchor) recorded.
    Replaced,
    /// Two entries claim the same position, or a link leads elsewhere.
    Forked,
    /// The catalog ends before the newest entry this host has seen.
    RolledBack,
    /// A backup's manifest object is missing.
    ManifestMissing,
    /// Packs a backup's record lists are missing.
    PacksMissing,
    /// A catalog event is not readable.
    DamagedEvent,
    /// A record's MAC does not verify (checked with the passcode by `verify`).
    MacMismatch,
}

impl FindingKind {
    /// Findings after which the anchor must not move (it is the evidence).
    pub(crate) fn breaks_chain(self) -> bool {
        matches!(
            self,
            FindingKind::DeletedWithoutTombstone
                | FindingKind::Replaced
                | FindingKind::Forked
                | FindingKind::RolledBack
        )
    }

    /// Short name for APIs: `deleted`, `replaced`, `forked`, …
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::DeletedWithoutTombstone => "deleted",
            FindingKind::Replaced => "replaced",
            FindingKind::Forked => "forked",
            FindingKind::RolledBack => "rolled-back",
            FindingKind::ManifestMissing => "manifest-missing",
            FindingKind::PacksMissing => "packs-missing",
            FindingKind::DamagedEvent => "damaged-event",
            FindingKind::MacMismatch => "mac-mismatch",
        }
    }
}

/// One problem of the catalog. `reason` is a full sentence naming the backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogFinding {
    pub kind: FindingKind,
    /// The backup concerned, when known.
    pub backup: Option<String>,
    /// The store object concerned (it may be missing).
    pub object: String,
    pub reason: String,
}

impl std::fmt::Display for CatalogFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// `backup 'x'` or, for an event object, `catalog event <object>`.
fn describe(object: &str, backup: Option<&str>) -> String {
    match (backup, names::name_from_record_object(object)) {
        (_, Some(name)) => format!("backup '{name}' (record {object})"),
        (Some(name), None) => format!("catalog event {object} about backup '{name}'"),
        (None, None) => format!("catalog event {object}"),
    }
}

struct Auditor<'a> {
    catalog: &'a Catalog,
    anchor: Option<&'a CatalogAnchor>,
    by_seq: BTreeMap<u64, Vec<&'a Entry>>,
    findings: Vec<CatalogFinding>,
}

impl<'a> Auditor<'a> {
    fn report(&mut self, kind: FindingKind, backup: Option<String>, object: &str, reason: String) {
        let duplicate = self
            .findings
            .iter()
            .any(|f| f.kind == kind && f.object == object && f.backup == backup);
        if !duplicate {
            self.findings.push(CatalogFinding {
                kind,
                backup,
                object: object.to_string(),
                reason,
            });
        }
    }

    /// The backup a missing or replaced object was, from its name or the anchor.
    fn backup_of(&self, object: &str, seq: u64) -> Option<String> {
        names::name_from_record_object(object).or_else(|| {
            self.anchor
                .and_then(|a| a.backups.get(&seq).cloned())
                .filter(|_| names::seq_from_event_object(object).is_none())
        })
    }

    fn is_damaged(&self, object: &str) -> bool {
        let c = self.catalog;
        c.damaged_records.iter().any(|(o, _)| o == object)
            || c.events.damaged.iter().any(|(o, _)| o == object)
    }

    fn tombstoned(&self, record: &ChainLink) -> bool {
        self.catalog.events.tombstone(&record.sha256).is_some()
    }

    fn forks(&mut self) {
        let forks: Vec<(u64, Vec<&Entry>)> = self
            .by_seq
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(s, v)| (*s, v.clone()))
            .collect();
        for (seq, entries) in forks {
            let all: Vec<String> = entries
                .iter()
                .map(|e| describe(&e.object, Some(e.backup())))
                .collect();
            for e in entries {
                let reason = format!(
                    "The catalog forks at position {seq}: {} all claim it; the store holds \
                     two histories.",
                    all.join(" and ")
                );
                self.report(
                    FindingKind::Forked,
                    Some(e.backup().into()),
                    &e.object,
                    reason,
                );
            }
        }
    }

    /// A link whose target position is empty: deleted (with or without a
    /// tombstone) or replaced by an object that now sits elsewhere.
    fn missing_target(&mut self, link: &ChainLink, successor: Option<&Entry>) {
        if self.is_damaged(&link.object) {
            return; // reported as damaged already
        }
        if names::name_from_record_object(&link.object).is_some() && self.tombstoned(link) {
            return; // a deleted backup's record, collected
        }
        let backup = self.backup_of(&link.object, link.seq);
        let what = describe(&link.object, backup.as_deref());
        let seen_by = successor
            .map(|s| format!("catalog entry {} recorded it", s.seq()))
            .unwrap_or_else(|| "this host saw it".into());
        let now_elsewhere = self
            .catalog
            .entries()
            .find(|e| e.object == link.object)
            .map(Entry::seq);
        match now_elsewhere {
            Some(other) => {
                let reason = format!(
                    "{what} was replaced: {seen_by} at position {}, the store now holds a \
                     different one at position {other}.",
                    link.seq
                );
                self.report(FindingKind::Replaced, backup, &link.object, reason);
            }
            None => {
                let reason = format!(
                    "{what} was deleted without a tombstone: {seen_by} at position {}, \
                     the object is gone.",
                    link.seq
                );
                self.report(
                    FindingKind::DeletedWithoutTombstone,
                    backup,
                    &link.object,
                    reason,
                );
            }
        }
    }

    fn links(&mut self) {
        let entries: Vec<&Entry> = self.catalog.entries().collect();
        for entry in entries {
            let Some(link) = entry.prev() else { continue };
            let targets = self.by_seq.get(&link.seq).cloned().unwrap_or_default();
            if targets
                .iter()
                .any(|t| t.object == link.object && t.sha256 == link.sha256)
            {
                continue;
            }
            if targets.is_empty() {
                self.missing_target(link, Some(entry));
            } else if targets.iter().any(|t| t.object == link.object) {
                let backup = self.backup_of(&link.object, link.seq);
                let reason = format!(
                    "{} was replaced: its content differs from what catalog entry {} recorded.",
                    describe(&link.object, backup.as_deref()),
                    entry.seq()
                );
                self.report(FindingKind::Replaced, backup, &link.object, reason);
            } else {
                let reason = format!(
                    "The catalog forks before {}: it follows {} at position {}, but the store \
                     has {} there.",
                    describe(&entry.object, Some(entry.backup())),
                    link.object,
                    link.seq,
                    targets
                        .iter()
                        .map(|t| t.object.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let backup = Some(entry.backup().to_string());
                self.report(FindingKind::Forked, backup, &entry.object, reason);
            }
        }
    }

    /// Positions no entry holds and no link explains (several missing in a row).
    fn gaps(&mut self) {
        let linked: HashSet<u64> = self
            .catalog
            .entries()
            .filter_map(|e| e.prev().map(|p| p.seq))
            .collect();
        let damaged: HashSet<u64> = self
            .catalog
            .events
            .damaged
            .iter()
            .filter_map(|(o, _)| names::seq_from_event_object(o))
            .collect();
        let collected: HashSet<u64> = self
            .catalog
            .events
            .intact
            .iter()
            .filter_map(|e| match &e.body {
                EntryBody::Event(ev) if ev.kind == EventKind::Delete => Some(ev.record.seq),
                _ => None,
            })
            .collect();
        let present: Vec<u64> = self.by_seq.keys().copied().collect();
        let mut expected = 1u64;
        for seq in present {
            let gap = seq.saturating_sub(expected);
            if gap > MAX_GAP_FINDINGS {
                let reason = format!(
                    "Catalog entries {expected} to {} are missing: deleted without tombstones.",
                    seq - 1
                );
                self.report(
                    FindingKind::DeletedWithoutTombstone,
                    None,
                    "catalog/",
                    reason,
                );
            } else {
                for missing in expected..seq {
                    if linked.contains(&missing)
                        || damaged.contains(&missing)
                        || collected.contains(&missing)
                    {
                        continue;
                    }
                    let backup = self.anchor.and_then(|a| a.backups.get(&missing).cloned());
                    let object = names::event_object(missing);
                    let reason = match &backup {
                        Some(name) => format!(
                            "Backup '{name}' (catalog entry {missing}) was deleted without a \
                             tombstone."
                        ),
                        None => format!(
                            "Catalog entry {missing} is missing: deleted without a tombstone."
                        ),
                    };
                    self.report(
                        FindingKind::DeletedWithoutTombstone,
                        backup,
                        &object,
                        reason,
                    );
                }
            }
            expected = seq.saturating_add(1);
        }
    }

    /// What only the host's memory shows: entries missing after the head, or
    /// the entry it saw last replaced.
    fn anchor(&mut self) {
        let Some(anchor) = self.anchor else { return };
        let Some(seen) = anchor.head.clone() else {
            return;
        };
        let head_seq = self.by_seq.keys().next_back().copied().unwrap_or(0);
        if head_seq < seen.seq {
            let ends = match self.catalog.head() {
                Some(h) => format!(
                    "at entry {head_seq} ({})",
                    describe(&h.object, Some(h.backup()))
                ),
                None => "before its first entry".into(),
            };
            // A record still there but damaged is not what a rollback
            // removed: it is listed as damaged already.
            let (damaged, missing): (Vec<_>, Vec<_>) = anchor
                .backups
                .range(head_seq + 1..)
                .map(|(s, n)| (*s, n.clone()))
                .partition(|(_, name)| self.is_damaged(&names::record_object(name)));
            for (seq, name) in &missing {
                let reason = format!(
                    "The store was rolled back: its catalog ends {ends}, but this host saw \
                     entries up to {}; backup '{name}' (entry {seq}) is missing.",
                    seen.seq
                );
                let object = names::record_object(name);
                self.report(FindingKind::RolledBack, Some(name.clone()), &object, reason);
            }
            if missing.is_empty() && damaged.is_empty() {
                let reason = format!(
                    "The store was rolled back: its catalog ends {ends}, but this host saw \
                     entries up to {} ({}).",
                    seen.seq, seen.object
                );
                self.report(FindingKind::RolledBack, None, &seen.object, reason);
            }
            return;
        }
        let at = self.by_seq.get(&seen.seq).cloned().unwrap_or_default();
        if at.is_empty() {
            self.missing_target(&seen, None);
        } else if !at.iter().any(|e| anchor::matches(&seen, e)) {
            let backup = self.backup_of(&seen.object, seen.seq);
            let kind = if at.iter().any(|e| e.object == seen.object) {
                FindingKind::Replaced
            } else {
                FindingKind::Forked
            };
            let reason = format!(
                "{} was replaced: catalog entry {} differs from the one this host saw.",
                describe(&seen.object, backup.as_deref()),
                seen.seq
            );
            self.report(kind, backup, &seen.object, reason);
        }
    }

    fn manifests(&mut self, manifests: &HashSet<String>) {
        let missing: Vec<(String, String, String)> = self
            .catalog
            .live_records()
            .filter(|(_, r)| !manifests.contains(&r.manifest))
            .map(|(e, r)| (e.object.clone(), r.info.name.clone(), r.manifest.clone()))
            .collect();
        for (object, name, manifest) in missing {
            let reason =
                format!("Backup '{name}' (record {object}) has lost its manifest {manifest}.");
            self.report(FindingKind::ManifestMissing, Some(name), &manifest, reason);
        }
    }

    fn packs(&mut self, packs: &HashSet<String>) {
        let missing: Vec<(String, String, Vec<String>, usize)> = self
            .catalog
            .live_records()
            .filter_map(|(e, r)| {
                let gone: Vec<String> = r
                    .packs
                    .iter()
                    .filter(|p| !packs.contains(*p))
                    .cloned()
                    .collect();
                (!gone.is_empty()).then(|| (e.object.clone(), r.info.name, gone, r.packs.len()))
            })
            .collect();
        for (object, name, gone, total) in missing {
            let Some(first) = gone.first() else { continue };
            let more = match gone.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            let reason = format!(
                "Backup '{name}' (record {object}) has lost {} of its {total} packs: \
                 {first}{more}. It cannot be restored whole.",
                gone.len()
            );
            self.report(FindingKind::PacksMissing, Some(name), first, reason);
        }
    }

    fn damaged_events(&mut self) {
        let damaged = self.catalog.events.damaged.clone();
        for (object, why) in damaged {
            let reason = format!(
                "Catalog event {object} is damaged ({why}): a retention change or deletion \
                 cannot be read."
            );
            self.report(FindingKind::DamagedEvent, None, &object, reason);
        }
    }
}

/// Every problem of the catalog; `manifests` and `packs` are the names
/// under `manifests/` and `packs/`.
pub(crate) fn audit(
    catalog: &Catalog,
    manifests: &HashSet<String>,
    packs: &HashSet<String>,
    anchor: Option<&CatalogAnchor>,
) -> Vec<CatalogFinding> {
    let mut by_seq: BTreeMap<u64, Vec<&Entry>> = BTreeMap::new();
    for entry in catalog.chained() {
        by_seq.entry(entry.seq()).or_default().push(entry);
    }
    let mut auditor = Auditor {
        catalog,
        anchor,
        by_seq,
        findings: Vec::new(),
    };
    auditor.forks();
    auditor.links();
    auditor.gaps();
    auditor.anchor();
    auditor.manifests(manifests);
    auditor.packs(packs);
    auditor.damaged_events();
    auditor.findings
}
