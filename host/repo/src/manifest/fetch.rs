//! Fetching a version 3 manifest's body: its segments are chunk blobs in
//! packs, each checked exactly as a restored chunk is (AEAD bound to its id,
//! size, HMAC id), and concatenated in order within the 1 GiB bound of a
//! manifest's plaintext.
//!
//! Segments of one pack that lie close together are fetched with one ranged
//! `get`: a backup's new segments are usually neighbours in one pack, and a
//! store's latency, not its bandwidth, is what hundreds of small reads cost.

use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinSet;

use super::ChunkRecord;
use super::segmented::Root;
use crate::blob::{self, MAX_MANIFEST_PLAINTEXT};
use crate::error::RepoError;
use crate::keys::Keys;
use crate::store::{ObjectStore, StoreError};

/// Segments of a pack at most this far apart share a ranged `get`: reading
/// the gap costs less than another round trip.
const MAX_GAP: u32 = 512 * 1024;
/// Ranged `get`s in flight at once (each at most one pack, 32 MiB).
const FETCHES: usize = 4;

/// One ranged `get`: bytes `start..end` of pack `pack`, holding `members`
/// (each segment's position in the body and its record).
struct Span {
    pack: u32,
    start: u32,
    end: u32,
    members: Vec<(usize, ChunkRecord)>,
}

/// The body's bytes. `manifest` names the root, for the errors.
pub(super) async fn fetch_body(
    store: &Arc<dyn ObjectStore>,
    keys: &Arc<Keys>,
    manifest: &str,
    root: &Root,
) -> Result<Vec<u8>, RepoError> {
    let total = check_segments(root).map_err(|reason| RepoError::damaged(manifest, reason))?;
    let mut parts: Vec<Option<Bytes>> = vec![None; root.segments.len()];
    let mut spans = plan(&root.segments).into_iter();
    let mut running = JoinSet::new();
    loop {
        while running.len() < FETCHES
            && let Some(span) = spans.next()
        {
            let pack = root
                .packs
                .get(span.pack as usize)
                .cloned()
                .ok_or_else(|| RepoError::Internal("segment pack out of range".into()))?;
            running.spawn(fetch_span(
                store.clone(),
                keys.clone(),
                pack,
                manifest.to_string(),
                span,
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

/// Groups the segments into ranged `get`s: by pack, neighbours within
/// [`MAX_GAP`] together.
fn plan(segments: &[ChunkRecord]) -> Vec<Span> {
    let mut sorted: Vec<(usize, ChunkRecord)> = segments.iter().copied().enumerate().collect();
    sorted.sort_by_key(|(_, c)| (c.pack, c.offset));
    let mut spans: Vec<Span> = Vec::new();
    for (i, c) in sorted {
        let end = c.offset.saturating_add(c.length);
        match spans.last_mut() {
            Some(s) if s.pack == c.pack && c.offset <= s.end.saturating_add(MAX_GAP) => {
                s.end = s.end.max(end);
                s.members.push((i, c));
            }
            _ => spans.push(Span {
                pack: c.pack,
                start: c.offset,
                end,
                members: vec![(i, c)],
            }),
        }
    }
    spans
}

/// Fetches one span and decodes its segments: `(position, plaintext)`.
async fn fetch_span(
    store: Arc<dyn ObjectStore>,
    keys: Arc<Keys>,
    pack: String,
    manifest: String,
    span: Span,
) -> Result<Vec<(usize, Bytes)>, RepoError> {
    let len = span.end - span.start;
    let data = match store
        .get(&pack, u64::from(span.start), Some(u64::from(len)))
        .await
    {
        Ok(d) => d,
        Err(StoreError::NotFound(_)) => {
            return Err(RepoError::damaged(
                pack,
                format!("pack is missing from the store (it holds segments of {manifest})"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if data.len() != len as usize {
        return Err(RepoError::damaged(
            pack,
            format!("pack ends before the segments of {manifest} it holds"),
        ));
    }
    tokio::task::spawn_blocking(move || decode_span(&keys, &pack, &manifest, &span, &data))
        .await
        .map_err(RepoError::join)?
}

fn decode_span(
    keys: &Keys,
    pack: &str,
    manifest: &str,
    span: &Span,
    data: &[u8],
) -> Result<Vec<(usize, Bytes)>, RepoError> {
    span.members
        .iter()
        .map(|&(i, c)| {
            let at = c.offset.checked_sub(span.start).map(|at| at as usize);
            let blob = at
                .and_then(|at| data.get(at..at + c.length as usize))
                .ok_or_else(|| {
                    RepoError::Internal("a segment lies outside the span fetched for it".into())
                })?;
            let plain =
                blob::decode_chunk(keys, &c.id, c.size as usize, blob).map_err(|reason| {
                    RepoError::damaged(
                        pack,
                        format!(
                            "segment {i} ({}) of {manifest}: {reason}",
                            hex::encode(c.id.0)
                        ),
                    )
                })?;
            Ok((i, plain))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::ChunkId;

    fn seg(pack: u32, offset: u32, length: u32) -> ChunkRecord {
        ChunkRecord {
            id: ChunkId([0; 32]),
            pack,
            offset,
            length,
            size: 1,
        }
    }

    #[test]
    fn neighbours_in_a_pack_share_a_get_and_distant_ones_do_not() {
        let segments = [
            seg(1, 100, 50),
            seg(0, 0, 10),
            seg(1, 0, 100),
            seg(1, 150 + MAX_GAP + 1, 10),
            seg(0, 10 + MAX_GAP, 5),
        ];
        let spans = plan(&segments);
        let shape: Vec<(u32, u32, u32, Vec<usize>)> = spans
            .iter()
            .map(|s| {
                let members = s.members.iter().map(|(i, _)| *i).collect();
                (s.pack, s.start, s.end, members)
            })
            .collect();
        assert_eq!(
            shape,
            [
                (0, 0, 15 + MAX_GAP, vec![1, 4]),
                (1, 0, 150, vec![2, 0]),
                (1, 151 + MAX_GAP, 161 + MAX_GAP, vec![3]),
            ]
        );
    }
}
