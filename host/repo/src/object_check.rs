//! A backup's objects checked without its passcode (the `validate` of the
//! reference API's backup, which takes no passcode): the commit record's
//! checksum, and the manifest and every pack it names present in the store
//! and matching the SHA-256 they are named after. Unlike `verify` with the
//! passcode, it cannot authenticate chunks; it finds lost and corrupted
//! objects.

use std::sync::Arc;

use bytes::Bytes;

use crate::RepoError;
use crate::commit::CommitRecord;
use crate::names;
use crate::pack;
use crate::store::ObjectStore;

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectCheck {
    /// Objects read (the manifest and the packs).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// One line per missing, unreadable or corrupted object, naming it.
    pub problems: Vec<String>,
}

/// Reads every object `record` names, one at a time (a pack is at most
/// 32 MiB), hashing off the async threads.
pub(crate) async fn check_record_objects(
    store: &Arc<dyn ObjectStore>,
    record: &CommitRecord,
) -> Result<ObjectCheck, RepoError> {
    let mut report = ObjectCheck::default();
    let objects = std::iter::once(&record.manifest).chain(record.packs.iter());
    for object in objects {
        let data = match store.get(object, 0, None).await {
            Ok(data) => data,
            Err(error) => {
                report.problems.push(format!("{object}: {error}"));
                continue;
            }
        };
        report.objects += 1;
        report.bytes += data.len() as u64;
        let name = object.clone();
        let verdict = tokio::task::spawn_blocking(move || check_one(&name, &data))
            .await
            .map_err(RepoError::join)?;
        if let Err(reason) = verdict {
            report.problems.push(format!("{object}: {reason}"));
        }
    }
    Ok(report)
}

fn check_one(object: &str, data: &Bytes) -> Result<(), String> {
    if object.starts_with(names::PACKS_PREFIX) {
        return pack::verify_pack(object, data);
    }
    let expected = names::parse_manifest_object(object).ok_or("malformed manifest name")?;
    if pack::pack_hash(data) != expected {
        return Err("manifest content does not match its SHA-256 name".into());
    }
    Ok(())
}
