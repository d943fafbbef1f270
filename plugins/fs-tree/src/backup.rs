//! Backup: a depth-first walk of the root in byte-sorted name order (so
//! archives of the same tree are identical and dedup well), never following
//! symlinks, entirely through `posix-fs`, so any name, owner, absolute link
//! target and hard link is seen as it is. The root itself is the first entry
//! (the empty path), so its mode, owner and time are kept too.

use guest_sdk::{
    EntryKind, EntryMeta, EntrySink, FileStat, FileType, Host, LogLevel, PluginError, PosixFs,
    Progress,
};
use plugin_util::entry_path::show;
use plugin_util::guest_path::join_bytes;

use crate::hard_links::HardLinks;
use crate::hook::FileHook;

const MODE_MASK: u32 = 0o7777;

/// Writes the root and every entry below it to `sink` and returns the
/// totals; `skipped` counts the entries reported as left out.
pub fn backup(
    root: &str,
    sink: &impl EntrySink,
    host: &impl Host,
    fs: &impl PosixFs,
    hook: &mut impl FileHook,
) -> Result<Progress, PluginError> {
    let mut walk = Walk {
        root: root.as_bytes(),
        sink,
        host,
        fs,
        hook,
        links: HardLinks::default(),
        progress: Progress::default(),
        vanished: 0,
    };
    walk.run()?;
    if walk.vanished > 0 {
        host.log(
            LogLevel::Info,
            &format!(
                "{} entries were deleted while the backup walked {root} and are not in it",
                walk.vanished
            ),
        );
    }
    walk.progress.finish(host);
    Ok(walk.progress)
}

/// A directory being walked: its entry path and the names not yet visited,
/// largest first so that `pop` yields them in ascending order.
struct Level {
    dir: Vec<u8>,
    pending: Vec<Vec<u8>>,
}

struct Walk<'a, S, H, P, F> {
    root: &'a [u8],
    sink: &'a S,
    host: &'a H,
    fs: &'a P,
    hook: &'a mut F,
    links: HardLinks,
    progress: Progress,
    /// Entries deleted between being listed and being read.
    vanished: u64,
}

impl<S: EntrySink, H: Host, P: PosixFs, F: FileHook> Walk<'_, S, H, P, F> {
    // An explicit stack rather than recursion: wasm stacks are small and
    // directory trees can be deep.
    fn run(&mut self) -> Result<(), PluginError> {
        let stat = self.fs.stat(self.root)?;
        if !matches!(stat.type_, FileType::Directory) {
            return Err(PluginError::InvalidConfig(format!(
                "`root` {} is not a directory (a symlink is not followed: name the directory \
                 itself)",
                show(self.root)
            )));
        }
        let pending = sorted(self.fs.read_dir(self.root)?);
        self.write(&entry_meta(b"", EntryKind::Directory, &stat, None))?;
        let mut stack = vec![Level {
            dir: Vec::new(),
            pending,
        }];
        while let Some(level) = stack.last_mut() {
            let Some(name) = level.pending.pop() else {
                stack.pop();
                continue;
            };
            let rel = join_bytes(&level.dir, &name);
            if let Some(pending) = self.entry(&rel)? {
                stack.push(Level { dir: rel, pending });
            }
        }
        Ok(())
    }

    /// Archives one entry; for a directory, returns its children to visit.
    fn entry(&mut self, rel: &[u8]) -> Result<Option<Vec<Vec<u8>>>, PluginError> {
        let guest = join_bytes(self.root, rel);
        let stat = match self.fs.stat(&guest) {
            // A directory that may be listed but not searched.
            Err(PluginError::Denied(why)) => {
                self.skip(rel, &format!("it cannot be examined: {why}"));
                return Ok(None);
            }
            other => match self.unless_vanished(other)? {
                Some(stat) => stat,
                None => return Ok(None),
            },
        };
        match stat.type_ {
            FileType::Directory => return self.directory(rel, &guest, &stat),
            FileType::File => self.file(rel, &guest, &stat)?,
            FileType::Symlink => self.symlink(rel, &guest, &stat)?,
            FileType::Fifo => self.skip(
                rel,
                "a FIFO (named pipe): the program using it recreates it",
            ),
            FileType::Socket => {
                self.skip(rel, "a socket: the program listening on it recreates it")
            }
            FileType::CharDevice => self.skip(rel, "a character device: devices are not backed up"),
            FileType::BlockDevice => self.skip(rel, "a block device: devices are not backed up"),
            FileType::Unknown => self.skip(rel, "a file of a type this stage does not know"),
        }
        Ok(None)
    }

    fn directory(
        &mut self,
        rel: &[u8],
        guest: &[u8],
        stat: &FileStat,
    ) -> Result<Option<Vec<Vec<u8>>>, PluginError> {
        let names = match self.fs.read_dir(guest) {
            Ok(names) => names,
            Err(PluginError::Denied(why)) => {
                self.skip(rel, &format!("the directory cannot be listed: {why}"));
                return Ok(None);
            }
            other => match self.unless_vanished(other)? {
                Some(names) => names,
                None => return Ok(None),
            },
        };
        self.write(&entry_meta(rel, EntryKind::Directory, stat, None))?;
        Ok(Some(sorted(names)))
    }

    /// A regular file: its content, or a `hard-link` entry naming the path
    /// it was archived under first.
    fn file(&mut self, rel: &[u8], guest: &[u8], stat: &FileStat) -> Result<(), PluginError> {
        if stat.link_count > 1
            && let Some(first) = self.links.take_first(stat)
        {
            return self.write(&entry_meta(rel, EntryKind::HardLink, stat, Some(first)));
        }
        let meta = entry_meta(rel, EntryKind::File, stat, None);
        if !self.hook.needs_every_file() && self.sink.reuse_unchanged(&meta, stat.size)? {
            self.progress.add_bytes(stat.size, self.host);
            self.progress.add_item(self.host);
            self.links.remember(stat, rel);
            return Ok(());
        }
        let file = match self.fs.open_read(guest) {
            Ok(file) => file,
            Err(PluginError::Denied(why)) => {
                self.skip(rel, &format!("the file cannot be read: {why}"));
                return Ok(());
            }
            other => match self.unless_vanished(other)? {
                Some(file) => file,
                None => return Ok(()),
            },
        };
        self.sink.begin_entry(&meta)?;
        self.stream(rel, &file)?;
        self.sink.end_entry()?;
        self.progress.add_item(self.host);
        // Only once archived: a later link must name a path the archive has.
        self.links.remember(stat, rel);
        Ok(())
    }

    fn symlink(&mut self, rel: &[u8], guest: &[u8], stat: &FileStat) -> Result<(), PluginError> {
        let Some(target) = self.unless_vanished(self.fs.read_link(guest))? else {
            return Ok(());
        };
        self.write(&entry_meta(rel, EntryKind::Symlink, stat, Some(target)))
    }

    /// An entry without content.
    fn write(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        self.sink.begin_entry(meta)?;
        self.sink.end_entry()?;
        self.progress.add_item(self.host);
        Ok(())
    }

    fn stream(&mut self, rel: &[u8], file: &P::File) -> Result<(), PluginError> {
        if !self.hook.needs_every_file() {
            // The host reads the file itself: its bytes need not enter the sandbox.
            let copied = self.sink.copy_from_file(file)?;
            self.progress.add_bytes(copied, self.host);
            return Ok(());
        }
        self.hook.begin(rel);
        let (hook, progress, host) = (&mut *self.hook, &mut self.progress, self.host);
        guest_sdk::content::append_file(self.sink, file, |data| {
            hook.chunk(data);
            progress.add_bytes(data.len() as u64, host);
        })?;
        self.hook.end();
        Ok(())
    }

    /// Reports an entry left out, so the job ends with a warning naming it.
    fn skip(&mut self, rel: &[u8], why: &str) {
        self.host.skipped(rel, why);
        self.progress.skipped += 1;
    }

    /// `None` for an entry deleted since its directory was listed: a backup
    /// of a live tree must not fail because a file went away meanwhile.
    fn unless_vanished<T>(
        &mut self,
        result: Result<T, PluginError>,
    ) -> Result<Option<T>, PluginError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(PluginError::NotFound(_)) => {
                self.vanished += 1;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

fn entry_meta(
    rel: &[u8],
    kind: EntryKind,
    stat: &FileStat,
    link_target: Option<Vec<u8>>,
) -> EntryMeta {
    EntryMeta {
        path: rel.to_vec(),
        kind,
        mode: stat.mode & MODE_MASK,
        mtime_seconds: stat.mtime.seconds,
        mtime_nanoseconds: stat.mtime.nanoseconds,
        link_target,
        owner: Some(stat.owner.clone()),
        attributes: Vec::new(),
    }
}

/// `names` arranged for [`Level::pending`].
fn sorted(mut names: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    names.sort_unstable_by(|a, b| b.cmp(a));
    names
}
