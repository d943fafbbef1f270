//! The host-local cache of index files, one per key id, and the decision
//! made at every backup start: use the cached index as it is, extend it with
//! the manifests of backups committed since, or rebuild it.
//!
//! The cache directory is trusted like the rest of the host's state dir: a
//! file that fails verification (truncated, flipped, written under another
//! key) is rebuilt with a warning, but a deliberately forged, well-formed file
//! could make a new backup reference wrong blobs. The blobs' AEAD, bound to
//! the chunk id, would then fail on restore, not silently restore wrong data.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::{BuildLimits, ChunkIndex, IndexBuilder, IndexEntry, IndexError, PackSizes};
use crate::manifest::Manifest;
use crate::names;

/// Where index files are kept between backups.
#[derive(Clone, Debug)]
pub(crate) enum IndexCache {
    /// A directory owned by this repository's host (mode 0700, files 0600).
    Dir(PathBuf),
    /// No cache: the index is built for each backup in a temp directory and
    /// deleted once open.
    Temporary,
}

/// An index being brought up to date for one backup: the cached one (if
/// usable) and, once a manifest is added, the builder writing its successor.
pub(crate) struct Refresh {
    base: Option<ChunkIndex>,
    builder: Option<Box<IndexBuilder>>,
    dir: PathBuf,
    path: PathBuf,
    key_id: [u8; 16],
    limits: BuildLimits,
    /// Keeps the temporary directory until the index is open.
    _temp: Option<tempfile::TempDir>,
}

impl IndexCache {
    /// Opens the cached index of `key_id`. It is kept if every manifest it
    /// covers is in `committed` (the usable backups under this key);
    /// otherwise, or if it is missing or fails verification, an empty one
    /// is started.
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
        let path = dir.join(format!("{}.idx", hex::encode(key_id)));
        let base = match open_cached(&path, &key_id, packs) {
            Some(index)
                if index
                    .covered_manifests()
                    .iter()
                    .all(|m| committed.contains(m)) =>
            {
                Some(index)
            }
            Some(_) => {
                info!(path = %path.display(), "a backup the chunk index covers is gone; rebuilding it");
                None
            }
            None => None,
        };
        Ok(Refresh {
            base,
            builder: None,
            dir,
            path,
            key_id,
            limits,
            _temp: temp,
        })
    }
}

/// The cached index, if there is a usable one.
fn open_cached(path: &Path, key_id: &[u8; 16], packs: &PackSizes) -> Option<ChunkIndex> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "cannot read the chunk index; rebuilding it");
            return None;
        }
    };
    ChunkIndex::from_file(file, key_id, packs)
        .inspect_err(
            |e| warn!(path = %path.display(), error = %e, "chunk index unusable; rebuilding it"),
        )
        .ok()
}

impl Refresh {
    /// Whether `manifest`'s chunks still have to be added.
    pub fn needs(&self, manifest: &[u8; 32]) -> bool {
        match (&self.builder, &self.base) {
            (Some(builder), _) => !builder.covers(manifest),
            (None, Some(base)) => base.covered_manifests().binary_search(manifest).is_err(),
            (None, None) => true,
        }
    }

    fn builder(&mut self) -> &mut IndexBuilder {
        let (base, dir, limits, key_id) = (&mut self.base, &self.dir, self.limits, self.key_id);
        self.builder.get_or_insert_with(|| {
            Box::new(match base.take() {
                Some(index) => IndexBuilder::extend(index, dir, limits),
                None => IndexBuilder::new(key_id, dir, limits),
            })
        })
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
            m.chunks.iter().map(|c| IndexEntry {
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
        self.builder().add_manifest(name, packs, chunks)
    }

    /// Writes the index if anything was added (or there was none) and opens
    /// it for lookups.
    pub fn finish(mut self, packs: &PackSizes) -> Result<ChunkIndex, IndexError> {
        if self.builder.is_none()
            && let Some(index) = self.base.take()
        {
            return Ok(index);
        }
        let builder = match self.builder.take() {
            Some(builder) => *builder,
            None => IndexBuilder::new(self.key_id, &self.dir, self.limits),
        };
        builder.finish(&self.path)?;
        let index = ChunkIndex::open(&self.path, &self.key_id, packs)?;
        info!(
            chunks = index.len(),
            memory = index.memory_bytes(),
            "chunk index written"
        );
        Ok(index)
    }
}
