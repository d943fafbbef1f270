//! Backup: a depth-first walk of the root in sorted name order (so archives of
//! the same tree are identical and dedup well), never following symlinks.

use std::fs::{self, File, Metadata};
use std::io::{self, ErrorKind};

use guest_sdk::{EntryKind, EntryMeta, EntrySink, Host, Progress};
use plugin_util::CHUNK;
use plugin_util::guest_path::join;
use plugin_util::mtime;

use crate::PluginError;
use crate::error::io as io_error;
use crate::hook::FileHook;

/// Writes every entry below `root` (not `root` itself) to `sink` and returns
/// the totals.
pub fn backup(
    root: &str,
    sink: &impl EntrySink,
    host: &impl Host,
    hook: &mut impl FileHook,
) -> Result<Progress, PluginError> {
    let mut walk = Walk {
        root,
        sink,
        host,
        hook,
        buf: vec![0; CHUNK],
        progress: Progress::default(),
    };
    walk.run()?;
    walk.progress.finish(host);
    Ok(walk.progress)
}

/// A directory being walked: its entry path and the names not yet visited,
/// largest first so that `pop` yields them in ascending order.
struct Level {
    dir: String,
    pending: Vec<String>,
}

struct Walk<'a, S, H, F> {
    root: &'a str,
    sink: &'a S,
    host: &'a H,
    hook: &'a mut F,
    buf: Vec<u8>,
    progress: Progress,
}

impl<S: EntrySink, H: Host, F: FileHook> Walk<'_, S, H, F> {
    // An explicit stack rather than recursion: wasm stacks are small and
    // directory trees can be deep.
    fn run(&mut self) -> Result<(), PluginError> {
        let pending = list_children(self.root).map_err(|e| io_error(self.root, &e))?;
        let mut stack = vec![Level {
            dir: String::new(),
            pending,
        }];
        while let Some(level) = stack.last_mut() {
            let Some(name) = level.pending.pop() else {
                stack.pop();
                continue;
            };
            let rel = join(&level.dir, &name);
            if let Some(pending) = self.entry(&rel)? {
                stack.push(Level { dir: rel, pending });
            }
        }
        Ok(())
    }

    /// Archives one entry; for a directory, returns its children to visit.
    ///
    /// Entries that vanish while the walk reaches them are skipped: a backup
    /// of a live tree must not fail because a file was deleted meanwhile.
    fn entry(&mut self, rel: &str) -> Result<Option<Vec<String>>, PluginError> {
        let guest = join(self.root, rel);
        let Some(meta) = skip_vanished(fs::symlink_metadata(&guest), &guest)? else {
            return Ok(None);
        };
        let file_type = meta.file_type();
        let mut children = None;
        if file_type.is_dir() {
            let Some(names) = skip_vanished(list_children(&guest), &guest)? else {
                return Ok(None);
            };
            self.begin(rel, &guest, EntryKind::Directory, &meta, None)?;
            children = Some(names);
        } else if file_type.is_file() {
            let entry = self.entry_meta(rel, &guest, EntryKind::File, &meta, None)?;
            if !self.hook.needs_every_file() && self.sink.reuse_unchanged(&entry, meta.len())? {
                self.progress.add_bytes(meta.len(), self.host);
                self.progress.add_item(self.host);
                return Ok(None);
            }
            let Some(file) = skip_vanished(File::open(&guest), &guest)? else {
                return Ok(None);
            };
            self.sink.begin_entry(&entry)?;
            self.stream(rel, &guest, file)?;
        } else if file_type.is_symlink() {
            let target = match fs::read_link(&guest) {
                Ok(target) => target,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                // Wasmtime's WASI refuses to read a symlink whose target is
                // absolute (it could reveal host paths); nothing in the
                // contract can read it instead, so the link is left out
                // loudly rather than failing the whole backup.
                Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                    let why = format!("WASI refuses to read its target ({e}); is it absolute?");
                    self.skip(&guest, &why);
                    return Ok(None);
                }
                Err(e) => return Err(io_error(&guest, &e)),
            };
            let target = target.into_os_string().into_string().map_err(|_| {
                PluginError::Io(format!("{guest}: symlink target is not valid Unicode"))
            })?;
            self.begin(rel, &guest, EntryKind::Symlink, &meta, Some(target))?;
        } else {
            self.skip(&guest, "not a regular file, directory or symlink");
            return Ok(None);
        }
        self.sink.end_entry()?;
        self.progress.add_item(self.host);
        Ok(children)
    }

    fn skip(&mut self, guest: &str, why: &str) {
        self.host.warn(&format!("{guest}: not backed up: {why}"));
        self.progress.skipped += 1;
    }

    fn begin(
        &mut self,
        rel: &str,
        guest: &str,
        kind: EntryKind,
        meta: &Metadata,
        link_target: Option<String>,
    ) -> Result<(), PluginError> {
        let entry = self.entry_meta(rel, guest, kind, meta, link_target)?;
        self.sink.begin_entry(&entry)
    }

    fn entry_meta(
        &self,
        rel: &str,
        guest: &str,
        kind: EntryKind,
        meta: &Metadata,
        link_target: Option<String>,
    ) -> Result<EntryMeta, PluginError> {
        let modified = meta.modified().map_err(|e| io_error(guest, &e))?;
        let (mtime_seconds, mtime_nanoseconds) = mtime::to_parts(modified);
        Ok(EntryMeta {
            path: rel.to_owned(),
            kind,
            mode: self.host.mode(guest)? & 0o7777,
            mtime_seconds,
            mtime_nanoseconds,
            link_target,
            attributes: Vec::new(),
        })
    }

    fn stream(&mut self, rel: &str, guest: &str, mut file: File) -> Result<(), PluginError> {
        self.hook.begin(rel);
        loop {
            let n = plugin_util::read_full(&mut file, &mut self.buf)
                .map_err(|e| io_error(guest, &e))?;
            if n == 0 {
                break;
            }
            let data = &self.buf[..n];
            self.sink.write(data)?;
            self.hook.chunk(data);
            self.progress.add_bytes(n as u64, self.host);
            if n < self.buf.len() {
                break; // `read_full` stops short only at end of file
            }
        }
        self.hook.end();
        Ok(())
    }
}

/// The names in directory `guest`, arranged for [`Level::pending`].
fn list_children(guest: &str) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(guest)? {
        let name = entry?.file_name().into_string().map_err(|name| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("file name {name:?} is not valid Unicode"),
            )
        })?;
        names.push(name);
    }
    names.sort_unstable_by(|a, b| b.cmp(a));
    Ok(names)
}

fn skip_vanished<T>(result: io::Result<T>, guest: &str) -> Result<Option<T>, PluginError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(guest, &e)),
    }
}
