//! Garbage collection without a passcode: every pack and manifest that no live
//! commit record names is deleted, then the records of deleted (tombstoned)
//! backups. Commit records are plaintext and checksummed, so their references
//! can be read by anyone who can read the store. Catalog events are never
//! deleted: they are what proves that a missing record was deleted on purpose.
//!
//! Only objects named exactly as this repository names its packs, manifests
//! and records are ever deleted. A listing of `packs/` also shows whatever else
//! lies below it: a stray file, or the objects of another store whose directory
//! (or key prefix) was placed inside this one's. None of those names parse as
//! this repository's (another store's names start with its own `config`,
//! `packs/`, ... one level down), so they are counted and left alone.
//!
//! On an append-only store nothing is deleted; the report says what would be.
//!
//! Assumes no backup is being written meanwhile (the host runs one DR job at a
//! time): a running backup's packs are not referenced by any record yet.

use std::collections::HashSet;
use std::sync::Arc;

use crate::GcReport;
use crate::catalog::Catalog;
use crate::error::RepoError;
use crate::names::{self, BACKUPS_PREFIX, MANIFESTS_PREFIX, PACKS_PREFIX};
use crate::store::ObjectStore;

/// The kinds of object garbage collection deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Collectable {
    Pack,
    Manifest,
    Record,
}

impl Collectable {
    fn prefix(self) -> &'static str {
        match self {
            Self::Pack => PACKS_PREFIX,
            Self::Manifest => MANIFESTS_PREFIX,
            Self::Record => BACKUPS_PREFIX,
        }
    }

    /// Whether `name` is exactly how this repository names an object of this
    /// kind: the only names collection may delete.
    fn owns(self, name: &str) -> bool {
        match self {
            Self::Pack => names::parse_pack_object(name).is_some(),
            Self::Manifest => names::parse_manifest_object(name).is_some(),
            Self::Record => names::name_from_record_object(name).is_some(),
        }
    }
}

/// Collects unreferenced packs and manifests and tombstoned records. Stops,
/// deleting nothing, if any commit record cannot be read (its references
/// would be unknown).
pub async fn collect(store: &Arc<dyn ObjectStore>) -> Result<GcReport, RepoError> {
    let catalog = Catalog::load(store).await?;
    if let Some((object, reason)) = catalog.damaged_records.first() {
        return Err(RepoError::damaged(
            object.clone(),
            format!(
                "{reason}; garbage collection needs every commit record, so nothing was deleted (delete or repair this backup first)"
            ),
        ));
    }
    let mut referenced = HashSet::new();
    for (_, record) in catalog.live_records() {
        referenced.insert(record.manifest);
        referenced.extend(record.packs);
    }
    let dry_run = store.append_only();
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    for kind in [Collectable::Pack, Collectable::Manifest] {
        for obj in store.list(kind.prefix()).await? {
            if !kind.owns(&obj.name) {
                leave_foreign(&obj.name, &mut report);
                continue;
            }
            if referenced.contains(&obj.name) {
                match kind {
                    Collectable::Pack => report.packs_kept += 1,
                    _ => report.manifests_kept += 1,
                }
                continue;
            }
            delete_own(store, kind, &obj.name, dry_run).await?;
            report.bytes_freed += obj.size;
            match kind {
                Collectable::Pack => report.packs_deleted += 1,
                _ => report.manifests_deleted += 1,
            }
        }
    }
    // Records last: until they go, their tombstones' targets are still readable.
    let tombstoned: Vec<String> = catalog
        .tombstoned_records()
        .map(|(entry, _)| entry.object.clone())
        .collect();
    for object in tombstoned {
        if !Collectable::Record.owns(&object) {
            leave_foreign(&object, &mut report);
            continue;
        }
        delete_own(store, Collectable::Record, &object, dry_run).await?;
        report.records_deleted += 1;
    }
    tracing::info!(
        dry_run,
        packs_deleted = report.packs_deleted,
        manifests_deleted = report.manifests_deleted,
        records_deleted = report.records_deleted,
        bytes_freed = report.bytes_freed,
        foreign_kept = report.foreign_kept,
        "garbage collected"
    );
    Ok(report)
}

/// Counts an object that is not this repository's, which collection must
/// never delete: it may be another store's, nested inside this one.
fn leave_foreign(name: &str, report: &mut GcReport) {
    tracing::warn!(
        object = %name,
        "garbage collection leaves alone an object this repository does not name so (a stray file, or another store's)"
    );
    report.foreign_kept += 1;
}

/// The one place collection deletes. It checks the name once more, so a
/// future caller cannot pass it an object of another store.
async fn delete_own(
    store: &Arc<dyn ObjectStore>,
    kind: Collectable,
    name: &str,
    dry_run: bool,
) -> Result<(), RepoError> {
    if !kind.owns(name) {
        return Err(RepoError::Internal(format!(
            "garbage collection refused to delete {name}: it is not named as this repository names a {kind:?}"
        )));
    }
    if !dry_run {
        store.delete(name).await?;
        tracing::debug!(object = %name, ?kind, "deleted");
    }
    Ok(())
}
