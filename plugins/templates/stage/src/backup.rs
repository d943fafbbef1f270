//! Backup: the tree below the root, depth first in byte order of names,
//! each directory before what it holds, never following symlinks.

use guest_sdk::plugin_util::entry_path::show;
use guest_sdk::plugin_util::guest_path::join_bytes;
use guest_sdk::{
    EntryKind, EntryMeta, EntrySink, FileStat, FileType, Host, PluginError, PosixFile, PosixFs,
    Progress,
};

use crate::{BACKUP_COMPLETED, BACKUP_STARTED, Totals};

/// Bytes per `read`/`write` host call: large enough to be cheap, well below
/// the 4 MiB a call may carry.
const CHUNK: u32 = 1 << 20;

/// Backs up the tree below `root` into `out`.
pub fn run(
    fs: &impl PosixFs,
    out: &impl EntrySink,
    host: &impl Host,
    root: &str,
) -> Result<Totals, PluginError> {
    host.message(BACKUP_STARTED, "Started directory backup.");
    let mut walk = Walk {
        fs,
        out,
        host,
        root: root.as_bytes(),
        progress: Progress::default(),
    };
    // The root itself (the empty path), so its mode and time come back too.
    let stat = fs.stat(root.as_bytes())?;
    if stat.type_ != FileType::Directory {
        return Err(PluginError::InvalidConfig(format!(
            "{root} is not a directory"
        )));
    }
    walk.entry(b"", &stat, EntryKind::Directory, None)?;
    walk.dir(b"")?;
    walk.progress.finish(host);
    host.message(BACKUP_COMPLETED, "Completed directory backup.");
    Ok(Totals {
        items: walk.progress.items,
        bytes: walk.progress.bytes,
        skipped: walk.progress.skipped,
    })
}

struct Walk<'a, F, S, H> {
    fs: &'a F,
    out: &'a S,
    host: &'a H,
    root: &'a [u8],
    progress: Progress,
}

impl<F: PosixFs, S: EntrySink, H: Host> Walk<'_, F, S, H> {
    fn dir(&mut self, rel: &[u8]) -> Result<(), PluginError> {
        let mut names = match self.fs.read_dir(&join_bytes(self.root, rel)) {
            Ok(names) => names,
            Err(PluginError::NotFound(_)) => return Ok(()), // removed meanwhile
            Err(e) => return self.skip(rel, &format!("cannot list it: {e:?}")),
        };
        names.sort();
        for name in names {
            let child = if rel.is_empty() {
                name
            } else {
                [rel, b"/", &name].concat()
            };
            self.child(&child)?;
        }
        Ok(())
    }

    fn child(&mut self, rel: &[u8]) -> Result<(), PluginError> {
        let path = join_bytes(self.root, rel);
        let stat = match self.fs.stat(&path) {
            Ok(stat) => stat,
            Err(PluginError::NotFound(_)) => return Ok(()),
            Err(e) => return self.skip(rel, &format!("cannot read its metadata: {e:?}")),
        };
        match stat.type_ {
            FileType::Directory => {
                self.entry(rel, &stat, EntryKind::Directory, None)?;
                self.dir(rel)
            }
            FileType::File => self.file(rel, &path, &stat),
            FileType::Symlink => match self.fs.read_link(&path) {
                Ok(target) => self.entry(rel, &stat, EntryKind::Symlink, Some(target)),
                Err(PluginError::NotFound(_)) => Ok(()),
                Err(e) => self.skip(rel, &format!("cannot read the link: {e:?}")),
            },
            _ => self.skip(rel, "not a directory, regular file or symlink"),
        }
    }

    /// A regular file with its content. A file with several links is backed
    /// up once per name (this stage writes no `hard-link` entries).
    fn file(&mut self, rel: &[u8], path: &[u8], stat: &FileStat) -> Result<(), PluginError> {
        let file = match self.fs.open_read(path) {
            Ok(file) => file,
            Err(PluginError::NotFound(_)) => return Ok(()),
            Err(e) => return self.skip(rel, &format!("cannot open it: {e:?}")),
        };
        self.out
            .begin_entry(&meta(rel, stat, EntryKind::File, None))?;
        // Once the entry is begun a read error fails the backup: an archive
        // entry cannot be taken back.
        loop {
            let data = file.read(CHUNK)?;
            if data.is_empty() {
                break;
            }
            self.out.write(&data)?;
            self.progress.add_bytes(data.len() as u64, self.host);
        }
        self.out.end_entry()?;
        self.progress.add_item(self.host);
        Ok(())
    }

    fn entry(
        &mut self,
        rel: &[u8],
        stat: &FileStat,
        kind: EntryKind,
        link_target: Option<Vec<u8>>,
    ) -> Result<(), PluginError> {
        self.out.begin_entry(&meta(rel, stat, kind, link_target))?;
        self.out.end_entry()?;
        self.progress.add_item(self.host);
        Ok(())
    }

    /// Leaves `rel` out and says so: the job ends with warnings naming it.
    fn skip(&mut self, rel: &[u8], reason: &str) -> Result<(), PluginError> {
        self.host.skipped(rel, reason);
        self.host.warn(&format!("left out {}: {reason}", show(rel)));
        self.progress.skipped += 1;
        Ok(())
    }
}

fn meta(rel: &[u8], stat: &FileStat, kind: EntryKind, link_target: Option<Vec<u8>>) -> EntryMeta {
    EntryMeta {
        path: rel.to_vec(),
        kind,
        mode: stat.mode & 0o7777,
        mtime_seconds: stat.mtime.seconds,
        mtime_nanoseconds: stat.mtime.nanoseconds,
        link_target,
        owner: Some(stat.owner.clone()),
        attributes: Vec::new(),
    }
}
