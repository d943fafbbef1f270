//! Garbage collection without a passcode: every pack and manifest that no live
//! commit record names is deleted, then the records of deleted (tombstoned)
//! backups. Commit records are plaintext and checksummed, so their references
//! can be read by anyone who can read the store. Catalog events are never
//! deleted: they are what proves that a missing record was deleted on purpose.
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
use crate::names::{MANIFESTS_PREFIX, PACKS_PREFIX};
use crate::store::ObjectStore;

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
    for prefix in [PACKS_PREFIX, MANIFESTS_PREFIX] {
        for obj in store.list(prefix).await? {
            let is_pack = prefix == PACKS_PREFIX;
            if referenced.contains(&obj.name) {
                if is_pack {
                    report.packs_kept += 1;
                } else {
                    report.manifests_kept += 1;
                }
                continue;
            }
            if !dry_run {
                store.delete(&obj.name).await?;
                tracing::debug!(object = %obj.name, "deleted unreferenced object");
            }
            report.bytes_freed += obj.size;
            if is_pack {
                report.packs_deleted += 1;
            } else {
                report.manifests_deleted += 1;
            }
        }
    }
    // Records last: until they go, their tombstones' targets are still readable.
    let tombstoned: Vec<String> = catalog
        .tombstoned_records()
        .map(|(entry, _)| entry.object.clone())
        .collect();
    for object in tombstoned {
        if !dry_run {
            store.delete(&object).await?;
            tracing::debug!(%object, "deleted the record of a deleted backup");
        }
        report.records_deleted += 1;
    }
    tracing::info!(
        dry_run,
        packs_deleted = report.packs_deleted,
        manifests_deleted = report.manifests_deleted,
        records_deleted = report.records_deleted,
        bytes_freed = report.bytes_freed,
        "garbage collected"
    );
    Ok(report)
}
