//! Building an index file with bounded memory: chunk records are collected in
//! runs of at most `run_bytes`, each sorted and spilled to an anonymous temp
//! file, then k-way merged, together with an existing index when extending
//! one, into the final file. New pack names are numbered in a map until the
//! merge; once that map holds `max_new_packs` names, the builder merges what
//! it has into an intermediate index and continues on top of it, so a full
//! rebuild of a large store never holds every pack name at once.
//!
//! Among records with the same id, the one with the smallest (pack hash,
//! offset) is kept. The choice depends only on the set of records, never on
//! the order they were added in, so extending an index gives the same file as
//! rebuilding it from the same manifests.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::IndexError;
use super::file::{ChunkIndex, IndexFile, RecordReader, checksum};
use super::format::{HEADER_LEN, Header, RECORD_LEN, Record};

/// Memory bounds of a build.
#[derive(Clone, Copy, Debug)]
pub struct BuildLimits {
    /// Bytes of records sorted in memory before a run is spilled.
    pub run_bytes: usize,
    /// New pack names numbered in memory before an intermediate merge.
    pub max_new_packs: usize,
}

impl Default for BuildLimits {
    fn default() -> Self {
        BuildLimits {
            run_bytes: 64 * 1024 * 1024,
            // ≈ 70 B each with the map: ~70 MiB, 16 M chunks of 16 per pack.
            max_new_packs: 1 << 20,
        }
    }
}

/// One chunk of a manifest's chunk table, as given to the builder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub id: [u8; 32],
    /// Index into the manifest's pack list.
    pub pack: u32,
    pub offset: u32,
    pub length: u32,
    pub size: u32,
}

/// A sorted, deduplicated run spilled to disk (pack numbers are the
/// builder's temporary ones).
struct Run {
    file: File,
    records: u64,
}

/// Builds an index file from manifests' chunk tables, optionally on top of an
/// existing index.
pub struct IndexBuilder {
    key_id: [u8; 16],
    temp_dir: PathBuf,
    limits: BuildLimits,
    /// Existing indexes this build extends (merged into the result).
    bases: Vec<IndexFile>,
    manifests: BTreeSet<[u8; 32]>,
    pack_numbers: HashMap<[u8; 32], u32>,
    pack_hashes: Vec<[u8; 32]>,
    run: Vec<Record>,
    runs: Vec<Run>,
}

impl IndexBuilder {
    /// An empty index for `key_id`; temp files go to `temp_dir`.
    pub fn new(key_id: [u8; 16], temp_dir: &Path, limits: BuildLimits) -> Self {
        IndexBuilder {
            key_id,
            temp_dir: temp_dir.to_path_buf(),
            limits,
            bases: Vec::new(),
            manifests: BTreeSet::new(),
            pack_numbers: HashMap::new(),
            pack_hashes: Vec::new(),
            run: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Starts from existing indexes of `key_id` (already verified when they
    /// were opened); the result holds all of their records.
    pub fn extend(
        key_id: [u8; 16],
        bases: Vec<ChunkIndex>,
        temp_dir: &Path,
        limits: BuildLimits,
    ) -> Result<Self, IndexError> {
        let mut builder = Self::new(key_id, temp_dir, limits);
        for base in bases {
            let base = base.into_file();
            if base.header.key_id != key_id {
                return Err(IndexError::corrupt(
                    "an index of another key cannot be extended",
                ));
            }
            builder.manifests.extend(base.manifests.iter().copied());
            builder.bases.push(base);
        }
        Ok(builder)
    }

    /// Whether the chunks of `manifest` are already in.
    pub fn covers(&self, manifest: &[u8; 32]) -> bool {
        self.manifests.contains(manifest)
    }

    fn run_limit(&self) -> usize {
        (self.limits.run_bytes / std::mem::size_of::<Record>()).max(1)
    }

    /// Adds the chunk table of manifest `manifest` (named by its SHA-256),
    /// whose pack list is `packs`. Entries with a pack index out of range or
    /// impossible blob bounds are skipped; a manifest already covered is
    /// ignored.
    pub fn add_manifest(
        &mut self,
        manifest: [u8; 32],
        packs: &[[u8; 32]],
        chunks: impl IntoIterator<Item = IndexEntry>,
    ) -> Result<(), IndexError> {
        if !self.manifests.insert(manifest) {
            return Ok(());
        }
        let mut numbers: Vec<Option<u32>> = vec![None; packs.len()];
        for c in chunks {
            let Some(hash) = packs.get(c.pack as usize) else {
                continue;
            };
            let pack = match numbers.get(c.pack as usize).copied().flatten() {
                Some(n) => n,
                None => {
                    let n = self.pack_number(hash);
                    if let Some(slot) = numbers.get_mut(c.pack as usize) {
                        *slot = Some(n);
                    }
                    n
                }
            };
            let record = Record {
                id: c.id,
                pack,
                offset: c.offset,
                length: c.length,
                size: c.size,
            };
            if !record.plausible() {
                continue;
            }
            self.run.push(record);
            if self.run.len() >= self.run_limit() {
                self.spill()?;
            }
        }
        if self.pack_numbers.len() >= self.limits.max_new_packs {
            self.merge_intermediate()?;
        }
        Ok(())
    }

    fn pack_number(&mut self, hash: &[u8; 32]) -> u32 {
        if let Some(&n) = self.pack_numbers.get(hash) {
            return n;
        }
        let n = self.pack_hashes.len() as u32;
        self.pack_hashes.push(*hash);
        self.pack_numbers.insert(*hash, n);
        n
    }

    /// Sorts the in-memory run by (id, pack hash, offset), keeps the first
    /// record of each id and writes it to a temp file.
    fn spill(&mut self) -> Result<(), IndexError> {
        if self.run.is_empty() {
            return Ok(());
        }
        let hashes = &self.pack_hashes;
        let hash_of = |r: &Record| hashes.get(r.pack as usize).copied().unwrap_or([0xff; 32]);
        self.run.sort_unstable_by(|a, b| {
            (a.id, hash_of(a), a.offset).cmp(&(b.id, hash_of(b), b.offset))
        });
        self.run.dedup_by(|later, first| later.id == first.id);
        let file = tempfile::tempfile_in(&self.temp_dir)?;
        let mut out = BufWriter::with_capacity(1 << 20, &file);
        let mut bytes = [0u8; RECORD_LEN];
        for r in &self.run {
            r.encode(&mut bytes);
            out.write_all(&bytes)?;
        }
        out.flush()?;
        drop(out);
        self.runs.push(Run {
            file,
            records: self.run.len() as u64,
        });
        self.run.clear();
        Ok(())
    }

    /// Merges everything so far into an anonymous temp index and continues
    /// on top of it, freeing the pack map and the runs.
    fn merge_intermediate(&mut self) -> Result<(), IndexError> {
        let file = tempfile::tempfile_in(&self.temp_dir)?;
        self.merge_into(&file)?;
        let merged = IndexFile::verify(file, &self.key_id)?;
        self.bases = vec![merged];
        self.pack_numbers = HashMap::new();
        self.pack_hashes = Vec::new();
        self.runs.clear();
        Ok(())
    }

    /// Writes the index to `path` atomically (temp file in the same
    /// directory, mode 0600, synced, then renamed).
    pub fn finish(mut self, path: &Path) -> Result<(), IndexError> {
        let dir = path
            .parent()
            .ok_or_else(|| IndexError::corrupt("index path has no directory"))?;
        let temp = tempfile::Builder::new()
            .prefix(".index-")
            .tempfile_in(dir)?;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        self.merge_into(temp.as_file())?;
        temp.as_file().sync_all()?;
        temp.persist(path).map_err(|e| IndexError::Io(e.error))?;
        Ok(())
    }

    /// Writes base, runs and the in-memory run, merged, into the empty `out`.
    fn merge_into(&mut self, out: &File) -> Result<(), IndexError> {
        self.spill()?;
        let mut body = Sha256::new();
        let mut w = BufWriter::with_capacity(1 << 20, out);
        w.write_all(&[0u8; HEADER_LEN as usize])?;
        for m in &self.manifests {
            body.update(m);
            w.write_all(m)?;
        }

        // Pack table: every base's (sorted) and the new names (sorted here),
        // merged; each source learns the final row of each of its packs.
        let hashes = &self.pack_hashes;
        let mut new_sorted: Vec<u32> = (0..hashes.len() as u32).collect();
        new_sorted.sort_unstable_by_key(|&n| hashes.get(n as usize).copied());
        type PackSource<'a> = Box<dyn Iterator<Item = Result<[u8; 32], IndexError>> + 'a>;
        let mut pack_sources: Vec<PackSource<'_>> = self
            .bases
            .iter()
            .map(|b| Box::new(b.packs()) as PackSource<'_>)
            .collect();
        pack_sources.push(Box::new(new_sorted.iter().map(|&n| {
            hashes
                .get(n as usize)
                .copied()
                .ok_or_else(|| IndexError::corrupt("a new pack name was lost"))
        })));
        let mut remaps: Vec<Vec<u32>> = self
            .bases
            .iter()
            .map(|b| vec![0u32; b.header.packs as usize])
            .chain([vec![0u32; new_sorted.len()]])
            .collect();
        let mut rows = vec![0usize; pack_sources.len()];
        let mut heap = BinaryHeap::new();
        for (i, source) in pack_sources.iter_mut().enumerate() {
            if let Some(hash) = source.next().transpose()? {
                heap.push(Reverse((hash, i)));
            }
        }
        let mut packs_written: u32 = 0;
        let mut last: Option<[u8; 32]> = None;
        while let Some(Reverse((hash, i))) = heap.pop() {
            if last != Some(hash) {
                body.update(hash);
                w.write_all(&hash)?;
                packs_written += 1;
                last = Some(hash);
            }
            if let (Some(remap), Some(row)) = (remaps.get_mut(i), rows.get_mut(i)) {
                if let Some(slot) = remap.get_mut(*row) {
                    *slot = packs_written - 1;
                }
                *row += 1;
            }
            if let Some(next) = pack_sources.get_mut(i).and_then(|s| s.next()).transpose()? {
                heap.push(Reverse((next, i)));
            }
        }
        drop(pack_sources);
        // The new names were merged in sorted order; runs name them by number.
        let by_position = remaps.pop().unwrap_or_default();
        let mut new_final = vec![0u32; hashes.len()];
        for (&n, &row) in new_sorted.iter().zip(&by_position) {
            if let Some(slot) = new_final.get_mut(n as usize) {
                *slot = row;
            }
        }

        // Records: k-way merge by (id, final pack, offset), first of each id kept.
        let mut sources: Vec<(RecordReader<'_>, &[u32])> = Vec::new();
        for (base, remap) in self.bases.iter().zip(&remaps) {
            sources.push((base.records(), remap));
        }
        for run in &self.runs {
            sources.push((
                RecordReader::new(&run.file, 0, run.records * RECORD_LEN as u64),
                &new_final,
            ));
        }
        let mut heads: Vec<Option<Record>> = vec![None; sources.len()];
        let mut heap = BinaryHeap::new();
        for (i, (reader, remap)) in sources.iter_mut().enumerate() {
            if let Some(r) = next_remapped(reader, remap)? {
                heap.push(Reverse((r.id, r.pack, r.offset, i)));
                heads[i] = Some(r);
            }
        }
        let mut records: u64 = 0;
        let mut last: Option<[u8; 32]> = None;
        let mut bytes = [0u8; RECORD_LEN];
        while let Some(Reverse((_, _, _, i))) = heap.pop() {
            let Some(r) = heads.get_mut(i).and_then(Option::take) else {
                continue;
            };
            if last != Some(r.id) {
                r.encode(&mut bytes);
                body.update(bytes);
                w.write_all(&bytes)?;
                records += 1;
                last = Some(r.id);
            }
            if let Some((reader, remap)) = sources.get_mut(i)
                && let Some(next) = next_remapped(reader, remap)?
            {
                heap.push(Reverse((next.id, next.pack, next.offset, i)));
                heads[i] = Some(next);
            }
        }

        let header = Header {
            key_id: self.key_id,
            manifests: self.manifests.len() as u64,
            packs: u64::from(packs_written),
            records,
        };
        w.write_all(&checksum(&header, &body.finalize().into()))?;
        w.flush()?;
        drop(w);
        out.write_all_at(&header.encode(), 0)?;
        Ok(())
    }
}

/// The next record of `reader` with its pack number mapped to the final row.
fn next_remapped(
    reader: &mut RecordReader<'_>,
    remap: &[u32],
) -> Result<Option<Record>, IndexError> {
    let Some(mut r) = reader.next_record()? else {
        return Ok(None);
    };
    r.pack = *remap
        .get(r.pack as usize)
        .ok_or_else(|| IndexError::corrupt("record names a pack outside the table"))?;
    Ok(Some(r))
}
