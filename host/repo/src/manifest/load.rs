//! Reading a backup's manifest, whatever its version, into one verified
//! [`Manifest`]: versions 1 and 2 are one object; version 3 is a root
//! object and the body's segments, fetched from packs and verified like any
//! chunk before they are joined.

use std::sync::Arc;

use serde::Deserialize;

use super::Manifest;
use super::fetch::fetch_body;
use super::segmented::{self, Root};
use crate::commit::CommitRecord;
use crate::error::RepoError;
use crate::keys::Keys;
use crate::store::{ObjectStore, StoreError};
use crate::{blob, names, pack};

/// A decrypted manifest object: the whole manifest, or a version 3 root
/// whose body is still in the store.
enum Parsed {
    Whole(Manifest),
    Segmented(Root),
}

/// Fetches and verifies a backup's manifest (needs the backup's keys). A
/// failure is `Damaged`, naming the manifest, or the pack of a segment that
/// is missing or fails its checks.
pub(crate) async fn load_manifest(
    store: &Arc<dyn ObjectStore>,
    keys: &Arc<Keys>,
    record: &CommitRecord,
) -> Result<Manifest, RepoError> {
    let object = record.manifest.clone();
    let data = match store.get(&object, 0, None).await {
        Ok(d) => d,
        Err(StoreError::NotFound(_)) => {
            return Err(RepoError::damaged(
                object,
                "manifest is missing from the store",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let (k, r) = (keys.clone(), record.clone());
    let parsed = blocking(&object, move || {
        open_root(&k, &r, &data).and_then(|json| parse(&json))
    })
    .await?;
    let manifest = match parsed {
        Parsed::Whole(m) => m,
        Parsed::Segmented(root) => {
            let body = fetch_body(store, keys, &object, &root).await?;
            blocking(&object, move || {
                let parsed = segmented::parse_body(&body)?;
                // Parsed, the JSON is no longer needed while the entries are joined.
                drop(body);
                segmented::join(root, parsed)
            })
            .await?
        }
    };
    let record = record.clone();
    blocking(&object, move || {
        manifest.validate(
            &record.info.name,
            &record.key_id,
            &record.packs,
            &record.info.stages,
        )?;
        Ok(manifest)
    })
    .await
}

/// Runs `f` on a blocking thread; its failure is damage to `object`.
async fn blocking<T: Send + 'static>(
    object: &str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, RepoError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(RepoError::join)?
        .map_err(|reason| RepoError::damaged(object, reason))
}

/// Checks the object against the record (size, SHA-256 name), decrypts and
/// decompresses it (bounded): its JSON.
fn open_root(keys: &Keys, record: &CommitRecord, data: &[u8]) -> Result<Vec<u8>, String> {
    if data.len() as u64 != record.manifest_size {
        return Err(format!(
            "manifest is {} bytes, the commit record says {}",
            data.len(),
            record.manifest_size
        ));
    }
    let expected =
        names::parse_manifest_object(&record.manifest).ok_or("malformed manifest name")?;
    if pack::pack_hash(data) != expected {
        return Err("manifest content does not match its SHA-256 name".into());
    }
    blob::open_manifest(keys, data)
}

fn parse(json: &[u8]) -> Result<Parsed, String> {
    // Only the version is read here; the other fields are skipped.
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let invalid = |e: serde_json::Error| format!("manifest is not valid: {e}");
    let Version { version } = serde_json::from_slice(json).map_err(invalid)?;
    match version {
        1 | 2 => serde_json::from_slice(json)
            .map(Parsed::Whole)
            .map_err(invalid),
        3 => serde_json::from_slice(json)
            .map(Parsed::Segmented)
            .map_err(invalid),
        other => Err(format!("unsupported manifest version {other}")),
    }
}
