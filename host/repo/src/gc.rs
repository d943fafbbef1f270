//! Garbage collection without a passcode: every pack and manifest that no
//! commit record names is deleted. Commit records are plaintext and
//! checksummed, so their references can be read by anyone who can read the store.
//!
//! Assumes no backup is being written meanwhile (the host runs one DR job at a
//! time): a running backup's packs are not referenced by any record yet.

use std::collections::HashSet;
use std::sync::Arc;

use crate::GcReport;
use crate::error::RepoError;
use crate::names::{BACKUPS_PREFIX, MANIFESTS_PREFIX, PACKS_PREFIX};
use crate::store::{ObjectStore, StoreError};

/// Deletes unreferenced packs and manifests. Stops, deleting nothing, if any
/// commit record cannot be read (its references would be unknown).
pub async fn collect(store: &Arc<dyn ObjectStore>) -> Result<GcReport, RepoError> {
    if store.append_only() {
        return Err(RepoError::AppendOnly);
    }
    let mut referenced = HashSet::new();
    for obj in store.list(BACKUPS_PREFIX).await? {
        if crate::names::name_from_record_object(&obj.name).is_none() {
            // Not a name this format writes: not a backup, references nothing.
            tracing::warn!(object = %obj.name, "ignoring foreign object under backups/");
            continue;
        }
        let damaged = |reason: String| {
            RepoError::damaged(
                obj.name.clone(),
                format!(
                    "{reason}; garbage collection needs every commit record, so nothing was deleted (delete or repair this backup first)"
                ),
            )
        };
        if obj.size > crate::commit::MAX_RECORD_SIZE as u64 {
            return Err(damaged("commit record is larger than 64 MiB".into()));
        }
        let bytes = match store.get(&obj.name, 0, None).await {
            Ok(b) => b,
            Err(StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let record = crate::commit::parse_blocking(obj.name.clone(), bytes)
            .await?
            .map_err(damaged)?;
        referenced.insert(record.manifest);
        referenced.extend(record.packs);
    }
    let mut report = GcReport::default();
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
            store.delete(&obj.name).await?;
            tracing::debug!(object = %obj.name, "deleted unreferenced object");
            report.bytes_freed += obj.size;
            if is_pack {
                report.packs_deleted += 1;
            } else {
                report.manifests_deleted += 1;
            }
        }
    }
    tracing::info!(
        packs_deleted = report.packs_deleted,
        manifests_deleted = report.manifests_deleted,
        bytes_freed = report.bytes_freed,
        "garbage collected"
    );
    Ok(report)
}
