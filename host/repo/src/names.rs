//! Object names in the store and backup-name validation.
//!
//! Layout: `config`, `backups/<hex of name>.json`, `manifests/<sha256 hex>`,
//! `packs/<first 2 hex>/<sha256 hex>`, `catalog/<seq, 20 digits>.json`.

use crate::error::RepoError;

pub const CONFIG: &str = "config";
pub const BACKUPS_PREFIX: &str = "backups/";
pub const MANIFESTS_PREFIX: &str = "manifests/";
pub const PACKS_PREFIX: &str = "packs/";
pub const CATALOG_PREFIX: &str = "catalog/";
/// Digits of a catalog event's sequence number in its object name: enough
/// for every `u64`, so names sort in sequence order.
const SEQ_DIGITS: usize = 20;

/// Longest backup name, in characters.
pub const MAX_BACKUP_NAME: usize = 128;

/// Checks a backup name: 1–128 characters of `[A-Za-z0-9._-]`, not starting with `.`.
pub fn validate_backup_name(name: &str) -> Result<(), RepoError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_BACKUP_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RepoError::InvalidName(name.chars().take(200).collect()))
    }
}

/// `backups/<lowercase hex of the name's bytes>.json`. Store segments are
/// `[a-z0-9._-]`, and backup names may hold capitals, so the name is hex-encoded.
pub fn record_object(name: &str) -> String {
    format!("{BACKUPS_PREFIX}{}.json", hex::encode(name.as_bytes()))
}

/// The backup name encoded in a commit-record object name, if it is one.
pub fn name_from_record_object(object: &str) -> Option<String> {
    let hex_part = object.strip_prefix(BACKUPS_PREFIX)?.strip_suffix(".json")?;
    if hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let bytes = hex::decode(hex_part).ok()?;
    let name = String::from_utf8(bytes).ok()?;
    validate_backup_name(&name).ok()?;
    Some(name)
}

/// `catalog/<seq, zero-padded to 20 digits>.json`: a retention or delete event.
pub fn event_object(seq: u64) -> String {
    format!("{CATALOG_PREFIX}{seq:0width$}.json", width = SEQ_DIGITS)
}

/// The sequence number encoded in a catalog event's object name, if it is one.
pub fn seq_from_event_object(object: &str) -> Option<u64> {
    let digits = object.strip_prefix(CATALOG_PREFIX)?.strip_suffix(".json")?;
    if digits.len() != SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `packs/<first 2 hex>/<sha256 hex>`.
pub fn pack_object(hash: &[u8; 32]) -> String {
    let h = hex::encode(hash);
    format!("{PACKS_PREFIX}{}/{h}", &h[..2])
}

/// `manifests/<sha256 hex>`.
pub fn manifest_object(hash: &[u8; 32]) -> String {
    format!("{MANIFESTS_PREFIX}{}", hex::encode(hash))
}

fn parse_hash(h: &str) -> Option<[u8; 32]> {
    if h.len() != 64 || h.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

/// The SHA-256 a pack object is named after, if the name is well-formed.
pub fn parse_pack_object(object: &str) -> Option<[u8; 32]> {
    let rest = object.strip_prefix(PACKS_PREFIX)?;
    let (dir, h) = rest.split_once('/')?;
    let hash = parse_hash(h)?;
    (dir.len() == 2 && h.starts_with(dir)).then_some(hash)
}

/// The SHA-256 a manifest object is named after, if the name is well-formed.
pub fn parse_manifest_object(object: &str) -> Option<[u8; 32]> {
    parse_hash(object.strip_prefix(MANIFESTS_PREFIX)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names() {
        for good in ["a", "Nightly-2024.01_02", &"x".repeat(128)] {
            assert!(validate_backup_name(good).is_ok(), "{good}");
            assert_eq!(
                name_from_record_object(&record_object(good)).as_deref(),
                Some(good)
            );
        }
        for bad in ["", ".hidden", "a/b", "a b", "ä", &"x".repeat(129), "a\0"] {
            assert!(
                matches!(validate_backup_name(bad), Err(RepoError::InvalidName(_))),
                "{bad:?}"
            );
        }
        assert_eq!(record_object("Ab"), "backups/4162.json");
        assert!(name_from_record_object("backups/4G.json").is_none());
        assert!(name_from_record_object("backups/2e61.json").is_none()); // ".a"
    }

    #[test]
    fn pack_and_manifest_names() {
        let h = [0xab; 32];
        let p = pack_object(&h);
        assert!(p.starts_with("packs/ab/abab"));
        assert_eq!(parse_pack_object(&p), Some(h));
        assert_eq!(parse_pack_object(&p.replace("packs/ab", "packs/cd")), None);
        assert_eq!(parse_pack_object("packs/ab"), None);
        let m = manifest_object(&h);
        assert_eq!(parse_manifest_object(&m), Some(h));
        assert_eq!(parse_manifest_object(&m.to_uppercase()), None);
        assert_eq!(parse_manifest_object("manifests/abc"), None);
    }

    #[test]
    fn event_names() {
        assert_eq!(event_object(7), "catalog/00000000000000000007.json");
        assert_eq!(
            seq_from_event_object(&event_object(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(seq_from_event_object("catalog/7.json"), None);
        assert_eq!(
            seq_from_event_object("catalog/0000000000000000000a.json"),
            None
        );
        assert_eq!(
            seq_from_event_object("catalog/99999999999999999999.json"),
            None
        );
    }
}
