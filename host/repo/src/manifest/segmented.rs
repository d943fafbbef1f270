//! Manifest version 3: a small root object and a body stored as segments.
//!
//! The body holds what makes a manifest large and what does not change
//! when a tree does not: every stage's entries, with the chunk table
//! written inline, each chunk where it is first used. Its bytes depend only
//! on the entries and where their chunks are stored, never on the backup's
//! name or time, so an unchanged tree gives the same bytes, and the
//! content-defined segments cut from them are those of the previous backup,
//! already stored. The encoding keeps changes local, so a partly changed
//! tree rewrites only the segments around the change:
//!
//! - a chunk first used by an entry is written there as a row; a chunk used
//!   again is the distance back to its row (not a table position, which an
//!   added file would shift for every later entry);
//! - a row names its pack by hash, or `null` for the pack of the row before
//!   (not an index into a sorted pack list, which a new pack would shift).
//!
//! The root keeps what differs between backups or is small: the backup's
//! name and key id, the pack list of the commit record, each stage's name,
//! plugin build and metadata, and the segments as chunk records.

use std::collections::HashMap;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ChunkRecord, EntryRecord, MANIFEST_VERSION, Manifest, StageRecord};
use crate::archive::EntryMeta;
use crate::keys::ChunkId;
use crate::names;

/// The root object's JSON (inside the usual manifest envelope).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Root {
    pub version: u32,
    pub backup: String,
    pub key_id: String,
    /// Every pack the body's rows and the segments are in, sorted: the
    /// commit record's list.
    pub packs: Vec<String>,
    pub stages: Vec<StageHead>,
    /// The body's segments, in order; `pack` indexes `packs`.
    pub segments: Vec<ChunkRecord>,
}

/// A stage without its entries.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StageHead {
    pub name: String,
    pub plugin: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plugin_digest: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plugin_version: String,
    pub metadata: Vec<(String, String)>,
}

/// The body's JSON: each stage's entries, then the rows of chunks no entry
/// uses (those a failed stage wrote before it was dropped).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Body {
    stages: Vec<Vec<BodyEntry>>,
    unreferenced: Vec<Row>,
}

#[derive(Debug, Serialize, Deserialize)]
struct BodyEntry {
    meta: EntryMeta,
    size: u64,
    chunks: Vec<ChunkRef>,
}

/// `[id hex, pack hash hex or null, offset, length, size]`.
#[derive(Debug, Serialize, Deserialize)]
struct Row(ChunkId, Option<String>, u32, u32, u32);

/// A chunk of an entry: its row where the chunk is first used, else how many
/// rows back its row is (1 is the row written last).
#[derive(Debug)]
enum ChunkRef {
    Back(u32),
    New(Row),
}

impl Serialize for ChunkRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ChunkRef::Back(distance) => s.serialize_u32(*distance),
            ChunkRef::New(row) => row.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ChunkRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RefVisitor;
        impl<'de> Visitor<'de> for RefVisitor {
            type Value = ChunkRef;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a chunk row or a distance back to one")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ChunkRef, E> {
                u32::try_from(v)
                    .map(ChunkRef::Back)
                    .map_err(|_| E::custom("chunk distance out of range"))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ChunkRef, A::Error> {
                Row::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(ChunkRef::New)
            }
        }
        d.deserialize_any(RefVisitor)
    }
}

/// Splits a manifest into its root (with no segments yet) and its body.
pub(crate) fn split(m: Manifest) -> Result<(Root, Body), String> {
    let pack_hashes = m
        .packs
        .iter()
        .map(|p| names::parse_pack_object(p).map(hex::encode))
        .collect::<Option<Vec<String>>>()
        .ok_or("a pack name is malformed")?;
    let mut rows = RowWriter {
        chunks: &m.chunks,
        pack_hashes: &pack_hashes,
        position: vec![None; m.chunks.len()],
        written: 0,
        last_pack: None,
    };
    let mut heads = Vec::with_capacity(m.stages.len());
    let mut stages = Vec::with_capacity(m.stages.len());
    for stage in m.stages {
        let mut entries = Vec::with_capacity(stage.entries.len());
        for e in stage.entries {
            let chunks = e
                .chunks
                .iter()
                .map(|&i| rows.reference(i))
                .collect::<Result<_, _>>()?;
            entries.push(BodyEntry {
                meta: e.meta,
                size: e.size,
                chunks,
            });
        }
        stages.push(entries);
        heads.push(StageHead {
            name: stage.name,
            plugin: stage.plugin,
            plugin_digest: stage.plugin_digest,
            plugin_version: stage.plugin_version,
            metadata: stage.metadata,
        });
    }
    let unreferenced = rows.unreferenced()?;
    let root = Root {
        version: MANIFEST_VERSION,
        backup: m.backup,
        key_id: m.key_id,
        packs: m.packs,
        stages: heads,
        segments: Vec::new(),
    };
    Ok((
        root,
        Body {
            stages,
            unreferenced,
        },
    ))
}

/// Writes the chunk table as rows, in the order entries first use them.
struct RowWriter<'a> {
    chunks: &'a [ChunkRecord],
    pack_hashes: &'a [String],
    /// Each chunk's row number, once written.
    position: Vec<Option<u32>>,
    written: u32,
    last_pack: Option<u32>,
}

impl RowWriter<'_> {
    fn reference(&mut self, index: u32) -> Result<ChunkRef, String> {
        let slot = self
            .position
            .get_mut(index as usize)
            .ok_or("an entry names a chunk outside the table")?;
        if let Some(row) = *slot {
            return Ok(ChunkRef::Back(self.written - row));
        }
        *slot = Some(self.written);
        self.row(index).map(ChunkRef::New)
    }

    fn row(&mut self, index: u32) -> Result<Row, String> {
        let c = self
            .chunks
            .get(index as usize)
            .ok_or("an entry names a chunk outside the table")?;
        let pack = if self.last_pack == Some(c.pack) {
            None
        } else {
            let hash = self
                .pack_hashes
                .get(c.pack as usize)
                .ok_or("a chunk names a pack outside the list")?;
            Some(hash.clone())
        };
        self.last_pack = Some(c.pack);
        self.written += 1;
        Ok(Row(c.id, pack, c.offset, c.length, c.size))
    }

    /// Rows for the chunks no entry used, in table order.
    fn unreferenced(&mut self) -> Result<Vec<Row>, String> {
        let unused: Vec<u32> = (0..self.chunks.len() as u32)
            .filter(|&i| self.position.get(i as usize).is_some_and(Option::is_none))
            .collect();
        unused.into_iter().map(|i| self.row(i)).collect()
    }
}

/// Rebuilds the manifest from its root and its parsed body: the chunk table
/// in the order of the rows, entries pointing into it.
pub(crate) fn join(root: Root, body: Body) -> Result<Manifest, String> {
    if root.stages.len() != body.stages.len() {
        return Err("the body's stage count differs from the root's".into());
    }
    let mut table = TableReader::new(&root.packs)?;
    let mut stages = Vec::with_capacity(root.stages.len());
    for (head, entries) in root.stages.into_iter().zip(body.stages) {
        let entries = entries
            .into_iter()
            .map(|e| {
                let chunks = e
                    .chunks
                    .into_iter()
                    .map(|r| table.resolve(r))
                    .collect::<Result<_, _>>()?;
                Ok(EntryRecord {
                    meta: e.meta,
                    size: e.size,
                    chunks,
                })
            })
            .collect::<Result<_, String>>()?;
        stages.push(StageRecord {
            name: head.name,
            plugin: head.plugin,
            plugin_digest: head.plugin_digest,
            plugin_version: head.plugin_version,
            metadata: head.metadata,
            entries,
        });
    }
    for row in body.unreferenced {
        table.push(row)?;
    }
    Ok(Manifest {
        version: root.version,
        backup: root.backup,
        key_id: root.key_id,
        chunks: table.chunks,
        packs: root.packs,
        stages,
        segments: root.segments,
    })
}

/// Reads rows back into a chunk table over the root's pack list.
struct TableReader {
    pack_index: HashMap<[u8; 32], u32>,
    chunks: Vec<ChunkRecord>,
    last_pack: Option<u32>,
}

impl TableReader {
    fn new(packs: &[String]) -> Result<Self, String> {
        let mut pack_index = HashMap::with_capacity(packs.len());
        for (i, p) in packs.iter().enumerate() {
            let hash = names::parse_pack_object(p).ok_or_else(|| format!("bad pack name {p:?}"))?;
            pack_index.insert(hash, i as u32);
        }
        Ok(TableReader {
            pack_index,
            chunks: Vec::new(),
            last_pack: None,
        })
    }

    fn resolve(&mut self, r: ChunkRef) -> Result<u32, String> {
        match r {
            ChunkRef::New(row) => self.push(row),
            ChunkRef::Back(distance) => (self.chunks.len() as u64)
                .checked_sub(u64::from(distance))
                .filter(|_| distance > 0)
                .map(|i| i as u32)
                .ok_or_else(|| format!("chunk distance {distance} points outside the table")),
        }
    }

    fn push(&mut self, Row(id, pack, offset, length, size): Row) -> Result<u32, String> {
        let pack = match pack {
            Some(hash) => {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(&hash, &mut bytes)
                    .map_err(|_| format!("pack hash {hash:?} is not 64 hex digits"))?;
                *self.pack_index.get(&bytes).ok_or_else(|| {
                    format!("a chunk is in pack {hash}, which the root does not list")
                })?
            }
            None => self.last_pack.ok_or("the first chunk row names no pack")?,
        };
        self.last_pack = Some(pack);
        let index = u32::try_from(self.chunks.len()).map_err(|_| "too many chunks")?;
        self.chunks.push(ChunkRecord {
            id,
            pack,
            offset,
            length,
            size,
        });
        Ok(index)
    }
}

/// The body's bytes: compact JSON, the same bytes for the same entries and
/// chunk locations.
pub(crate) fn body_bytes(body: &Body) -> Result<Vec<u8>, String> {
    serde_json::to_vec(body).map_err(|e| format!("manifest body: {e}"))
}

pub(crate) fn parse_body(bytes: &[u8]) -> Result<Body, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("manifest body is not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::file_meta;

    /// Pack hashes that no chunk id equals, so the body's text tells them apart.
    fn pack(n: u8) -> String {
        names::pack_object(&[0xa0 + n; 32])
    }

    fn chunk(n: u8, pack: u32) -> ChunkRecord {
        ChunkRecord {
            id: ChunkId([n; 32]),
            pack,
            offset: u32::from(n) * 100,
            length: 50,
            size: 10,
        }
    }

    fn entry(path: &str, chunks: &[u32]) -> EntryRecord {
        EntryRecord {
            meta: file_meta(path),
            size: 10 * chunks.len() as u64,
            chunks: chunks.to_vec(),
        }
    }

    fn stage(name: &str, entries: Vec<EntryRecord>) -> StageRecord {
        StageRecord {
            name: name.into(),
            plugin: "p".into(),
            plugin_digest: String::new(),
            plugin_version: "1.0".into(),
            metadata: vec![("k".into(), name.into())],
            entries,
        }
    }

    /// Two stages over two packs; chunk 1 used twice, chunk 4 by no entry
    /// (a dropped stage's). The table is in first-use order, as written.
    fn manifest() -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            backup: "b".into(),
            key_id: "k".into(),
            packs: vec![pack(1), pack(2)],
            chunks: vec![chunk(1, 0), chunk(2, 0), chunk(3, 1), chunk(4, 1)],
            stages: vec![
                stage("s", vec![entry("a", &[0, 1]), entry("b", &[])]),
                stage("t", vec![entry("c", &[2, 0]), entry("d", &[1])]),
            ],
            segments: Vec::new(),
        }
    }

    fn round_trip(m: Manifest) -> (Vec<u8>, Result<Manifest, String>) {
        let (root, body) = split(m).unwrap();
        let bytes = body_bytes(&body).unwrap();
        let root: Root = serde_json::from_slice(&serde_json::to_vec(&root).unwrap()).unwrap();
        let back = parse_body(&bytes).and_then(|b| join(root, b));
        (bytes, back)
    }

    #[test]
    fn a_manifest_comes_back_whole_through_root_and_body() {
        let (bytes, back) = round_trip(manifest());
        let json = |m: &Manifest| serde_json::to_value(m).unwrap();
        assert_eq!(json(&back.unwrap()), json(&manifest()));
        let text = String::from_utf8(bytes).unwrap();
        // Rows where first used, distances back, the pack named on change.
        assert_eq!(
            text.matches(&hex::encode([0xa1u8; 32])).count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.matches(&hex::encode([0xa2u8; 32])).count(),
            1,
            "{text}"
        );
        assert!(text.contains(r#",3]},"#), "{text}");
        assert!(text.contains(r#""chunks":[2]"#), "{text}");
        assert!(text.contains(r#""unreferenced":[["0404"#), "{text}");
    }

    #[test]
    fn the_body_depends_on_entries_and_locations_only() {
        let mut other = manifest();
        other.backup = "another".into();
        other.stages[0].metadata = vec![("run".into(), "2".into())];
        other.packs.push(pack(3));
        assert_eq!(round_trip(other).0, round_trip(manifest()).0);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let (root, body) = split(manifest()).unwrap();
        let text = String::from_utf8(body_bytes(&body).unwrap()).unwrap();
        let root_json = serde_json::to_vec(&root).unwrap();
        let fresh_root = || serde_json::from_slice::<Root>(&root_json).unwrap();
        let try_body = |t: &str| parse_body(t.as_bytes()).and_then(|b| join(fresh_root(), b));
        assert!(try_body(&text).is_ok());
        let p1 = hex::encode([0xa1u8; 32]);
        for bad in [
            text.replace(r#""chunks":[2]"#, r#""chunks":[0]"#),
            text.replace(r#""chunks":[2]"#, r#""chunks":[9]"#),
            text.replacen(&format!(r#""{p1}""#), "null", 1),
            text.replacen(&p1, &"ee".repeat(32), 1),
            text.replacen(r#"{"stages":["#, r#"{"stages":[[],"#, 1),
            text.replace(r#""chunks":[2]"#, r#""chunks":["x"]"#),
        ] {
            assert!(try_body(&bad).is_err(), "{bad}");
        }
    }
}
