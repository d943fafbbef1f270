//! Packs: chunk blobs appended back to back, named after the SHA-256 of the
//! whole pack (`packs/<2 hex>/<64 hex>`). A pack has no header or trailer; the
//! manifests record where each blob starts and how long it is.

use sha2::{Digest, Sha256};

use crate::names;

/// A pack is sealed once it reaches this size.
pub const PACK_TARGET: usize = 16 * 1024 * 1024;
/// No pack is ever larger than this (a pack at the target plus one maximum blob
/// stays well below it).
pub const PACK_MAX: usize = 32 * 1024 * 1024;
/// Sealed packs being uploaded at once by one writer.
pub const MAX_UPLOADS_IN_FLIGHT: usize = 2;

/// A pack being filled: its blobs, concatenated only when it is sealed (on a
/// blocking thread, together with its SHA-256), so the in-order consumer on
/// the async runtime never copies blob bytes.
pub struct PackBuilder {
    /// The writer's slot number for this pack (its name is known once sealed).
    pub slot: u32,
    blobs: Vec<Vec<u8>>,
    len: usize,
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

    /// True if `blob_len` more bytes would exceed [`PACK_MAX`].
    pub fn would_overflow(&self, blob_len: usize) -> bool {
        self.len + blob_len > PACK_MAX
    }

    /// Appends a blob; returns its offset.
    pub fn push(&mut self, blob: Vec<u8>) -> u32 {
        let offset = self.len as u32;
        self.len += blob.len();
        self.blobs.push(blob);
        offset
    }

    pub fn is_full(&self) -> bool {
        self.len >= PACK_TARGET
    }

    /// Concatenates the blobs and hashes the result (CPU-bound: blocking thread).
    pub fn seal(self) -> (Vec<u8>, [u8; 32]) {
        let mut data = Vec::with_capacity(self.len);
        for blob in self.blobs {
            data.extend_from_slice(&blob);
        }
        let hash = pack_hash(&data);
        (data, hash)
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
