//! The host's local anchor of a store's catalog: the newest entry it has seen
//! (and the backups it has seen, by sequence number). A store rolled back to
//! an older, self-consistent copy has a valid chain; only a memory kept
//! outside the store shows that entries are missing at its end.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Catalog, CatalogFinding, ChainLink, Entry};

/// What the host remembers of one store's catalog.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogAnchor {
    /// The newest catalog entry seen.
    pub head: Option<ChainLink>,
    /// Backups seen, by their record's sequence number (to name the missing
    /// ones after a rollback).
    #[serde(default)]
    pub backups: BTreeMap<u64, String>,
}

/// Where the host keeps a store's anchor (a file in its state directory).
/// Failing to keep it only weakens rollback detection, so errors are logged,
/// not returned.
pub trait AnchorStore: Send + Sync + std::fmt::Debug {
    fn load(&self) -> std::io::Result<Option<CatalogAnchor>>;
    fn save(&self, anchor: &CatalogAnchor) -> std::io::Result<()>;
}

pub(crate) fn load(store: &dyn AnchorStore) -> Option<CatalogAnchor> {
    store
        .load()
        .inspect_err(|e| tracing::warn!(error = %e, "cannot read the catalog anchor"))
        .ok()
        .flatten()
}

fn save(store: &dyn AnchorStore, anchor: &CatalogAnchor) {
    if let Err(e) = store.save(anchor) {
        tracing::warn!(error = %e, "cannot save the catalog anchor");
    }
}

/// After this host appended `link`: it is the newest entry (unless the anchor
/// is already further, i.e. the store was rolled back; that stays reported).
pub(crate) fn after_append(store: &dyn AnchorStore, link: &ChainLink, record_of: Option<&str>) {
    let mut anchor = load(store).unwrap_or_default();
    if let Some(name) = record_of {
        anchor.backups.insert(link.seq, name.to_string());
    }
    if anchor.head.as_ref().is_none_or(|h| h.seq < link.seq) {
        anchor.head = Some(link.clone());
    }
    save(store, &anchor);
}

/// After a listing: moves the anchor to the catalog's head, but only when the
/// listing found the chain intact, so evidence of tampering is never erased.
pub(crate) fn after_listing(
    store: &dyn AnchorStore,
    catalog: &Catalog,
    findings: &[CatalogFinding],
) {
    if findings.iter().any(|f| f.kind.breaks_chain()) {
        return;
    }
    let mut anchor = load(store).unwrap_or_default();
    let before = anchor.clone();
    if let Some(head) = catalog.head()
        && anchor.head.as_ref().is_none_or(|h| h.seq < head.seq())
    {
        anchor.head = Some(head.link());
    }
    for entry in catalog.records.iter().filter(|e| e.seq() > 0) {
        anchor
            .backups
            .insert(entry.seq(), entry.backup().to_string());
    }
    if anchor != before {
        save(store, &anchor);
    }
}

/// Whether `entry` is the one the anchor recorded at its position.
pub(crate) fn matches(head: &ChainLink, entry: &Entry) -> bool {
    entry.seq() == head.seq && entry.sha256 == head.sha256
}
