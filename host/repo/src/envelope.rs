//! The checksummed JSON envelope of the plaintext objects (`config`, commit
//! records): exactly the bytes
//!
//! ```text
//! {"sha256":"<64 lowercase hex>","record":<compact JSON record>}
//! ```
//!
//! where the hex is the SHA-256 of the record's bytes as stored. Any changed
//! byte either breaks the fixed framing or the checksum, so accidental damage is
//! detected and named without a passcode.

use sha2::{Digest, Sha256};

const PREFIX: &[u8] = b"{\"sha256\":\"";
const MIDDLE: &[u8] = b"\",\"record\":";
const SUFFIX: &[u8] = b"}";
const HEADER_LEN: usize = PREFIX.len() + 64 + MIDDLE.len();

/// Wraps a compact JSON record.
pub fn seal(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + record.len() + 1);
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(hex::encode(Sha256::digest(record)).as_bytes());
    out.extend_from_slice(MIDDLE);
    out.extend_from_slice(record);
    out.extend_from_slice(SUFFIX);
    out
}

/// Checks framing and checksum; returns the record's bytes.
pub fn open(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < HEADER_LEN + SUFFIX.len()
        || !bytes.starts_with(PREFIX)
        || bytes.get(PREFIX.len() + 64..HEADER_LEN) != Some(MIDDLE)
        || !bytes.ends_with(SUFFIX)
    {
        return Err("not a checksummed record (framing broken)".into());
    }
    let stored = &bytes[PREFIX.len()..PREFIX.len() + 64];
    let record = &bytes[HEADER_LEN..bytes.len() - SUFFIX.len()];
    let actual = hex::encode(Sha256::digest(record));
    if stored != actual.as_bytes() {
        return Err("SHA-256 checksum mismatch".into());
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_flip_is_caught() {
        let sealed = seal(br#"{"a":1}"#);
        assert_eq!(open(&sealed).unwrap(), br#"{"a":1}"#);
        let v: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        assert!(v["sha256"].is_string());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open(&bad).is_err(), "flip at {i} not caught");
        }
        assert!(open(b"").is_err());
        assert!(open(&sealed[..sealed.len() - 1]).is_err());
    }
}
