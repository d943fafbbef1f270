//! Blob encoding: compress with zstd (when it helps), then AES-256-GCM.
//!
//! Chunk blob (stored inside packs):
//!
//! ```text
//! nonce (12, random) || AES-256-GCM(enc_key, nonce, aad, flag (1) || payload) || tag (16)
//! aad  = "drhost-repo/v1/chunk" || chunk id (32)
//! flag = 0: payload is the chunk as is; 1: payload is one zstd frame
//! ```
//!
//! Manifest object:
//!
//! ```text
//! "DRHM" || 0x01 || nonce (12) || AES-256-GCM(enc_key, nonce, "drhost-repo/v1/manifest", zstd(JSON)) || tag (16)
//! ```
//!
//! Everything here is CPU-bound: call it from blocking threads.

use std::cell::RefCell;
use std::io::Read;

use bytes::Bytes;
use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};

use crate::chunker::MAX_CHUNK;
use crate::keys::{ChunkId, Keys};

pub const TAG_LEN: usize = 16;
/// Bytes a blob adds to its payload: nonce, flag, tag.
pub const BLOB_OVERHEAD: usize = NONCE_LEN + 1 + TAG_LEN;
/// Largest valid chunk blob (a maximum-size chunk stored raw).
pub const MAX_BLOB: usize = MAX_CHUNK + BLOB_OVERHEAD;
/// zstd level for chunks (≈ 0.7 GB/s per core here).
pub const CHUNK_ZSTD_LEVEL: i32 = 1;
/// zstd level for manifests (small, compress well).
pub const MANIFEST_ZSTD_LEVEL: i32 = 3;
/// Largest manifest plaintext accepted when reading (the manifest is held in memory).
pub const MAX_MANIFEST_PLAINTEXT: u64 = 1 << 30;

const FLAG_RAW: u8 = 0;
const FLAG_ZSTD: u8 = 1;
const CHUNK_AAD_LABEL: &[u8] = b"drhost-repo/v1/chunk";
const MANIFEST_AAD: &[u8] = b"drhost-repo/v1/manifest";
const MANIFEST_MAGIC: &[u8] = b"DRHM\x01";

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn chunk_aad(id: &ChunkId) -> [u8; CHUNK_AAD_LABEL.len() + 32] {
    let mut aad = [0u8; CHUNK_AAD_LABEL.len() + 32];
    aad[..CHUNK_AAD_LABEL.len()].copy_from_slice(CHUNK_AAD_LABEL);
    aad[CHUNK_AAD_LABEL.len()..].copy_from_slice(&id.0);
    aad
}

fn random_nonce() -> Result<[u8; NONCE_LEN], String> {
    let mut n = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut n)
        .map_err(|_| "system random number generator failed".to_string())?;
    Ok(n)
}

/// zstd-compresses `data` with a per-thread context; `None` when the result
/// would not save at least 1/64 of the size.
fn compress_if_smaller(data: &[u8], level: i32) -> Option<Vec<u8>> {
    let limit = data.len() - data.len() / 64;
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::new(level).ok();
        }
        let c = slot.as_mut()?;
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
        c.compress_to_buffer(data, &mut out).ok()?;
        (out.len() < limit).then_some(out)
    })
}

fn seal(keys: &Keys, aad: &[u8], mut buf: Vec<u8>) -> Result<Vec<u8>, String> {
    // `buf` is nonce placeholder || plaintext.
    let nonce = random_nonce()?;
    buf[..NONCE_LEN].copy_from_slice(&nonce);
    let tag = keys
        .aead()
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf[NONCE_LEN..],
        )
        .map_err(|_| "encryption failed".to_string())?;
    buf.extend_from_slice(tag.as_ref());
    Ok(buf)
}

/// Decrypts `nonce || ciphertext || tag`; returns the plaintext as a view into
/// one owned buffer.
fn open(keys: &Keys, aad: &[u8], sealed: &[u8]) -> Result<Bytes, String> {
    let mut buf = Vec::new();
    let len = open_into(keys, aad, sealed, &mut buf)?.len();
    buf.truncate(len);
    Ok(Bytes::from(buf))
}

/// Decrypts `nonce || ciphertext || tag` in `buf` (its content replaced);
/// returns the plaintext, a prefix of it.
fn open_into<'b>(
    keys: &Keys,
    aad: &[u8],
    sealed: &[u8],
    buf: &'b mut Vec<u8>,
) -> Result<&'b [u8], String> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err("too short to be encrypted data".into());
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[..NONCE_LEN]);
    buf.clear();
    buf.extend_from_slice(&sealed[NONCE_LEN..]);
    let plain = keys
        .aead()
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
        .map_err(|_| "authentication failed (AES-GCM tag mismatch)".to_string())?;
    Ok(plain)
}

/// Compresses (if useful) and encrypts one chunk.
pub fn encode_chunk(keys: &Keys, id: &ChunkId, data: &[u8]) -> Result<Vec<u8>, String> {
    let compressed = if data.len() > 64 {
        compress_if_smaller(data, CHUNK_ZSTD_LEVEL)
    } else {
        None
    };
    let (flag, payload) = match &compressed {
        Some(c) => (FLAG_ZSTD, c.as_slice()),
        None => (FLAG_RAW, data),
    };
    let mut buf = Vec::with_capacity(BLOB_OVERHEAD + payload.len());
    buf.extend_from_slice(&[0u8; NONCE_LEN]);
    buf.push(flag);
    buf.extend_from_slice(payload);
    seal(keys, &chunk_aad(id), buf)
}

/// Decrypts and decompresses one chunk blob and checks it is the `size`-byte
/// chunk whose id is `id`.
pub fn decode_chunk(keys: &Keys, id: &ChunkId, size: usize, blob: &[u8]) -> Result<Bytes, String> {
    let mut out = Vec::new();
    decode_chunk_into(keys, id, size, blob, &mut out, &mut Vec::new())?;
    Ok(Bytes::from(out))
}

/// [`decode_chunk`], appending the chunk to `out`; `scratch` holds the
/// decrypted blob (pass the same one again to reuse its memory). On error,
/// `out` is as it was. Decoding a run of chunks into one buffer takes one
/// allocation for the run instead of two per chunk, and its reader one
/// free: restoring many small files, the frees of chunks decoded on other
/// threads made the restoring thread wait on the allocator's lock.
pub fn decode_chunk_into(
    keys: &Keys,
    id: &ChunkId,
    size: usize,
    blob: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    if blob.len() < BLOB_OVERHEAD || blob.len() > MAX_BLOB || size > MAX_CHUNK {
        return Err(format!(
            "chunk blob has an impossible length {}",
            blob.len()
        ));
    }
    let start = out.len();
    // Appends the plaintext, unverified.
    let decoded = (|| {
        let plain = open_into(keys, &chunk_aad(id), blob, scratch)?;
        let Some((&flag, payload)) = plain.split_first() else {
            return Err("chunk blob is empty".into());
        };
        match flag {
            FLAG_RAW => out.extend_from_slice(payload),
            FLAG_ZSTD => DECOMPRESSOR.with(|cell| {
                let mut slot = cell.borrow_mut();
                if slot.is_none() {
                    *slot = zstd::bulk::Decompressor::new().ok();
                }
                let d = slot
                    .as_mut()
                    .ok_or_else(|| "zstd context unavailable".to_string())?;
                // Written after what `out` holds, into room for `size` bytes
                // (more only if `out` has it anyway: the size is checked after).
                out.reserve(size);
                let filled = out.len() as u64;
                let mut after = std::io::Cursor::new(&mut *out);
                after.set_position(filled);
                d.decompress_to_buffer(payload, &mut after)
                    .map_err(|e| format!("zstd decompression failed: {e}"))?;
                Ok::<_, String>(())
            })?,
            other => return Err(format!("unknown chunk encoding flag {other}")),
        }
        Ok(())
    })();
    let verified = decoded.and_then(|()| {
        let data = &out[start..];
        if data.len() != size {
            return Err(format!(
                "chunk is {} bytes, the manifest says {size}",
                data.len()
            ));
        }
        if keys.chunk_id(data) != *id {
            return Err("chunk content does not match its id (HMAC mismatch)".into());
        }
        Ok(())
    });
    if verified.is_err() {
        out.truncate(start);
    }
    verified
}

/// Compresses and encrypts a manifest's JSON.
pub fn seal_manifest(keys: &Keys, json: &[u8]) -> Result<Vec<u8>, String> {
    let compressed = zstd::bulk::compress(json, MANIFEST_ZSTD_LEVEL)
        .map_err(|e| format!("zstd compression failed: {e}"))?;
    let mut buf = Vec::with_capacity(NONCE_LEN + compressed.len() + TAG_LEN);
    buf.extend_from_slice(&[0u8; NONCE_LEN]);
    buf.extend_from_slice(&compressed);
    let sealed = seal(keys, MANIFEST_AAD, buf)?;
    let mut out = Vec::with_capacity(MANIFEST_MAGIC.len() + sealed.len());
    out.extend_from_slice(MANIFEST_MAGIC);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts and decompresses a manifest object into its JSON (bounded).
pub fn open_manifest(keys: &Keys, object: &[u8]) -> Result<Vec<u8>, String> {
    let Some(sealed) = object.strip_prefix(MANIFEST_MAGIC) else {
        return Err("not a version-1 manifest (bad magic)".into());
    };
    let compressed = open(keys, MANIFEST_AAD, sealed)?;
    let decoder = zstd::stream::read::Decoder::new(&compressed[..])
        .map_err(|e| format!("zstd failed: {e}"))?;
    let mut json = Vec::new();
    decoder
        .take(MAX_MANIFEST_PLAINTEXT + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("zstd decompression failed: {e}"))?;
    if json.len() as u64 > MAX_MANIFEST_PLAINTEXT {
        return Err("manifest is larger than 1 GiB".into());
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn chunks_round_trip_compressed_and_raw() {
        let keys = Keys::for_tests([3; 32]);
        let mut random = vec![0u8; 300_000];
        rand::thread_rng().fill_bytes(&mut random);
        let text = b"hello world ".repeat(20_000);
        for data in [&random[..], &text[..], b"x", b""] {
            let id = keys.chunk_id(data);
            let blob = encode_chunk(&keys, &id, data).unwrap();
            assert!(blob.len() <= data.len() + BLOB_OVERHEAD);
            assert_eq!(
                &decode_chunk(&keys, &id, data.len(), &blob).unwrap()[..],
                data
            );
        }
        let id = keys.chunk_id(&text);
        let blob = encode_chunk(&keys, &id, &text).unwrap();
        assert!(blob.len() < text.len() / 10, "text was not compressed");
        let raw_blob = encode_chunk(&keys, &keys.chunk_id(&random), &random).unwrap();
        assert_eq!(
            raw_blob.len(),
            random.len() + BLOB_OVERHEAD,
            "random data stored raw"
        );
    }

    #[test]
    fn chunks_decoded_into_one_buffer_follow_each_other_and_a_bad_one_adds_nothing() {
        let keys = Keys::for_tests([3; 32]);
        let mut random = vec![0u8; 70_000];
        rand::thread_rng().fill_bytes(&mut random);
        let text = b"hello world ".repeat(5_000);
        let chunks = [&text[..], &random[..], b"", &text[..100]];
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        for data in chunks {
            let id = keys.chunk_id(data);
            let blob = encode_chunk(&keys, &id, data).unwrap();
            decode_chunk_into(&keys, &id, data.len(), &blob, &mut out, &mut scratch).unwrap();
        }
        assert_eq!(out, chunks.concat());
        let before = out.clone();
        let id = keys.chunk_id(&text);
        let blob = encode_chunk(&keys, &id, &text).unwrap();
        for (size, id) in [(text.len() - 1, id), (text.len(), keys.chunk_id(b"other"))] {
            assert!(decode_chunk_into(&keys, &id, size, &blob, &mut out, &mut scratch).is_err());
            assert_eq!(out, before);
        }
    }

    #[test]
    fn tampering_is_detected() {
        let keys = Keys::for_tests([3; 32]);
        let other = Keys::for_tests([4; 32]);
        let data = b"some chunk data".repeat(100);
        let id = keys.chunk_id(&data);
        let blob = encode_chunk(&keys, &id, &data).unwrap();
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x80;
            assert!(decode_chunk(&keys, &id, data.len(), &bad).is_err());
        }
        // Swapped id (another chunk's blob in this place) and wrong key.
        let id2 = keys.chunk_id(b"other");
        assert!(decode_chunk(&keys, &id2, data.len(), &blob).is_err());
        assert!(decode_chunk(&other, &id, data.len(), &blob).is_err());
        assert!(decode_chunk(&keys, &id, data.len() + 1, &blob).is_err());
        assert!(decode_chunk(&keys, &id, data.len(), &blob[..10]).is_err());
    }

    #[test]
    fn manifests_round_trip() {
        let keys = Keys::for_tests([5; 32]);
        let json = br#"{"hello":"manifest"}"#;
        let sealed = seal_manifest(&keys, json).unwrap();
        assert_eq!(open_manifest(&keys, &sealed).unwrap(), json);
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(open_manifest(&keys, &bad).is_err());
        assert!(open_manifest(&Keys::for_tests([6; 32]), &sealed).is_err());
        assert!(open_manifest(&keys, b"DRHM").is_err());
    }
}
