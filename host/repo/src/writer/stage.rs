//! The stage being written: its entries so far, the entry still open, and
//! the rules an entry must pass to be admitted.

use std::collections::HashSet;

use super::content::EntryContent;
use super::guide::Guide;
use crate::archive::{EntryKind, EntryMeta, RawName};
use crate::error::RepoError;
use crate::manifest::{EntryRecord, PluginBuild};

/// The entry content is being written to.
pub(super) struct OpenEntry {
    pub(super) index: usize,
    pub(super) file: bool,
    pub(super) content: EntryContent,
}

pub(super) struct StageBuild {
    pub(super) name: String,
    pub(super) plugin: String,
    pub(super) build: PluginBuild,
    pub(super) entries: Vec<EntryRecord>,
    pub(super) open: Option<OpenEntry>,
    /// The stage's file paths so far, which hard links may name.
    files: FilePaths,
}

impl StageBuild {
    pub(super) fn new(name: &str, plugin: &str, build: PluginBuild) -> Self {
        StageBuild {
            name: name.to_string(),
            plugin: plugin.to_string(),
            build,
            entries: Vec::new(),
            open: None,
            files: FilePaths::default(),
        }
    }

    /// Checks an entry's metadata, and that a hard link names an earlier
    /// file of the stage, then remembers a file's path for later hard links.
    pub(super) fn admit(&mut self, meta: &EntryMeta) -> Result<(), RepoError> {
        meta.validate()
            .map_err(|e| RepoError::InvalidEntry(e.to_string()))?;
        match meta.kind {
            EntryKind::File => self.files.add(&meta.path),
            EntryKind::HardLink
                if !meta
                    .link_target
                    .as_ref()
                    .is_some_and(|t| self.files.contains(t)) =>
            {
                return Err(RepoError::InvalidEntry(format!(
                    "{}: hard link to a path that is not an earlier file of the stage",
                    meta.path
                )));
            }
            _ => {}
        }
        Ok(())
    }

    /// Admits `meta` and opens it for content (a file, cut with the
    /// previous version's `guide` if there is one) or as a whole (any other
    /// kind, ended without content).
    pub(super) fn open(&mut self, meta: EntryMeta, guide: Option<Guide>) -> Result<(), RepoError> {
        self.admit(&meta)?;
        self.open = Some(OpenEntry {
            index: self.entries.len(),
            file: meta.kind == EntryKind::File,
            content: EntryContent::guided_by(guide),
        });
        self.entries.push(EntryRecord {
            meta,
            size: 0,
            chunks: Vec::new(),
        });
        Ok(())
    }
}

/// The open stage, if no entry of it is open. A function of the field, not
/// of the writer, so callers can use the writer's other fields meanwhile.
pub(super) fn between_entries(
    stage: &mut Option<StageBuild>,
) -> Result<&mut StageBuild, RepoError> {
    let stage = stage
        .as_mut()
        .ok_or_else(|| RepoError::Misuse("no stage is open".into()))?;
    if let Some(open) = &stage.open {
        return Err(RepoError::Misuse(format!(
            "entry {} was not ended",
            stage.entries[open.index].meta.path
        )));
    }
    Ok(stage)
}

/// Hashes of the file paths of a stage: enough to refuse a hard link to
/// anything but an earlier file at write time, at 8 bytes a file. Random
/// hash keys, so a plugin cannot craft a collision; the manifest check on
/// read compares whole paths.
#[derive(Default)]
struct FilePaths {
    hashes: HashSet<u64>,
    keys: std::hash::RandomState,
}

impl FilePaths {
    fn hash(&self, path: &RawName) -> u64 {
        std::hash::BuildHasher::hash_one(&self.keys, path)
    }

    fn add(&mut self, path: &RawName) {
        let hash = self.hash(path);
        self.hashes.insert(hash);
    }

    fn contains(&self, path: &RawName) -> bool {
        self.hashes.contains(&self.hash(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: EntryKind, path: &str, target: Option<&str>) -> EntryMeta {
        EntryMeta {
            path: RawName::from(path.as_bytes().to_vec()),
            kind,
            mode: 0o644,
            mtime_seconds: 0,
            mtime_nanoseconds: 0,
            link_target: target.map(|t| RawName::from(t.as_bytes().to_vec())),
            owner: None,
            attributes: vec![],
        }
    }

    #[test]
    fn a_hard_link_must_name_an_earlier_file_of_the_stage() {
        let mut stage = StageBuild::new("s", "p", PluginBuild::default());
        let early_link = meta(EntryKind::HardLink, "b", Some("a"));
        assert!(matches!(
            stage.admit(&early_link),
            Err(RepoError::InvalidEntry(_))
        ));
        stage.open(meta(EntryKind::File, "a", None), None).unwrap();
        stage.open = None;
        stage.admit(&early_link).unwrap();
        let to_dir = meta(EntryKind::HardLink, "c", Some("d"));
        stage
            .open(meta(EntryKind::Directory, "d", None), None)
            .unwrap();
        assert!(stage.admit(&to_dir).is_err(), "a directory is not a file");
    }

    #[test]
    fn entries_open_one_at_a_time() {
        let mut slot = Some(StageBuild::new("s", "p", PluginBuild::default()));
        between_entries(&mut slot)
            .unwrap()
            .open(meta(EntryKind::File, "a", None), None)
            .unwrap();
        let err = between_entries(&mut slot).err().unwrap();
        assert!(err.to_string().contains("was not ended"), "{err}");
        assert!(between_entries(&mut None).is_err());
    }

    #[test]
    fn invalid_metadata_is_refused_before_anything_is_recorded() {
        let mut stage = StageBuild::new("s", "p", PluginBuild::default());
        let absolute = meta(EntryKind::File, "/etc/passwd", None);
        assert!(stage.open(absolute, None).is_err());
        assert!(stage.entries.is_empty() && stage.open.is_none());
    }
}
