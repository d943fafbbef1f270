//! Restore: recreates archive entries below the root. Modes and times are
//! applied after content, and directories' only once all entries are written,
//! since creating a child changes its parent's mtime (and a read-only mode
//! would forbid creating children at all).

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;

use guest_sdk::platform::Target;
use guest_sdk::{EntryKind, EntryMeta, EntrySource, Host, Progress};
use plugin_util::CHUNK;
use plugin_util::guest_path::join;

use crate::PluginError;
use crate::error::io as io_error;
use crate::hook::FileHook;
use plugin_util::entry_path;

const MODE_MASK: u32 = 0o7777;

/// Restores every entry of `source` below `root` and returns the totals.
pub fn restore(
    root: &str,
    source: &impl EntrySource,
    host: &impl Host,
    hook: &mut impl FileHook,
) -> Result<Progress, PluginError> {
    let target = Target::open(root).map_err(|e| io_error(root, &e))?;
    let mut restorer = Restorer {
        root,
        target,
        source,
        host,
        hook,
        known_dirs: HashSet::new(),
        dirs: Vec::new(),
        progress: Progress::default(),
    };
    restorer.run()?;
    restorer.progress.finish(host);
    Ok(restorer.progress)
}

/// A restored directory whose mode and mtime are still to be applied.
struct PendingDir {
    path: String,
    mode: u32,
    mtime_seconds: i64,
    mtime_nanoseconds: u32,
}

struct Restorer<'a, S, H, F> {
    root: &'a str,
    target: Target,
    source: &'a S,
    host: &'a H,
    hook: &'a mut F,
    /// Entry paths checked to be real directories (not symlinks), so that
    /// parents are looked at once rather than for every child.
    known_dirs: HashSet<String>,
    dirs: Vec<PendingDir>,
    progress: Progress,
}

impl<S: EntrySource, H: Host, F: FileHook> Restorer<'_, S, H, F> {
    fn run(&mut self) -> Result<(), PluginError> {
        while let Some(meta) = self.source.next_entry()? {
            entry_path::validate(&meta.path).map_err(PluginError::InvalidData)?;
            if meta.mtime_nanoseconds >= 1_000_000_000 {
                return Err(PluginError::InvalidData(format!(
                    "entry {:?}: mtime nanoseconds {} out of range",
                    meta.path, meta.mtime_nanoseconds
                )));
            }
            self.ensure_parents(&meta.path)?;
            match meta.kind {
                EntryKind::File => self.file(&meta)?,
                EntryKind::Directory => self.directory(&meta)?,
                EntryKind::Symlink => self.symlink(&meta)?,
            }
            self.progress.add_item(self.host);
        }
        self.finish_dirs()
    }

    /// Makes sure every ancestor of `path` is a real directory, creating
    /// missing ones. A symlink or file in the way is refused: writing through
    /// a restored symlink could redirect later entries elsewhere in the grant.
    fn ensure_parents(&mut self, path: &str) -> Result<(), PluginError> {
        for ancestor in entry_path::ancestors(path) {
            if self.known_dirs.contains(ancestor) {
                continue;
            }
            let guest = join(self.root, ancestor);
            match fs::symlink_metadata(&guest) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(PluginError::InvalidData(format!(
                        "{guest}: cannot restore {path:?} below it: not a directory"
                    )));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    fs::create_dir(&guest).map_err(|e| io_error(&guest, &e))?;
                }
                Err(e) => return Err(io_error(&guest, &e)),
            }
            self.known_dirs.insert(ancestor.to_owned());
        }
        Ok(())
    }

    fn directory(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        if !self.known_dirs.contains(&meta.path) {
            let guest = join(self.root, &meta.path);
            match fs::symlink_metadata(&guest) {
                Ok(existing) if existing.is_dir() => {}
                Ok(_) => {
                    return Err(PluginError::Io(format!(
                        "{guest}: exists and is not a directory"
                    )));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    fs::create_dir(&guest).map_err(|e| io_error(&guest, &e))?;
                }
                Err(e) => return Err(io_error(&guest, &e)),
            }
            self.known_dirs.insert(meta.path.clone());
        }
        self.dirs.push(PendingDir {
            path: meta.path.clone(),
            mode: meta.mode & MODE_MASK,
            mtime_seconds: meta.mtime_seconds,
            mtime_nanoseconds: meta.mtime_nanoseconds,
        });
        Ok(())
    }

    fn file(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        let guest = join(self.root, &meta.path);
        let create = || self.target.create_file(&meta.path);
        // Into an empty target nearly every file is new: try that first and
        // look at what is in the way only when something is.
        let mut file = match create() {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.clear(&guest)?;
                create()
            }
            other => other,
        }
        .map_err(|e| io_error(&guest, &e))?;
        self.hook.begin(&meta.path);
        loop {
            let chunk = self.source.read(CHUNK as u32)?;
            if chunk.is_empty() {
                break;
            }
            file.write_all(&chunk).map_err(|e| io_error(&guest, &e))?;
            self.hook.chunk(&chunk);
            self.progress.add_bytes(chunk.len() as u64, self.host);
        }
        self.hook.end();
        // Closed before the mtime is set, so no buffered write can move it.
        drop(file);
        self.host.set_mode(&guest, meta.mode & MODE_MASK)?;
        self.set_mtime(
            &meta.path,
            false,
            meta.mtime_seconds,
            meta.mtime_nanoseconds,
        )
    }

    fn symlink(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        let target = match meta.link_target.as_deref() {
            Some(t) if !t.is_empty() && !t.contains('\0') => t,
            _ => {
                return Err(PluginError::InvalidData(format!(
                    "symlink entry {:?} has no valid link target",
                    meta.path
                )));
            }
        };
        let guest = join(self.root, &meta.path);
        self.clear(&guest)?;
        self.target.symlink(&meta.path, target).map_err(|e| {
            if target.starts_with('/') && e.kind() == ErrorKind::PermissionDenied {
                PluginError::Io(format!(
                    "{guest}: WASI refuses to create a symlink to the absolute path {target:?}"
                ))
            } else {
                io_error(&guest, &e)
            }
        })?;
        // Symlinks have no mode of their own to set (`posix-fs` refuses).
        self.set_mtime(&meta.path, true, meta.mtime_seconds, meta.mtime_nanoseconds)
    }

    /// Removes a file or symlink at `guest` so the entry is created afresh:
    /// never writing through an old symlink or into a hard-linked or
    /// read-only file. An existing directory is left alone and refused.
    fn clear(&self, guest: &str) -> Result<(), PluginError> {
        match fs::symlink_metadata(guest) {
            Ok(existing) if existing.is_dir() => Err(PluginError::Io(format!(
                "{guest}: exists and is a directory"
            ))),
            Ok(_) => fs::remove_file(guest).map_err(|e| io_error(guest, &e)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(guest, &e)),
        }
    }

    /// Innermost directories first: setting a directory's time does not touch
    /// its parent, but restoring the parent's mode first could lock us out.
    fn finish_dirs(&mut self) -> Result<(), PluginError> {
        let dirs = std::mem::take(&mut self.dirs);
        for dir in dirs.iter().rev() {
            let guest = join(self.root, &dir.path);
            self.host.set_mode(&guest, dir.mode)?;
            self.set_mtime(&dir.path, false, dir.mtime_seconds, dir.mtime_nanoseconds)?;
        }
        Ok(())
    }

    /// Symlink times are best effort; an unrepresentable time (before 1970 on
    /// WASI) is reported but does not fail the restore.
    fn set_mtime(
        &self,
        path: &str,
        is_symlink: bool,
        seconds: i64,
        nanos: u32,
    ) -> Result<(), PluginError> {
        match self.target.set_mtime(path, is_symlink, seconds, nanos) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                if !is_symlink {
                    let guest = join(self.root, path);
                    self.host
                        .warn(&format!("{guest}: modification time not restored: {e}"));
                }
                Ok(())
            }
            Err(e) => Err(io_error(&join(self.root, path), &e)),
        }
    }
}
