//! Restore: recreates archive entries below the root, entirely through
//! `posix-fs`. A file, symlink or hard link whose name is free is made under
//! that name (`create-file` and friends refuse a name that exists) and
//! removed again if it cannot be completed. One whose name is taken is made
//! under a temporary name with its metadata and renamed over the final name
//! (see [`temp`]), so a pre-existing file is either untouched or fully
//! replaced, even when the restore fails; the rename costs a third of a
//! small file's restore, so it is paid only where something is replaced.
//! Directories get their metadata only once all entries are
//! written, innermost first and the root last: creating a child changes its
//! parent's mtime, and a read-only mode would forbid creating children.

mod check;
mod content;
mod temp;

use std::collections::HashSet;

use guest_sdk::{
    EntryKind, EntryMeta, EntrySource, FileType, Host, MetadataUpdate, PluginError, PosixFs,
    Progress, Timestamp,
};
use plugin_util::entry_path::{self, show};
use plugin_util::guest_path::join_bytes;

use crate::hook::FileHook;
use temp::TempNames;

const MODE_MASK: u32 = 0o7777;

/// Restores every entry of `source` below `root` and returns the totals.
pub fn restore(
    root: &str,
    source: &impl EntrySource,
    host: &impl Host,
    fs: &impl PosixFs,
    hook: &mut impl FileHook,
) -> Result<Progress, PluginError> {
    let root = root.as_bytes();
    if !matches!(fs.stat(root)?.type_, FileType::Directory) {
        return Err(PluginError::InvalidConfig(format!(
            "`root` {} is not a directory",
            show(root)
        )));
    }
    let mut restorer = Restorer {
        root,
        fs,
        source,
        host,
        hook,
        temps: TempNames::default(),
        known_dirs: HashSet::new(),
        dirs: Vec::new(),
        root_dir: None,
        progress: Progress::default(),
    };
    restorer.run()?;
    restorer.progress.finish(host);
    Ok(restorer.progress)
}

struct Restorer<'a, P, S, H, F> {
    root: &'a [u8],
    fs: &'a P,
    source: &'a S,
    host: &'a H,
    hook: &'a mut F,
    temps: TempNames,
    /// Entry paths checked to be real directories (not symlinks), so that
    /// parents are looked at once rather than for every child.
    known_dirs: HashSet<Vec<u8>>,
    /// Directories whose metadata is still to be applied, in archive order.
    dirs: Vec<(Vec<u8>, MetadataUpdate)>,
    /// The root's own metadata, applied after everything else.
    root_dir: Option<MetadataUpdate>,
    progress: Progress,
}

impl<P: PosixFs, S: EntrySource, H: Host, F: FileHook> Restorer<'_, P, S, H, F> {
    fn run(&mut self) -> Result<(), PluginError> {
        while let Some(meta) = self.source.next_entry()? {
            check::entry(&meta)?;
            self.entry(&meta).map_err(|e| in_entry(e, &meta.path))?;
            self.progress.add_item(self.host);
        }
        self.finish_dirs()
    }

    fn entry(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        if meta.path.is_empty() {
            self.root_dir = Some(update(meta));
            return Ok(());
        }
        self.ensure_parents(&meta.path)?;
        match meta.kind {
            EntryKind::File => self.file(meta),
            EntryKind::Directory => self.directory(meta),
            EntryKind::Symlink => self.symlink(meta),
            EntryKind::HardLink => self.hard_link(meta),
        }
    }

    fn guest(&self, path: &[u8]) -> Vec<u8> {
        join_bytes(self.root, path)
    }

    /// Makes sure every ancestor of `path` is a real directory, creating
    /// missing ones. A symlink or file in the way is refused: writing through
    /// a restored symlink could redirect later entries elsewhere in the grant.
    fn ensure_parents(&mut self, path: &[u8]) -> Result<(), PluginError> {
        for ancestor in entry_path::ancestors(path) {
            if self.known_dirs.contains(ancestor) {
                continue;
            }
            let guest = self.guest(ancestor);
            match self.fs.stat(&guest) {
                Ok(stat) if matches!(stat.type_, FileType::Directory) => {}
                Ok(_) => {
                    return Err(PluginError::InvalidData(format!(
                        "{}: cannot restore {} below it: not a directory",
                        show(&guest),
                        show(path)
                    )));
                }
                Err(PluginError::NotFound(_)) => self.fs.create_dir(&guest)?,
                Err(e) => return Err(e),
            }
            self.known_dirs.insert(ancestor.to_vec());
        }
        Ok(())
    }

    fn directory(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        if !self.known_dirs.contains(&meta.path) {
            let guest = self.guest(&meta.path);
            match self.fs.stat(&guest) {
                Ok(stat) if matches!(stat.type_, FileType::Directory) => {}
                Ok(_) => {
                    return Err(PluginError::Io(format!(
                        "{}: exists and is not a directory; move it away to restore the \
                         directory",
                        show(&guest)
                    )));
                }
                Err(PluginError::NotFound(_)) => self.fs.create_dir(&guest)?,
                Err(e) => return Err(e),
            }
            self.known_dirs.insert(meta.path.clone());
        }
        self.dirs.push((meta.path.clone(), update(meta)));
        Ok(())
    }

    /// Makes the entry at `path` with `make` (which must fail if the name
    /// exists): under its final name if that is free, else under a
    /// temporary name beside it.
    fn make<T>(
        &mut self,
        path: &[u8],
        make: impl Fn(&[u8]) -> Result<T, PluginError>,
    ) -> Result<(Made, T), PluginError> {
        let guest = self.guest(path);
        if let Some(made) = temp::make_if_free(self.fs, &guest, &make)? {
            return Ok((Made::AtFinalName(guest), made));
        }
        let dir = self.guest(entry_path::parent(path));
        let (temp, made) = self.temps.make(self.fs, &dir, make)?;
        Ok((Made::AtTemporaryName(temp), made))
    }

    fn file(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        let fs = self.fs;
        let (made, file) = self.make(&meta.path, |path| fs.create_file(path))?;
        let written = (|| {
            self.hook.begin(&meta.path);
            content::copy(self.source, &file, self.hook, &mut self.progress, self.host)?;
            self.hook.end();
            // Closed before its time is set, so no late write can move it.
            drop(file);
            fs.set_metadata(made.path(), &update(meta))
        })();
        self.place(made, &meta.path, written.map(|_| ()))
    }

    fn symlink(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        let fs = self.fs;
        let target = meta.link_target.as_deref().unwrap_or_default();
        let (made, ()) = self.make(&meta.path, |path| fs.symlink(target, path))?;
        // A symlink has no mode of its own; the host sets owner and time on
        // the link itself.
        let update = MetadataUpdate {
            mode: None,
            ..update(meta)
        };
        let done = fs.set_metadata(made.path(), &update).map(|_| ());
        self.place(made, &meta.path, done)
    }

    /// A further name of a file restored earlier; its metadata is the file's.
    fn hard_link(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        let fs = self.fs;
        let first = meta.link_target.as_deref().unwrap_or_default();
        // Only a file this restore wrote: its parents checked as real
        // directories, so linking never goes through a symlink.
        let missing = || {
            PluginError::InvalidData(format!(
                "hard-link entry {} names {}, which the archive does not hold as a file \
                 before it",
                show(&meta.path),
                show(first)
            ))
        };
        if !entry_path::ancestors(first).all(|a| self.known_dirs.contains(a)) {
            return Err(missing());
        }
        let first_guest = self.guest(first);
        let file = match fs.stat(&first_guest) {
            Ok(stat) if matches!(stat.type_, FileType::File) => stat,
            Ok(_) | Err(PluginError::NotFound(_)) => return Err(missing()),
            Err(e) => return Err(e),
        };
        // Already this file's name (the same entry twice): a rename onto the
        // same file would do nothing and leave the temporary name behind.
        if let Ok(here) = fs.stat(&self.guest(&meta.path))
            && (here.device, here.inode) == (file.device, file.inode)
        {
            return Ok(());
        }
        let (made, ()) = self.make(&meta.path, |path| fs.hard_link(&first_guest, path))?;
        self.place(made, &meta.path, Ok(()))
    }

    /// Renames the finished entry over its final name if `done` succeeded
    /// and it was made under a temporary name; removes it if `done` or the
    /// rename failed, so that nothing of the failed entry is left.
    fn place(
        &self,
        made: Made,
        path: &[u8],
        done: Result<(), PluginError>,
    ) -> Result<(), PluginError> {
        let temp = match made {
            Made::AtFinalName(at) => {
                if done.is_err() {
                    self.remove_failed(&at);
                }
                return done;
            }
            Made::AtTemporaryName(temp) => temp,
        };
        let guest = self.guest(path);
        let result = done.and_then(|()| {
            self.fs
                .rename(&temp, &guest)
                .map_err(|e| match self.fs.stat(&guest) {
                    Ok(stat) if matches!(stat.type_, FileType::Directory) => {
                        PluginError::Io(format!(
                            "{}: exists and is a directory; move it away to restore the entry",
                            show(&guest)
                        ))
                    }
                    _ => e,
                })
        });
        if result.is_err() {
            self.remove_failed(&temp);
        }
        result
    }

    fn remove_failed(&self, path: &[u8]) {
        if let Err(e) = self.fs.remove_file(path) {
            self.host.warn(&format!(
                "could not remove {} of a failed entry: {e:?}",
                show(path)
            ));
        }
    }

    /// Innermost directories first (archive order reversed: parents come
    /// before their children), the root last: restoring a parent's mode
    /// first could lock the restore out of its children.
    fn finish_dirs(&mut self) -> Result<(), PluginError> {
        let dirs = std::mem::take(&mut self.dirs);
        for (path, update) in dirs.iter().rev() {
            self.fs
                .set_metadata(&self.guest(path), update)
                .map_err(|e| in_entry(e, path))?;
        }
        if let Some(update) = self.root_dir.take() {
            self.fs
                .set_metadata(self.root, &update)
                .map_err(|e| in_entry(e, b""))?;
        }
        Ok(())
    }
}

/// Where [`Restorer::make`] made an entry.
enum Made {
    AtFinalName(Vec<u8>),
    AtTemporaryName(Vec<u8>),
}

impl Made {
    fn path(&self) -> &[u8] {
        match self {
            Made::AtFinalName(path) | Made::AtTemporaryName(path) => path,
        }
    }
}

/// The metadata `meta` records, to apply with `set-metadata`.
fn update(meta: &EntryMeta) -> MetadataUpdate {
    MetadataUpdate {
        mode: Some(meta.mode & MODE_MASK),
        owner: meta.owner.clone(),
        mtime: Some(Timestamp {
            seconds: meta.mtime_seconds,
            nanoseconds: meta.mtime_nanoseconds,
        }),
    }
}

/// `e` naming the entry it happened in, so a failure deep in a restore says
/// which file it was restoring; the variant is kept.
fn in_entry(e: PluginError, path: &[u8]) -> PluginError {
    let at = |text: String| format!("restoring entry {}: {text}", show(path));
    match e {
        PluginError::InvalidConfig(t) => PluginError::InvalidConfig(at(t)),
        PluginError::Io(t) => PluginError::Io(at(t)),
        PluginError::NotFound(t) => PluginError::NotFound(at(t)),
        PluginError::Denied(t) => PluginError::Denied(at(t)),
        PluginError::InvalidData(t) => PluginError::InvalidData(at(t)),
        PluginError::Other(t) => PluginError::Other(at(t)),
    }
}
