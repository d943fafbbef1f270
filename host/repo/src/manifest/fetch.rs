//! Fetching a version 3 manifest's body: its segments are chunk blobs in
//! packs, each checked exactly as a restored chunk is (AEAD bound to its id,
//! size, HMAC id), and concatenated in order within the 1 GiB bound of a
//! manifest's plaintext.
//!
//! Each pack is fetched whole, once, like a restore fetches packs: ranged
//! reads of single blobs would show the store their lengths (§10). Segments
//! are packed after a backup's data packs are sealed, so their packs hold
//! segments only and are small, except a large tree's first backup, which
//! needs all of them anyway.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinSet;

use super::ChunkRecord;
use super::segmented::Root;
use crate::blob::{self, MAX_MANIFEST_PLAINTEXT};
use crate::error::RepoError;
use crate::keys::Keys;
use crate::pack::PACK_MAX;
use crate::store::{ObjectStore, StoreError};

/// Packs fetched at once (each at most 32 MiB): a store's latency, not its
/// bandwidth, is what many small packs cost.
const FETCHES: usize = 4;

/// The segments one pack holds: each one's position in the body and record.
type Members = Vec<(usize, ChunkRecord)>;

/// The body's bytes. `manifest` names the root, for the errors.
pub(super) async fn fetch_body(
    store: &Arc<dyn ObjectStore>,
    keys: &Arc<Keys>,
    manifest: &str,
    root: &Root,
) -> Result<Vec<u8>, RepoError> {
    let total = check_segments(root).map_err(|reason| RepoError::damaged(manifest, reason))?;
    let mut parts: Vec<Option<Bytes>> = vec![None; root.segments.len()];
    let mut packs = by_pack(&root.segments).into_iter();
    let mut running = JoinSet::new();
    loop {
        while running.len() < FETCHES
            && let Some((pack, members)) = packs.next()
        {
            let pack = root
                .packs
                .get(pack as usize)
                .cloned()
                .ok_or_else(|| RepoError::Internal("segment pack out of range".into()))?;
            running.spawn(fetch_pack(
                store.clone(),
                keys.clone(),
                pack,
                manifest.to_string(),
                members,
            ));
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        for (i, bytes) in done.map_err(RepoError::join)?? {
            if let Some(part) = parts.get_mut(i) {
                *part = Some(bytes);
            }
        }
    }
    let mut body = Vec::with_capacity(total);
    for part in parts {
        let part = part.ok_or_else(|| RepoError::Internal("a segment was not fetched".into()))?;
        body.extend_from_slice(&part);
    }
    Ok(body)
}

/// Checks every segment record's bounds, and that the body they add up to
/// stays within the manifest bound; returns its size.
fn check_segments(root: &Root) -> Result<usize, String> {
    if root.segments.is_empty() {
        return Err("manifest root lists no segments".into());
    }
    let mut total = 0u64;
    for (i, c) in root.segments.iter().enumerate() {
        if !c.in_bounds(root.packs.len()) {
            return Err(format!("segment record {i} is out of bounds"));
        }
        total += u64::from(c.size);
    }
    if total > MAX_MANIFEST_PLAINTEXT {
        return Err("manifest segments add up to more than 1 GiB".into());
    }
    usize::try_from(total).map_err(|_| "manifest is too large for this machine".into())
}

/// The segments grouped by pack.
fn by_pack(segments: &[ChunkRecord]) -> BTreeMap<u32, Members> {
    let mut packs: BTreeMap<u32, Members> = BTreeMap::new();
    for (i, c) in segments.iter().enumerate() {
        packs.entry(c.pack).or_default().push((i, *c));
    }
    packs
}

/// Fetches one pack and decodes its segments: `(position, plaintext)`.
async fn fetch_pack(
    store: Arc<dyn ObjectStore>,
    keys: Arc<Keys>,
    pack: String,
    manifest: String,
    members: Members,
) -> Result<Vec<(usize, Bytes)>, RepoError> {
    let data = match store.get(&pack, 0, None).await {
        Ok(d) => d,
        Err(StoreError::NotFound(_)) => {
            return Err(RepoError::damaged(
                pack,
                format!("pack is missing from the store (it holds segments of {manifest})"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if data.len() > PACK_MAX {
        return Err(RepoError::damaged(
            pack,
            format!("pack is {} bytes, more than the 32 MiB maximum", data.len()),
        ));
    }
    tokio::task::spawn_blocking(move || decode_segments(&keys, &pack, &manifest, &members, &data))
        .await
        .map_err(RepoError::join)?
}

fn decode_segments(
    keys: &Keys,
    pack: &str,
    manifest: &str,
    members: &Members,
    data: &[u8],
) -> Result<Vec<(usize, Bytes)>, RepoError> {
    members
        .iter()
        .map(|&(i, c)| {
            let damaged = |reason: String| {
                RepoError::damaged(
                    pack,
                    format!(
                        "segment {i} ({}) of {manifest}: {reason}",
                        hex::encode(c.id.0)
                    ),
                )
            };
            let start = c.offset as usize;
            let blob = data
                .get(start..start + c.length as usize)
                .ok_or_else(|| damaged("it lies beyond the end of the pack".into()))?;
            let plain = blob::decode_chunk(keys, &c.id, c.size as usize, blob).map_err(damaged)?;
            Ok((i, plain))
        })
        .collect()
}
