//! Restore into an empty data directory: entries are written as they come,
//! every regular file copied and hashed by the host, and the result checked against
//! the restored `backup_manifest` (the last entry) without reading anything
//! back. Permissions and ownership end as PostgreSQL demands: directories
//! 0700, files as recorded, the data directory itself 0700, and every entry
//! owned by the configured owner (see [`crate::owner`]).

use std::collections::HashSet;

use guest_sdk::{
    EntryKind, EntryMeta, EntrySource, Host, LogLevel, MetadataUpdate, Owner, PosixFs, Progress,
};
use plugin_util::entry_path::{self, show};
use plugin_util::guest_path::join_bytes;

use crate::backup::TABLESPACES;
use crate::config::DataOwner;
use crate::manifest::{self, Received};
use crate::owner;
use crate::receive::{MANIFEST_ENTRY, TABLESPACE_DIR};
use crate::{Attribute, PluginError};

const DIR_MODE: u32 = 0o700;
const MODE_MASK: u32 = 0o7777;

#[derive(Debug)]
pub struct Totals {
    pub items: u64,
    pub bytes: u64,
}

pub fn restore(
    root: &str,
    source: &impl EntrySource,
    host: &impl Host,
    fs: &impl PosixFs,
    metadata: &[Attribute],
    data_owner: &DataOwner,
) -> Result<Totals, PluginError> {
    refuse_tablespaces(metadata)?;
    require_empty(root, fs)?;
    let target = fs.stat(root.as_bytes())?;
    let mut restorer = Restorer {
        root,
        fs,
        source,
        host,
        owner: owner::resolve(data_owner, &target.owner),
        owner_missed: 0,
        known_dirs: HashSet::new(),
        received: Received::new(),
        check: None,
        progress: Progress::default(),
    };
    restorer.run()?;
    let check = restorer.check.take().ok_or_else(|| {
        PluginError::InvalidData(format!(
            "the backup has no {MANIFEST_ENTRY} entry, so the restore cannot be verified"
        ))
    })?;
    let outcome = check.finish()?;
    restorer.finish_dirs()?;
    restorer.report_owner();
    restorer.progress.finish(host);
    host.log(
        LogLevel::Info,
        &format!(
            "restored files verified against {MANIFEST_ENTRY}: {} files",
            outcome.files
        ),
    );
    Ok(Totals {
        items: restorer.progress.items,
        bytes: restorer.progress.bytes,
    })
}

/// Tablespaces live outside the data directory, at locations the restore
/// target does not grant; half a cluster would not start.
fn refuse_tablespaces(metadata: &[Attribute]) -> Result<(), PluginError> {
    let Some((_, list)) = metadata.iter().find(|(k, _)| k == TABLESPACES) else {
        return Ok(());
    };
    if list.is_empty() {
        return Ok(());
    }
    let described = list
        .split(',')
        .map(|t| t.replacen('=', " at ", 1))
        .collect::<Vec<_>>()
        .join(", ");
    Err(PluginError::Other(format!(
        "the backup holds tablespaces ({described}); restoring tablespaces is not supported: \
         their archives are kept in the backup under {TABLESPACE_DIR}/<oid>/ and must be \
         restored by hand (or move the tablespaces into the main data directory before backing up)"
    )))
}

/// Restoring over an existing data directory could destroy a live cluster.
fn require_empty(root: &str, fs: &impl PosixFs) -> Result<(), PluginError> {
    let names = fs.read_dir(root.as_bytes()).map_err(|e| match e {
        PluginError::NotFound(_) | PluginError::Denied(_) => PluginError::InvalidConfig(format!(
            "restore target {root} does not exist or is not granted to this plugin"
        )),
        other => other,
    })?;
    if let Some(name) = names.first() {
        return Err(PluginError::InvalidConfig(format!(
            "restore target {root} is not empty (it holds {}): restoring over an existing \
             data directory could destroy a live cluster; stop PostgreSQL and point `root` at an \
             empty directory (or empty this one)",
            show(name)
        )));
    }
    Ok(())
}

struct Restorer<'a, P, S, H> {
    root: &'a str,
    fs: &'a P,
    source: &'a S,
    host: &'a H,
    /// What every restored entry is owned by.
    owner: Owner,
    /// Entries the host did not give that owner.
    owner_missed: u64,
    /// Entry paths of directories created so far.
    known_dirs: HashSet<String>,
    received: Received,
    check: Option<manifest::Check>,
    progress: Progress,
}

impl<P: PosixFs, S: EntrySource, H: Host> Restorer<'_, P, S, H> {
    fn run(&mut self) -> Result<(), PluginError> {
        while let Some(meta) = self.source.next_entry()? {
            let path = entry_path(&meta)?;
            if self.check.is_some() {
                return Err(PluginError::InvalidData(format!(
                    "entry {path:?} follows {MANIFEST_ENTRY}, which must be the last entry"
                )));
            }
            if path.starts_with(&format!("{TABLESPACE_DIR}/")) || path == TABLESPACE_DIR {
                return Err(PluginError::InvalidData(format!(
                    "entry {path:?} belongs to a tablespace archive; restoring tablespaces is \
                     not supported"
                )));
            }
            self.ensure_parents(&path)?;
            match meta.kind {
                EntryKind::Directory => self.directory(&path)?,
                EntryKind::File if path == MANIFEST_ENTRY => self.manifest(&meta)?,
                EntryKind::File => self.file(&path, &meta)?,
                EntryKind::Symlink => self.symlink(&path, &meta)?,
                EntryKind::HardLink => {
                    return Err(PluginError::InvalidData(format!(
                        "entry {path:?} is a hard link, which a PostgreSQL base backup never \
                         holds"
                    )));
                }
            }
            self.progress.add_item(self.host);
        }
        Ok(())
    }

    fn guest(&self, path: &str) -> Vec<u8> {
        join_bytes(self.root.as_bytes(), path.as_bytes())
    }

    fn ensure_parents(&mut self, path: &str) -> Result<(), PluginError> {
        for ancestor in entry_path::ancestors(path.as_bytes()) {
            // Ancestors of a UTF-8 path split at `/` are UTF-8 too.
            let ancestor = String::from_utf8_lossy(ancestor).into_owned();
            if !self.known_dirs.contains(&ancestor) {
                self.directory(&ancestor)?;
            }
        }
        Ok(())
    }

    /// Creates a directory; one that exists must be one this restore made
    /// (the target was empty), never a symlink a backup entry planted.
    fn directory(&mut self, path: &str) -> Result<(), PluginError> {
        if self.known_dirs.contains(path) {
            return Ok(());
        }
        let guest = self.guest(path);
        if let Err(e) = self.fs.create_dir(&guest) {
            // The contract has no "exists" error: ask what is there.
            return Err(match self.fs.stat(&guest) {
                Ok(_) => PluginError::InvalidData(format!(
                    "{}: exists already and is not a directory this restore created",
                    show(&guest)
                )),
                Err(_) => e,
            });
        }
        self.known_dirs.insert(path.to_owned());
        Ok(())
    }

    /// Copies the current entry's content into the new file `guest` by the
    /// host, returning its size and the SHA-256 the host computed.
    fn copy_content(&mut self, guest: &[u8]) -> Result<(u64, [u8; 32]), PluginError> {
        let file = self.fs.create_file(guest)?;
        let copied = self.source.copy_to_file(&file, true)?;
        self.progress.add_bytes(copied.size, self.host);
        guest_sdk::content::sized_sha256(&copied)
    }

    fn file(&mut self, path: &str, meta: &EntryMeta) -> Result<(), PluginError> {
        let guest = self.guest(path);
        let (size, hash) = self.copy_content(&guest)?;
        self.own(&guest, Some(meta.mode & MODE_MASK))?;
        if self
            .received
            .insert(path.to_owned(), (size, hash))
            .is_some()
        {
            return Err(PluginError::InvalidData(format!(
                "the backup holds {path} twice"
            )));
        }
        Ok(())
    }

    /// The manifest is restored like a file (PostgreSQL's own tools keep it
    /// in the data directory) and read as it is written.
    fn manifest(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        let guest = self.guest(MANIFEST_ENTRY);
        let mut check = manifest::Check::new(std::mem::take(&mut self.received));
        let file = self.fs.create_file(&guest)?;
        let (progress, host) = (&mut self.progress, self.host);
        guest_sdk::content::copy_observed(self.source, &file, |chunk| {
            progress.add_bytes(chunk.len() as u64, host);
            check.feed(chunk)
        })?;
        self.own(&guest, Some(meta.mode & MODE_MASK))?;
        self.check = Some(check);
        Ok(())
    }

    fn symlink(&mut self, path: &str, meta: &EntryMeta) -> Result<(), PluginError> {
        let target = match meta.link_target.as_deref() {
            Some(t) if !t.is_empty() && !t.contains(&0) => t,
            _ => {
                return Err(PluginError::InvalidData(format!(
                    "symlink entry {path:?} has no valid link target"
                )));
            }
        };
        let guest = self.guest(path);
        self.fs.symlink(target, &guest)?;
        self.own(&guest, None)
    }

    /// Gives `guest` the data directory's owner (and `mode`, if any).
    fn own(&mut self, guest: &[u8], mode: Option<u32>) -> Result<(), PluginError> {
        let update = MetadataUpdate {
            mode,
            owner: Some(self.owner.clone()),
            mtime: None,
        };
        if !self.fs.set_metadata(guest, &update)?.owner {
            self.owner_missed += 1;
        }
        Ok(())
    }

    /// Innermost directories first, then the data directory itself:
    /// PostgreSQL refuses to start on a data directory open to others.
    fn finish_dirs(&mut self) -> Result<(), PluginError> {
        let mut dirs: Vec<String> = self.known_dirs.iter().cloned().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        for dir in dirs {
            let guest = self.guest(&dir);
            self.own(&guest, Some(DIR_MODE))?;
        }
        self.own(self.root.as_bytes(), Some(DIR_MODE))
    }

    /// The host reports each owner it left out; this says what it means
    /// for the cluster and how to fix it.
    fn report_owner(&self) {
        if self.owner_missed > 0 {
            self.host.warn(&format!(
                "{} restored entries in {} could not be given the owner {}: PostgreSQL \
                 refuses to start on a data directory its server user does not own; \
                 run `chown -R` on it, or let the host restore owners",
                self.owner_missed,
                self.root,
                owner::describe(&self.owner)
            ));
        }
    }
}

/// The entry's path, checked, as text: PostgreSQL names its files in ASCII
/// and this stage's backups carry UTF-8 paths only.
fn entry_path(meta: &EntryMeta) -> Result<String, PluginError> {
    entry_path::validate(&meta.path).map_err(|e| {
        PluginError::InvalidData(format!("the backup holds an unusable entry: {e}"))
    })?;
    String::from_utf8(meta.path.clone()).map_err(|_| {
        PluginError::InvalidData(format!(
            "the backup holds the entry {}, whose path is not UTF-8: it is not a PostgreSQL \
             base backup this stage wrote",
            show(&meta.path)
        ))
    })
}
