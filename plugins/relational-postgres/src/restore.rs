//! Restore into an empty data directory: entries are written as they come,
//! every regular file hashed while written, and the result checked against
//! the restored `backup_manifest` (the last entry) without reading anything
//! back. Permissions end as PostgreSQL demands: directories 0700, files as
//! recorded, the data directory itself 0700.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};

use guest_sdk::platform::Target;
use guest_sdk::{EntryKind, EntryMeta, EntrySource, Host, Progress};
use plugin_util::CHUNK;
use plugin_util::guest_path::join;
use sha2::{Digest, Sha256};

use crate::backup::TABLESPACES;
use crate::manifest::{self, Received};
use crate::receive::{MANIFEST_ENTRY, TABLESPACE_DIR};
use crate::{Attribute, PluginError};
use plugin_util::entry_path;

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
    metadata: &[Attribute],
) -> Result<Totals, PluginError> {
    refuse_tablespaces(metadata)?;
    require_empty(root)?;
    let target = Target::open(root).map_err(|e| io_error(root, &e))?;
    let mut restorer = Restorer {
        root,
        target,
        source,
        host,
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
    restorer.finish_modes()?;
    restorer.progress.finish(host);
    host.log(
        guest_sdk::LogLevel::Info,
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
fn require_empty(root: &str) -> Result<(), PluginError> {
    let mut entries = fs::read_dir(root).map_err(|e| match e.kind() {
        ErrorKind::NotFound => PluginError::InvalidConfig(format!(
            "restore target {root} does not exist or is not granted to this plugin"
        )),
        _ => io_error(root, &e),
    })?;
    if let Some(entry) = entries.next() {
        let name = entry
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(PluginError::InvalidConfig(format!(
            "restore target {root} is not empty (it holds {name:?}): restoring over an existing \
             data directory could destroy a live cluster; stop PostgreSQL and point `root` at an \
             empty directory (or empty this one)"
        )));
    }
    Ok(())
}

fn io_error(path: &str, e: &std::io::Error) -> PluginError {
    PluginError::Io(plugin_util::io_message(path, e))
}

struct Restorer<'a, S, H> {
    root: &'a str,
    target: Target,
    source: &'a S,
    host: &'a H,
    /// Entry paths of directories created so far.
    known_dirs: HashSet<String>,
    received: Received,
    check: Option<manifest::Check>,
    progress: Progress,
}

impl<S: EntrySource, H: Host> Restorer<'_, S, H> {
    fn run(&mut self) -> Result<(), PluginError> {
        while let Some(meta) = self.source.next_entry()? {
            entry_path::validate(&meta.path).map_err(|e| {
                PluginError::InvalidData(format!("the backup holds an unusable entry: {e}"))
            })?;
            if self.check.is_some() {
                return Err(PluginError::InvalidData(format!(
                    "entry {:?} follows {MANIFEST_ENTRY}, which must be the last entry",
                    meta.path
                )));
            }
            if meta.path.starts_with(&format!("{TABLESPACE_DIR}/")) || meta.path == TABLESPACE_DIR {
                return Err(PluginError::InvalidData(format!(
                    "entry {:?} belongs to a tablespace archive; restoring tablespaces is \
                     not supported",
                    meta.path
                )));
            }
            self.ensure_parents(&meta.path)?;
            match meta.kind {
                EntryKind::Directory => self.directory(&meta.path)?,
                EntryKind::File if meta.path == MANIFEST_ENTRY => self.manifest(&meta)?,
                EntryKind::File => self.file(&meta)?,
                EntryKind::Symlink => self.symlink(&meta)?,
            }
            self.progress.add_item(self.host);
        }
        Ok(())
    }

    fn ensure_parents(&mut self, path: &str) -> Result<(), PluginError> {
        for ancestor in entry_path::ancestors(path) {
            if !self.known_dirs.contains(ancestor) {
                self.directory(ancestor)?;
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
        let guest = join(self.root, path);
        match fs::create_dir(&guest) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(PluginError::InvalidData(format!(
                    "{guest}: exists already and is not a directory this restore created"
                )));
            }
            Err(e) => return Err(io_error(&guest, &e)),
        }
        self.known_dirs.insert(path.to_owned());
        Ok(())
    }

    /// Copies the current entry's content into `guest`, returning its size
    /// and SHA-256.
    fn write_content(
        &mut self,
        guest: &str,
        mut observe: impl FnMut(&[u8]) -> Result<(), PluginError>,
    ) -> Result<(u64, [u8; 32]), PluginError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(guest)
            .map_err(|e| io_error(guest, &e))?;
        let mut hash = Sha256::new();
        let mut size = 0u64;
        loop {
            let chunk = self.source.read(CHUNK as u32)?;
            if chunk.is_empty() {
                break;
            }
            file.write_all(&chunk).map_err(|e| io_error(guest, &e))?;
            hash.update(&chunk);
            observe(&chunk)?;
            size += chunk.len() as u64;
            self.progress.add_bytes(chunk.len() as u64, self.host);
        }
        file.flush().map_err(|e| io_error(guest, &e))?;
        Ok((size, hash.finalize().into()))
    }

    fn file(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        let guest = join(self.root, &meta.path);
        let (size, hash) = self.write_content(&guest, |_| Ok(()))?;
        self.host.set_mode(&guest, meta.mode & MODE_MASK)?;
        if self
            .received
            .insert(meta.path.clone(), (size, hash))
            .is_some()
        {
            return Err(PluginError::InvalidData(format!(
                "the backup holds {} twice",
                meta.path
            )));
        }
        Ok(())
    }

    /// The manifest is restored like a file (PostgreSQL's own tools keep it
    /// in the data directory) and read as it is written.
    fn manifest(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        let guest = join(self.root, &meta.path);
        let mut check = manifest::Check::new(std::mem::take(&mut self.received));
        self.write_content(&guest, |chunk| check.feed(chunk))?;
        self.host.set_mode(&guest, meta.mode & MODE_MASK)?;
        self.check = Some(check);
        Ok(())
    }

    fn symlink(&mut self, meta: &EntryMeta) -> Result<(), PluginError> {
        let guest = join(self.root, &meta.path);
        let target = match meta.link_target.as_deref() {
            Some(t) if !t.is_empty() && !t.contains('\0') => t,
            _ => {
                return Err(PluginError::InvalidData(format!(
                    "symlink entry {:?} has no valid link target",
                    meta.path
                )));
            }
        };
        self.target.symlink(&meta.path, target).map_err(|e| {
            if target.starts_with('/') && e.kind() == ErrorKind::PermissionDenied {
                PluginError::Io(format!(
                    "{guest}: WASI refuses to create a symlink to the absolute path {target:?}"
                ))
            } else {
                io_error(&guest, &e)
            }
        })
    }

    /// Innermost directories first, then the data directory itself:
    /// PostgreSQL refuses to start on a data directory open to others.
    fn finish_modes(&mut self) -> Result<(), PluginError> {
        let mut dirs: Vec<&String> = self.known_dirs.iter().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        for dir in dirs {
            self.host.set_mode(&join(self.root, dir), DIR_MODE)?;
        }
        self.host.set_mode(self.root, DIR_MODE)
    }
}
