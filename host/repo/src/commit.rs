//! Commit records, `backups/<hex name>.json`: the plaintext, checksummed record
//! whose presence makes a backup exist. Public information, KDF parameters and
//! salt, key id, manifest and pack names, and an HMAC (commit MAC key) over all
//! of it except `retention_date` (later changes are catalog events). Records
//! are written once; each is an entry of the store's hash-chained catalog
//! (`seq`, `prev`), so its MAC also authenticates the history before it.

use serde::{Deserialize, Serialize};

use crate::catalog::ChainLink;
use crate::keys::{KdfParams, Keys};
use crate::{BackupInfo, IncompleteStage, StagePublic, envelope, names};

pub const RECORD_FORMAT: &str = "drhost-repo-backup";
pub const RECORD_VERSION: u32 = 1;
/// Largest commit record accepted (its pack list grows with the backup).
pub const MAX_RECORD_SIZE: usize = 64 * 1024 * 1024;
const MAC_DOMAIN: &str = "drhost-repo/v1/commit";

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CommitRecord {
    pub format: String,
    pub version: u32,
    pub info: BackupInfo,
    pub kdf: KdfParams,
    pub key_id: String,
    /// `manifests/<sha256 hex>`.
    pub manifest: String,
    pub manifest_size: u64,
    /// Every pack the manifest references, sorted; what GC keeps alive.
    pub packs: Vec<String>,
    /// Position in the store's catalog (1 for the first entry); 0 for a
    /// record written before the catalog existed (not chained, see
    /// `docs/repository.md` §4.3), which is then serialised without it.
    #[serde(default, skip_serializing_if = "is_legacy")]
    pub seq: u64,
    /// The catalog entry before this one; `None` only for `seq` 1 (and 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<ChainLink>,
    /// Hex HMAC-SHA-256 over [`CommitRecord::mac_input`].
    pub mac: String,
}

/// What the MAC covers: everything but `retention_date` and the MAC itself.
#[derive(Serialize)]
struct MacInput<'a> {
    domain: &'static str,
    format: &'a str,
    version: u32,
    name: &'a str,
    description: &'a str,
    schedule_type: &'a str,
    start_time: i64,
    complete_time: i64,
    release: &'a str,
    stages: &'a [StagePublic],
    /// Left out when empty, so the MAC input of a complete backup is what it
    /// was before partial backups existed.
    #[serde(skip_serializing_if = "<[IncompleteStage]>::is_empty")]
    incomplete_stages: &'a [IncompleteStage],
    stored_bytes: u64,
    total_bytes: u64,
    kdf: &'a KdfParams,
    key_id: &'a str,
    manifest: &'a str,
    manifest_size: u64,
    packs: &'a [String],
    // Left out when absent, so records written before the catalog keep
    // their MAC input (and their MAC) unchanged.
    #[serde(skip_serializing_if = "is_legacy")]
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev: &'a Option<ChainLink>,
}

fn is_legacy(seq: &u64) -> bool {
    *seq == 0
}

impl CommitRecord {
    /// Canonical bytes the MAC is computed over (compact JSON of [`MacInput`]).
    pub fn mac_input(&self) -> Vec<u8> {
        let i = &self.info;
        serde_json::to_vec(&MacInput {
            domain: MAC_DOMAIN,
            format: &self.format,
            version: self.version,
            name: &i.name,
            description: &i.description,
            schedule_type: &i.schedule_type,
            start_time: i.start_time,
            complete_time: i.complete_time,
            release: &i.release,
            stages: &i.stages,
            incomplete_stages: &i.incomplete_stages,
            stored_bytes: i.stored_bytes,
            total_bytes: i.total_bytes,
            kdf: &self.kdf,
            key_id: &self.key_id,
            manifest: &self.manifest,
            manifest_size: self.manifest_size,
            packs: &self.packs,
            seq: self.seq,
            prev: &self.prev,
        })
        .expect("MAC input serialises")
    }

    pub fn sign(&mut self, keys: &Keys) {
        self.mac = hex::encode(keys.commit_mac(&self.mac_input()));
    }

    pub fn verify_mac(&self, keys: &Keys) -> bool {
        keys.verify_commit_mac(&self.mac_input(), &self.mac)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        envelope::seal(&serde_json::to_vec(self).expect("record serialises"))
    }

    /// Checksum and structure, no passcode needed. The error is why the record
    /// (named `object`) is damaged.
    pub fn parse(object: &str, bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_RECORD_SIZE {
            return Err("commit record is larger than 64 MiB".into());
        }
        let raw = envelope::open(bytes)?;
        let r: CommitRecord =
            serde_json::from_slice(raw).map_err(|e| format!("commit record is not valid: {e}"))?;
        if r.format != RECORD_FORMAT || r.version != RECORD_VERSION {
            return Err(format!(
                "unsupported record format {} version {}",
                r.format, r.version
            ));
        }
        if names::name_from_record_object(object).as_deref() != Some(r.info.name.as_str()) {
            return Err(format!(
                "record holds backup {:?}, not the one its object name says",
                r.info.name
            ));
        }
        r.kdf.validate()?;
        if r.key_id.len() != 32 || hex::decode(&r.key_id).is_err() {
            return Err("key id is not 32 hex digits".into());
        }
        if r.mac.len() != 64 || hex::decode(&r.mac).is_err() {
            return Err("MAC is not 64 hex digits".into());
        }
        for s in &r.info.incomplete_stages {
            crate::manifest::validate_stage_name("stage", &s.name)?;
            crate::manifest::validate_stage_name("plugin", &s.plugin)?;
            if r.info.stages.iter().any(|c| c.name == s.name) {
                return Err(format!(
                    "stage {:?} is listed as complete and incomplete",
                    s.name
                ));
            }
        }
        names::parse_manifest_object(&r.manifest).ok_or("malformed manifest name")?;
        for p in &r.packs {
            names::parse_pack_object(p).ok_or_else(|| format!("malformed pack name {p:?}"))?;
        }
        crate::catalog::check_position(r.seq, r.prev.as_ref())?;
        Ok(r)
    }
}

/// [`CommitRecord::verify_mac`] on a blocking thread.
pub async fn verify_mac_blocking(
    keys: &std::sync::Arc<Keys>,
    record: &CommitRecord,
) -> Result<bool, crate::RepoError> {
    let keys = keys.clone();
    let record = record.clone();
    tokio::task::spawn_blocking(move || record.verify_mac(&keys))
        .await
        .map_err(crate::RepoError::join)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, prev: Option<ChainLink>) -> CommitRecord {
        let info = BackupInfo {
            complete_time: 2,
            ..BackupInfo::new("nightly", "", "manual", 1, -1, "1")
        };
        CommitRecord {
            format: RECORD_FORMAT.into(),
            version: RECORD_VERSION,
            info,
            kdf: KdfParams::generate(),
            key_id: "ab".repeat(16),
            manifest: format!("manifests/{}", "cd".repeat(32)),
            manifest_size: 100,
            packs: vec![],
            seq,
            prev,
            mac: String::new(),
        }
    }

    /// A record from before the catalog has no `seq` or `prev`, and its MAC
    /// input is exactly the one it was signed with then.
    #[test]
    fn records_from_before_the_catalog_keep_their_mac() {
        let keys = Keys::for_tests([7; 32]);
        let mut legacy = record(0, None);
        let input = String::from_utf8(legacy.mac_input()).unwrap();
        assert!(
            input.ends_with(r#""manifest_size":100,"packs":[]}"#),
            "{input}"
        );
        legacy.sign(&keys);
        let bytes = legacy.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            !text.contains("\"seq\"") && !text.contains("\"prev\""),
            "{text}"
        );
        let parsed = CommitRecord::parse(&names::record_object("nightly"), &bytes).unwrap();
        assert_eq!(parsed.seq, 0);
        assert!(parsed.verify_mac(&keys));

        // A chained record's position is under the MAC.
        let mut chained = record(1, None);
        chained.sign(&keys);
        let mut moved = chained.clone();
        moved.seq = 2;
        moved.prev = Some(ChainLink {
            seq: 1,
            object: names::record_object("other"),
            sha256: "ef".repeat(32),
        });
        assert!(chained.verify_mac(&keys));
        assert!(!moved.verify_mac(&keys));
    }
}
