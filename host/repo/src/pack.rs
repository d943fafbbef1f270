//! Packs: chunk blobs back to back in a random order, then random padding up
//! to the pack's Padmé length; named after the SHA-256 of the whole pack
//! (`packs/<2 hex>/<64 hex>`). A pack has no header or trailer; the manifests
//! record where each blob starts and how long it is, and nothing references
//! the padding.

use rand::RngCore;
use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};

use crate::names;

/// A pack is sealed once its blobs reach this size.
pub const PACK_TARGET: usize = 16 * 1024 * 1024;
/// No pack, padding included, is ever larger than this (a pack at the target
/// plus one maximum blob, padded, stays well below it).
pub const PACK_MAX: usize = 32 * 1024 * 1024;
/// Sealed packs being uploaded at once by one writer.
pub const MAX_UPLOADS_IN_FLIGHT: usize = 2;

/// Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files
/// and Communication with PURBs", PETS 2019): rounds `len` up so that only
/// its top `floor(log2(floor(log2 len))) + 1` bits are significant. A padded
/// length reveals O(log log len) bits of the real one, for at most 12 %
/// overhead (≈ 3 % or less for packs of 16–32 MiB, which round to 512 KiB).
pub fn padme_len(len: usize) -> usize {
    if len < 2 {
        return len;
    }
    let exponent = usize::BITS - 1 - len.leading_zeros();
    let significant = u32::BITS - exponent.leading_zeros();
    let unit = (1usize << (exponent - significant)) - 1;
    (len + unit) & !unit
}

/// A pack being filled: its blobs, concatenated only when it is sealed (on a
/// blocking thread, together with its SHA-256), so the in-order consumer on
/// the async runtime never copies blob bytes.
pub struct PackBuilder {
    /// The writer's slot number for this pack (its name is known once sealed).
    pub slot: u32,
    blobs: Vec<Vec<u8>>,
    len: usize,
}

/// A pack ready to upload.
pub struct SealedPack {
    pub data: Vec<u8>,
    pub hash: [u8; 32],
    /// Where each blob ended up.
    pub placement: Placement,
}

/// Where the blobs of a sealed pack are: the offset each was given when
/// pushed (the order they were written in) and the offset it has in the
/// shuffled pack.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// Offsets returned by [`PackBuilder::push`], ascending.
    pushed: Vec<u32>,
    /// `placed[i]` is where the blob pushed at `pushed[i]` lies in the pack.
    placed: Vec<u32>,
}

impl Placement {
    /// The offset in the sealed pack of the blob pushed at `pushed_offset`.
    pub fn offset(&self, pushed_offset: u32) -> Option<u32> {
        let i = self.pushed.binary_search(&pushed_offset).ok()?;
        self.placed.get(i).copied()
    }
}

impl PackBuilder {
    pub fn new(slot: u32) -> Self {
        PackBuilder {
            slot,
            blobs: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if `blob_len` more bytes would make the padded pack exceed
    /// [`PACK_MAX`].
    pub fn would_overflow(&self, blob_len: usize) -> bool {
        padme_len(self.len + blob_len) > PACK_MAX
    }

    /// The size of the pack once sealed, padding included.
    pub fn sealed_len(&self) -> usize {
        padme_len(self.len)
    }

    /// Appends a blob; returns its offset in write order, which
    /// [`Placement::offset`] maps to its place in the sealed pack.
    pub fn push(&mut self, blob: Vec<u8>) -> u32 {
        let offset = self.len as u32;
        self.len += blob.len();
        self.blobs.push(blob);
        offset
    }

    pub fn is_full(&self) -> bool {
        self.len >= PACK_TARGET
    }

    /// Concatenates the blobs in a random order (OS RNG), pads the result
    /// with random bytes to its Padmé length and hashes it (CPU-bound:
    /// blocking thread).
    ///
    /// The padding must look like the AES-GCM output before it, so that the
    /// end of the last blob cannot be told from the padded length; hence
    /// random bytes, not zeros.
    pub fn seal(self) -> SealedPack {
        let mut order: Vec<usize> = (0..self.blobs.len()).collect();
        order.shuffle(&mut OsRng);
        let mut pushed = Vec::with_capacity(self.blobs.len());
        let mut offset = 0u32;
        for blob in &self.blobs {
            pushed.push(offset);
            offset += blob.len() as u32;
        }
        let sealed_len = self.sealed_len();
        let mut data = Vec::with_capacity(sealed_len);
        let mut placed = vec![0u32; self.blobs.len()];
        for i in order {
            placed[i] = data.len() as u32;
            data.extend_from_slice(&self.blobs[i]);
        }
        let end = data.len();
        data.resize(sealed_len, 0);
        OsRng.fill_bytes(&mut data[end..]);
        let hash = pack_hash(&data);
        SealedPack {
            data,
            hash,
            placement: Placement { pushed, placed },
        }
    }
}

/// SHA-256 of a pack (CPU-bound: blocking thread).
pub fn pack_hash(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Checks a fetched pack against its name.
pub fn verify_pack(object: &str, data: &[u8]) -> Result<(), String> {
    let expected = names::parse_pack_object(object).ok_or("malformed pack name")?;
    if data.len() > PACK_MAX {
        return Err(format!(
            "pack is {} bytes, more than the 32 MiB maximum",
            data.len()
        ));
    }
    if pack_hash(data) != expected {
        return Err("pack content does not match its SHA-256 name".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_matches_the_purbs_definition() {
        // Values from the PURBs paper's description: L = 9 keeps 3 bits
        // (E = 3, S = 2, one bit dropped) and rounds to 10.
        assert_eq!(padme_len(0), 0);
        assert_eq!(padme_len(1), 1);
        assert_eq!(padme_len(9), 10);
        assert_eq!(padme_len(1024), 1024);
        // A pack just over 16 MiB rounds to the next 512 KiB.
        assert_eq!(padme_len(PACK_TARGET + 1), PACK_TARGET + 512 * 1024);
        assert_eq!(padme_len(PACK_MAX), PACK_MAX);
        for len in (1..5000).chain((PACK_TARGET..PACK_MAX).step_by(99_991)) {
            let padded = padme_len(len);
            assert!(padded >= len && padded <= PACK_MAX.max(len));
            assert!(padded - len <= len / 8, "{len} → {padded}: over 12 %");
            assert_eq!(
                padme_len(padded),
                padded,
                "{len}: padded lengths are fixed points"
            );
        }
    }

    #[test]
    fn sealed_pack_is_shuffled_padded_and_placed() {
        let mut builder = PackBuilder::new(0);
        let blobs: Vec<Vec<u8>> = (0..32u8).map(|i| vec![i; 1000 + 37 * i as usize]).collect();
        let pushed: Vec<u32> = blobs.iter().map(|b| builder.push(b.clone())).collect();
        let blobs_len = builder.len();
        let sealed_len = builder.sealed_len();
        let sealed = builder.seal();
        assert_eq!(sealed.data.len(), sealed_len);
        assert_eq!(sealed_len, padme_len(blobs_len));
        assert!(sealed_len > blobs_len, "this length is not a Padmé length");
        assert_eq!(sealed.hash, pack_hash(&sealed.data));
        let placed: Vec<u32> = pushed
            .iter()
            .map(|&p| {
                sealed
                    .placement
                    .offset(p)
                    .expect("every pushed blob is placed")
            })
            .collect();
        for (blob, &at) in blobs.iter().zip(&placed) {
            assert_eq!(
                &sealed.data[at as usize..at as usize + blob.len()],
                &blob[..]
            );
        }
        // 32! orders: the write order comes back with probability 2^-117.
        assert_ne!(placed, pushed, "blobs are in write order");
        assert_eq!(sealed.placement.offset(1), None);
    }

    #[test]
    fn overflow_counts_the_padding() {
        let mut builder = PackBuilder::new(0);
        builder.push(vec![0; PACK_MAX - 1000]);
        assert!(!builder.would_overflow(1000));
        assert!(builder.would_overflow(1001));
    }
}
