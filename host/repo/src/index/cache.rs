//! The host-local cache of index files and the decision made at every backup
//! start: use the cached files as they are, add a delta file with the
//! manifests of backups committed since, or rebuild.
//!
//! Per key id the cache holds a base file `<key id>.idx` and up to
//! [`MAX_DELTAS`] delta files `<key id>-<n>.idx`, each a complete index of
//! the manifests it covers. A backup start writes at most one small delta;
//! once there are more than [`MAX_DELTAS`], all files are merged into a new
//! base. So a backup costs I/O proportional to the new chunks, plus one full
//! rewrite every [`MAX_DELTAS`] backups.
//!
//! The cache directory is trusted like the rest of the host's state dir: a
//! file that fails verification (truncated, flipped, written under another
//! key) makes the whole set be rebuilt with a warning, but a deliberately
//! forged, well-formed file could make a new backup reference wrong blobs.
//! The blobs' AEAD, bound to the chunk id, would then fail on restore, not
//! silently restore wrong data.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::{BuildLimits, ChunkIndex, IndexBuilder, IndexEntry, IndexError, IndexSet, PackSizes};
use crate::manifest::Manifest;
use crate::names;

/// Delta files kept before they are merged into the base.
pub(crate) const MAX_DELTAS: usize = 8;
/// Prefix of the builder's temp files (left over only by a crash).
const TEMP_PREFIX: &str = ".index-";

/// Where index files are kept between backups.
#[derive(Clone, Debug)]
pub(crate) enum IndexCache {
    /// A directory owned by this repository's host (mode 0700, files 0600).
    Dir(PathBuf),
    /// No cache: the index is built for each backup in a temp directory and
    /// deleted once open.
    Temporary,
}

/// The index files of one key being brought up to date for one backup.
pub(crate) struct Refresh {
    /// Usable cached files: the base first, then deltas in order.
    segments: Vec<(PathBuf, ChunkIndex)>,
    /// Cached files to delete before writing (the set is being rebuilt).
    stale: Vec<PathBuf>,
    /// Manifests the usable files cover.
    covered: BTreeSet<[u8; 32]>,
    /// The file being built: a delta, or the base when rebuilding.
    builder: Option<Box<IndexBuilder>>,
    dir: PathBuf,
    key_id: [u8; 16],
    limits: BuildLimits,
    next_delta: u64,
    /// Keeps the temporary directory until the index is open.
    _temp: Option<tempfile::TempDir>,
}

/// A cached file of one key: the base (`None`) or delta `n`.
pub(crate) fn parse_file_name(name: &str, key_hex: &str) -> Option<Option<u64>> {
    let rest = name.strip_prefix(key_hex)?.strip_suffix(".idx")?;
    if rest.is_empty() {
        return Some(None);
    }
    let n = rest.strip_prefix('-')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse().ok().map(Some))
        .flatten()
}

impl IndexCache {
    /// Opens the cached files of `key_id`. They are kept if all of them
    /// verify and every manifest they cover is in `committed` (the usable
    /// backups under this key); otherwise they are rebuilt.
    pub fn start(
        &self,
        key_id: [u8; 16],
        committed: &BTreeSet<[u8; 32]>,
        packs: &PackSizes,
        limits: BuildLimits,
    ) -> Result<Refresh, IndexError> {
        let (dir, temp) = match self {
            IndexCache::Dir(dir) => {
                std::fs::create_dir_all(dir)?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
                (dir.clone(), None)
            }
            IndexCache::Temporary => {
                let temp = tempfile::Builder::new().prefix("drhost-index-").tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let key_hex = hex::encode(key_id);
        let mut files: Vec<(Option<u64>, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) {
                // Left by a crash while writing; nothing refers to it.
                let _ = std::fs::remove_file(entry.path());
            } else if let Some(n) = parse_file_name(name, &key_hex) {
                files.push((n, entry.path()));
            }
        }
        files.sort();
        let next_delta = files.iter().filter_map(|(n, _)| *n).max().unwrap_or(0) + 1;
        let mut refresh = Refresh {
            segments: Vec::new(),
            stale: Vec::new(),
            covered: BTreeSet::new(),
            builder: None,
            dir,
            key_id,
            limits,
            next_delta,
            _temp: temp,
        };
        let has_base = files.first().is_some_and(|(n, _)| n.is_none());
        if !has_base && !files.is_empty() {
            warn!("the chunk index has deltas but no base; rebuilding it");
            refresh.stale = files.into_iter().map(|(_, p)| p).collect();
            return Ok(refresh);
        }
        for (_, path) in &files {
            match open_cached(path, &key_id, packs) {
                Some(index) => {
                    refresh
                        .covered
                        .extend(index.covered_manifests().iter().copied());
                    refresh.segments.push((path.clone(), index));
                }
                None => {
                    refresh.rebuild(files.iter().map(|(_, p)| p.clone()).collect());
                    return Ok(refresh);
                }
            }
        }
        if !refresh.covered.is_subset(committed) {
            info!("a backup the chunk index covers is gone; rebuilding it");
            refresh.rebuild(files.into_iter().map(|(_, p)| p).collect());
        }
        Ok(refresh)
    }
}

/// A cached file, if it verifies.
fn open_cached(path: &Path, key_id: &[u8; 16], packs: &PackSizes) -> Option<ChunkIndex> {
    let file = File::open(path)
        .inspect_err(|e| warn!(path = %path.display(), error = %e, "cannot read the chunk index; rebuilding it"))
        .ok()?;
    ChunkIndex::from_file(file, key_id, packs)
        .inspect_err(
            |e| warn!(path = %path.display(), error = %e, "chunk index unusable; rebuilding it"),
        )
        .ok()
}

impl Refresh {
    fn rebuild(&mut self, stale: Vec<PathBuf>) {
        self.segments.clear();
        self.covered.clear();
        self.stale = stale;
    }

    fn base_path(&self) -> PathBuf {
        self.dir.join(format!("{}.idx", hex::encode(self.key_id)))
    }

    /// Whether `manifest`'s chunks still have to be added.
    pub fn needs(&self, manifest: &[u8; 32]) -> bool {
        !self.covered.contains(manifest)
            && !self.builder.as_ref().is_some_and(|b| b.covers(manifest))
    }

    /// Adds a verified manifest, named by its SHA-256.
    pub fn add(&mut self, name: [u8; 32], m: &Manifest) -> Result<(), IndexError> {
        // The manifest was validated, so its pack names are well formed.
        let packs: Vec<[u8; 32]> = m
            .packs
            .iter()
            .map(|p| names::parse_pack_object(p).unwrap_or([0; 32]))
            .collect();
        self.add_entries(
            name,
            &packs,
            // Segments too: a later backup's unchanged manifest body is
            // found here, as its unchanged files are.
            m.chunks.iter().chain(&m.segments).map(|c| IndexEntry {
                id: c.id.0,
                pack: c.pack,
                offset: c.offset,
                length: c.length,
                size: c.size,
            }),
        )
    }

    /// Adds a chunk table given as entries over `packs` (pack hashes).
    pub fn add_entries(
        &mut self,
        name: [u8; 32],
        packs: &[[u8; 32]],
        chunks: impl IntoIterator<Item = IndexEntry>,
    ) -> Result<(), IndexError> {
        if !self.needs(&name) {
            return Ok(());
        }
        let (dir, limits, key_id) = (&self.dir, self.limits, self.key_id);
        self.builder
            .get_or_insert_with(|| Box::new(IndexBuilder::new(key_id, dir, limits)))
            .add_manifest(name, packs, chunks)
    }

    /// Writes what was added (a delta, or the base when rebuilding), merges
    /// the deltas into the base when there are too many, and opens the set.
    pub fn finish(mut self, packs: &PackSizes) -> Result<IndexSet, IndexError> {
        for path in std::mem::take(&mut self.stale) {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(e.into());
            }
        }
        if let Some(builder) = self.builder.take() {
            let path = if self.segments.is_empty() {
                self.base_path()
            } else {
                self.dir.join(format!(
                    "{}-{}.idx",
                    hex::encode(self.key_id),
                    self.next_delta
                ))
            };
            builder.finish(&path)?;
            let index = ChunkIndex::open(&path, &self.key_id, packs)?;
            info!(path = %path.display(), chunks = index.len(), "chunk index file written");
            self.segments.push((path, index));
        }
        if self.segments.len() > 1 + MAX_DELTAS {
            self.compact(packs)?;
        }
        let set = IndexSet::new(self.segments.into_iter().map(|(_, i)| i).collect());
        info!(
            files = set.files(),
            records = set.len(),
            memory = set.memory_bytes(),
            "chunk index ready"
        );
        Ok(set)
    }

    /// Merges the base and every delta into a new base.
    fn compact(&mut self, packs: &PackSizes) -> Result<(), IndexError> {
        let segments = std::mem::take(&mut self.segments);
        let (paths, indexes): (Vec<PathBuf>, Vec<ChunkIndex>) = segments.into_iter().unzip();
        let base = self.base_path();
        IndexBuilder::extend(self.key_id, indexes, &self.dir, self.limits)?.finish(&base)?;
        // The new base covers every delta: a crash before they are all
        // deleted leaves duplicates, which are harmless.
        for path in paths.iter().filter(|p| **p != base) {
            std::fs::remove_file(path)?;
        }
        let index = ChunkIndex::open(&base, &self.key_id, packs)?;
        info!(
            chunks = index.len(),
            "chunk index deltas merged into the base"
        );
        self.segments.push((base, index));
        Ok(())
    }
}
