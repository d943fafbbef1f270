//! The encrypted manifest: stages, their metadata and entries, and the table of
//! chunks (id → pack, offset, length, size). Serialised as JSON, then zstd and
//! AES-GCM (see `blob.rs`), stored as `manifests/<sha256 hex>`. Since version
//! 3 the bulky part is stored as content-defined segments, ordinary chunk
//! blobs that later backups share (`segmented.rs`); `load.rs` reads every
//! version into the same [`Manifest`].

mod fetch;
pub(crate) mod load;
pub(crate) mod segmented;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::archive::EntryKind;
use crate::archive::EntryMeta;
use crate::blob::{BLOB_OVERHEAD, MAX_BLOB};
use crate::chunker::MAX_CHUNK;
use crate::keys::ChunkId;
use crate::pack::PACK_MAX;
use crate::{StagePublic, names};

/// Version 2 added byte paths, owners, hard links and the root entry;
/// version 3 stores the chunk table and the entries as segments
/// (`docs/repository.md` §4.4). Versions 1 and 2 read as before.
pub const MANIFEST_VERSION: u32 = 3;
const READABLE_VERSIONS: std::ops::RangeInclusive<u32> = 1..=MANIFEST_VERSION;
/// Metadata pairs per stage (WIT contract).
pub const MAX_STAGE_METADATA: usize = 256;
/// Longest stage or plugin name.
pub const MAX_STAGE_NAME: usize = 128;

/// Where one chunk is stored. Serialised as the array
/// `[id hex, pack index, offset, length, size]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ChunkTuple", into = "ChunkTuple")]
pub struct ChunkRecord {
    pub id: ChunkId,
    /// Index into `Manifest::packs`.
    pub pack: u32,
    /// Offset of the blob in the pack.
    pub offset: u32,
    /// Length of the blob in the pack.
    pub length: u32,
    /// Plaintext size of the chunk.
    pub size: u32,
}

impl ChunkRecord {
    /// Whether the record names one of `packs` packs and a blob that can be
    /// a chunk's: at least the blob overhead, at most a maximum chunk stored
    /// raw, ending within the largest pack, of a plaintext size a chunk can have.
    pub fn in_bounds(&self, packs: usize) -> bool {
        let end = self.offset as u64 + self.length as u64;
        (self.pack as usize) < packs
            && (self.length as usize) >= BLOB_OVERHEAD
            && self.length as usize <= MAX_BLOB
            && end <= PACK_MAX as u64
            && self.size != 0
            && self.size as usize <= MAX_CHUNK
    }
}

#[derive(Serialize, Deserialize)]
struct ChunkTuple(ChunkId, u32, u32, u32, u32);

impl From<ChunkTuple> for ChunkRecord {
    fn from(t: ChunkTuple) -> Self {
        ChunkRecord {
            id: t.0,
            pack: t.1,
            offset: t.2,
            length: t.3,
            size: t.4,
        }
    }
}

impl From<ChunkRecord> for ChunkTuple {
    fn from(c: ChunkRecord) -> Self {
        ChunkTuple(c.id, c.pack, c.offset, c.length, c.size)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EntryRecord {
    pub meta: EntryMeta,
    /// Content bytes (files), 0 otherwise.
    pub size: u64,
    /// Indices into `Manifest::chunks`, in content order.
    pub chunks: Vec<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    pub plugin: String,
    /// `sha256:<hex>` of the component that wrote the stage; empty in
    /// manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plugin_digest: String,
    /// The version that component's `describe` returned; empty as above.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plugin_version: String,
    pub metadata: Vec<(String, String)>,
    pub entries: Vec<EntryRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// Name of the backup this manifest belongs to.
    pub backup: String,
    /// Key id of the keys that wrote it.
    pub key_id: String,
    /// Pack object names, referenced by index from `chunks`.
    pub packs: Vec<String>,
    pub chunks: Vec<ChunkRecord>,
    pub stages: Vec<StageRecord>,
    /// Version 3: the blobs the chunk table and entries were read from, in
    /// order. Chunks like any other (the dedup index holds them, so later
    /// backups share them), but no entry's content. Empty before version 3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<ChunkRecord>,
}

/// The build of a stage's plugin that wrote a stage: what a restore compares
/// with the component it runs. Both empty when not known (older manifests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginBuild {
    /// `sha256:<64 hex digits>` of the component.
    pub digest: String,
    /// The version the plugin's `describe` returned.
    pub version: String,
}

impl PluginBuild {
    /// Whether nothing was recorded (a manifest older than the fields).
    pub fn is_unknown(&self) -> bool {
        self.digest.is_empty() && self.version.is_empty()
    }

    /// Checks the digest's form and the version's length: a manifest (or a
    /// caller) cannot slip arbitrary text into what a restore reports.
    pub fn validate(&self) -> Result<(), String> {
        let hex = self.digest.strip_prefix("sha256:");
        if !self.digest.is_empty()
            && !hex.is_some_and(|h| {
                h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
        {
            return Err(format!(
                "plugin digest {:?} is not sha256:<64 lowercase hex digits>",
                self.digest
            ));
        }
        if !self.version.is_empty() {
            validate_stage_name("plugin version", &self.version)?;
        }
        Ok(())
    }
}

impl StageRecord {
    /// The plugin build recorded for this stage.
    pub fn plugin_build(&self) -> PluginBuild {
        PluginBuild {
            digest: self.plugin_digest.clone(),
            version: self.plugin_version.clone(),
        }
    }
}

/// Checks a stage or plugin name.
pub fn validate_stage_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_STAGE_NAME || name.chars().any(char::is_control) {
        return Err(format!(
            "{what} name {name:?} must be 1-{MAX_STAGE_NAME} bytes without control characters"
        ));
    }
    Ok(())
}

impl Manifest {
    /// Structural checks of a decrypted manifest against its commit record:
    /// every index and length is in bounds, so later reads cannot go astray.
    pub fn validate(
        &self,
        backup: &str,
        key_id: &str,
        record_packs: &[String],
        stages: &[StagePublic],
    ) -> Result<(), String> {
        if !READABLE_VERSIONS.contains(&self.version) {
            return Err(format!("unsupported manifest version {}", self.version));
        }
        if self.backup != backup {
            return Err(format!("manifest belongs to backup {:?}", self.backup));
        }
        if self.key_id != key_id {
            return Err("manifest was written under another key id".into());
        }
        if self.packs != record_packs {
            return Err("manifest's pack list differs from the commit record's".into());
        }
        for p in &self.packs {
            names::parse_pack_object(p).ok_or_else(|| format!("bad pack name {p:?}"))?;
        }
        for (i, c) in self.chunks.iter().enumerate() {
            if !c.in_bounds(self.packs.len()) {
                return Err(format!("chunk record {i} is out of bounds"));
            }
        }
        if self.version < 3 && !self.segments.is_empty() {
            return Err("only version 3 manifests have segments".into());
        }
        for (i, c) in self.segments.iter().enumerate() {
            if !c.in_bounds(self.packs.len()) {
                return Err(format!("segment record {i} is out of bounds"));
            }
        }
        if self.stages.len() != stages.len() {
            return Err("stage count differs from the commit record's".into());
        }
        let mut seen = HashSet::new();
        for (s, public) in self.stages.iter().zip(stages) {
            validate_stage_name("stage", &s.name)?;
            if !seen.insert(s.name.as_str()) {
                return Err(format!("stage {:?} appears twice", s.name));
            }
            if s.name != public.name || s.plugin != public.plugin {
                return Err(format!(
                    "stage {:?} differs from the commit record's",
                    s.name
                ));
            }
            s.plugin_build()
                .validate()
                .map_err(|e| format!("stage {:?}: {e}", s.name))?;
            if s.metadata.len() > MAX_STAGE_METADATA {
                return Err(format!("stage {:?} has too much metadata", s.name));
            }
            let mut bytes = 0u64;
            let mut files = HashSet::new();
            for e in &s.entries {
                e.meta.validate().map_err(|e| e.to_string())?;
                if e.meta.kind != EntryKind::File && !e.chunks.is_empty() {
                    return Err(format!("{}: only files have content", e.meta.path));
                }
                match e.meta.kind {
                    EntryKind::File => {
                        files.insert(&e.meta.path);
                    }
                    // A restore links to the file it already wrote: the
                    // target must come earlier, in the same stage.
                    EntryKind::HardLink
                        if !e
                            .meta
                            .link_target
                            .as_ref()
                            .is_some_and(|t| files.contains(t)) =>
                    {
                        return Err(format!(
                            "{}: hard link to a path that is not an earlier file",
                            e.meta.path
                        ));
                    }
                    _ => {}
                }
                let mut sum = 0u64;
                for &c in &e.chunks {
                    let chunk = self
                        .chunks
                        .get(c as usize)
                        .ok_or_else(|| format!("{}: chunk index out of range", e.meta.path))?;
                    sum += chunk.size as u64;
                }
                if sum != e.size {
                    return Err(format!("{}: chunk sizes do not add up", e.meta.path));
                }
                bytes += e.size;
            }
            if public.items != s.entries.len() as u64 || public.bytes != bytes {
                return Err(format!(
                    "stage {:?}: public summary does not match its entries",
                    s.name
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    /// A stage as manifests wrote it before the plugin build was recorded.
    const OLD_STAGE: &str = r#"{"name":"Stage config","plugin":"config-fs",
        "metadata":[["k","v"]],"entries":[]}"#;

    #[test]
    fn a_stage_without_a_recorded_build_reads_as_unknown() {
        let stage: StageRecord = serde_json::from_str(OLD_STAGE).unwrap();
        assert!(stage.plugin_build().is_unknown());
        assert_eq!(stage.plugin_build().validate(), Ok(()));
    }

    #[test]
    fn an_unknown_build_is_not_written_so_old_readers_see_the_old_form() {
        let stage: StageRecord = serde_json::from_str(OLD_STAGE).unwrap();
        let json = serde_json::to_value(&stage).unwrap();
        assert!(json.get("plugin_digest").is_none(), "{json}");
        assert!(json.get("plugin_version").is_none(), "{json}");
    }

    #[test]
    fn a_recorded_build_round_trips() {
        let mut stage: StageRecord = serde_json::from_str(OLD_STAGE).unwrap();
        stage.plugin_digest = DIGEST.into();
        stage.plugin_version = "0.1.0".into();
        let json = serde_json::to_string(&stage).unwrap();
        let back: StageRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back.plugin_build(),
            PluginBuild {
                digest: DIGEST.into(),
                version: "0.1.0".into()
            }
        );
    }

    #[test]
    fn malformed_digests_and_versions_are_refused() {
        for digest in [
            "ba7816bf",
            "sha256:",
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "md5:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ] {
            let build = PluginBuild {
                digest: digest.into(),
                version: String::new(),
            };
            assert!(build.validate().is_err(), "{digest}");
        }
        let build = PluginBuild {
            digest: DIGEST.into(),
            version: "1.0\n".into(),
        };
        assert!(build.validate().is_err());
    }
}
