//! The index file's byte layout: a fixed header, the covered manifests, the
//! pack table and the records, then a checksum. Everything is little-endian
//! and fixed-size, so a record's position is computed, never searched for.
//!
//! ```text
//! header   64 B   magic "DRHIDX\0\x01", version u32, reserved u32, key id (16),
//!                 manifests u64, packs u64, records u64, reserved u64
//! manifests       manifests × 32 B: SHA-256 names of the covered manifests, sorted
//! packs           packs × 32 B: SHA-256 names of the packs, sorted (row = pack number)
//! records         records × 48 B: id (32), pack u32, offset u32, length u32, size u32,
//!                 sorted by id, ids unique
//! trailer  32 B   SHA-256(header ‖ SHA-256(manifests ‖ packs ‖ records))
//! ```

use crate::blob::{BLOB_OVERHEAD, MAX_BLOB};
use crate::chunker::MAX_CHUNK;
use crate::pack::PACK_MAX;

use super::IndexError;

pub(crate) const MAGIC: &[u8; 8] = b"DRHIDX\0\x01";
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: u64 = 64;
pub(crate) const HASH_LEN: u64 = 32;
pub(crate) const RECORD_LEN: usize = 48;
pub(crate) const TRAILER_LEN: u64 = 32;

/// The counts that fix the file's layout, and whose keys wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub key_id: [u8; 16],
    pub manifests: u64,
    pub packs: u64,
    pub records: u64,
}

/// Byte offsets of the sections, derived from a header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub packs_at: u64,
    pub records_at: u64,
    pub trailer_at: u64,
    pub file_len: u64,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        out[0..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[16..32].copy_from_slice(&self.key_id);
        out[32..40].copy_from_slice(&self.manifests.to_le_bytes());
        out[40..48].copy_from_slice(&self.packs.to_le_bytes());
        out[48..56].copy_from_slice(&self.records.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8; HEADER_LEN as usize]) -> Result<Self, IndexError> {
        if &bytes[0..8] != MAGIC {
            return Err(IndexError::corrupt("not a chunk index file (bad magic)"));
        }
        let version = u32::from_le_bytes(word(&bytes[8..12]));
        if version != VERSION {
            return Err(IndexError::corrupt(format!(
                "index version {version} is not {VERSION}"
            )));
        }
        if bytes[12..16].iter().chain(&bytes[56..64]).any(|&b| b != 0) {
            return Err(IndexError::corrupt("reserved header bytes are set"));
        }
        let mut key_id = [0u8; 16];
        key_id.copy_from_slice(&bytes[16..32]);
        let header = Header {
            key_id,
            manifests: u64::from_le_bytes(long(&bytes[32..40])),
            packs: u64::from_le_bytes(long(&bytes[40..48])),
            records: u64::from_le_bytes(long(&bytes[48..56])),
        };
        if header.packs > u64::from(u32::MAX) || header.records > u64::from(u32::MAX) {
            return Err(IndexError::corrupt("pack or record count out of range"));
        }
        Ok(header)
    }

    /// Where each section starts; `None` if the counts overflow.
    pub fn layout(&self) -> Option<Layout> {
        let packs_at = HEADER_LEN.checked_add(self.manifests.checked_mul(HASH_LEN)?)?;
        let records_at = packs_at.checked_add(self.packs.checked_mul(HASH_LEN)?)?;
        let trailer_at = records_at.checked_add(self.records.checked_mul(RECORD_LEN as u64)?)?;
        Some(Layout {
            packs_at,
            records_at,
            trailer_at,
            file_len: trailer_at.checked_add(TRAILER_LEN)?,
        })
    }
}

/// Where one chunk's blob is, as stored in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub id: [u8; 32],
    /// Row in the pack table.
    pub pack: u32,
    pub offset: u32,
    pub length: u32,
    pub size: u32,
}

impl Record {
    pub fn encode(&self, out: &mut [u8; RECORD_LEN]) {
        out[0..32].copy_from_slice(&self.id);
        out[32..36].copy_from_slice(&self.pack.to_le_bytes());
        out[36..40].copy_from_slice(&self.offset.to_le_bytes());
        out[40..44].copy_from_slice(&self.length.to_le_bytes());
        out[44..48].copy_from_slice(&self.size.to_le_bytes());
    }

    pub fn decode(bytes: &[u8; RECORD_LEN]) -> Self {
        let mut id = [0u8; 32];
        id.copy_from_slice(&bytes[0..32]);
        Record {
            id,
            pack: u32::from_le_bytes(word(&bytes[32..36])),
            offset: u32::from_le_bytes(word(&bytes[36..40])),
            length: u32::from_le_bytes(word(&bytes[40..44])),
            size: u32::from_le_bytes(word(&bytes[44..48])),
        }
    }

    /// The same bounds the manifest validation applies (§4.4), so a record
    /// can never point outside what a valid manifest could have listed.
    pub fn plausible(&self) -> bool {
        let end = u64::from(self.offset) + u64::from(self.length);
        (self.length as usize) >= BLOB_OVERHEAD
            && (self.length as usize) <= MAX_BLOB
            && end <= PACK_MAX as u64
            && self.size >= 1
            && (self.size as usize) <= MAX_CHUNK
    }

    /// One past the blob's last byte in its pack.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.length)
    }
}

fn word(b: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(b);
    out
}

fn long(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(b);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_round_trip() {
        let h = Header {
            key_id: [7; 16],
            manifests: 3,
            packs: 5,
            records: 11,
        };
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
        let layout = h.layout().unwrap();
        assert_eq!(layout.file_len, 64 + 3 * 32 + 5 * 32 + 11 * 48 + 32);
        let r = Record {
            id: [9; 32],
            pack: 4,
            offset: 100,
            length: 129,
            size: 100,
        };
        let mut buf = [0u8; RECORD_LEN];
        r.encode(&mut buf);
        assert_eq!(Record::decode(&buf), r);
        assert!(r.plausible());
    }

    #[test]
    fn overflowing_counts_have_no_layout() {
        let h = Header {
            key_id: [0; 16],
            manifests: u64::MAX / 2,
            packs: 1,
            records: 1,
        };
        assert!(h.layout().is_none());
    }
}
