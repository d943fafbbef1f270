//! The store's operations on its directory: one file per object, written
//! under a temporary name and renamed into place, so a reader sees the old
//! object or the whole new one, never a part.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use guest_sdk::plugin_util::object_name;
use guest_sdk::store_adapter_world::exports::drhost::plugin::store_adapter::ObjectInfo;
use guest_sdk::{HostSink, HostSource, PluginError};

use crate::Config;

/// Most objects one `list` call returns (the contract's page size).
pub const PAGE: usize = 1000;
/// Bytes moved per host call: well below the 4 MiB a `byte-sink` write and
/// the 8 MiB a host call may carry.
const CHUNK: usize = 1 << 20;
/// Temporary files end with a character no object name contains, so they
/// are never listed as objects (nor mistaken for one after a crash).
const TEMP_SUFFIX: &str = "~tmp";

/// A store rooted at a directory: a guest path in the component, any
/// directory in native tests.
pub struct DirStore {
    config: Config,
}

impl DirStore {
    pub fn new(config: Config) -> DirStore {
        DirStore { config }
    }

    /// Checks that the root is a directory this adapter can write to, by
    /// writing and removing a temporary file (never an object).
    pub fn probe(&self) -> Result<(), PluginError> {
        let root = Path::new(&self.config.root);
        match fs::metadata(root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(invalid_config(&self.config.root, "is not a directory")),
            Err(e) => {
                return Err(invalid_config(
                    &self.config.root,
                    &format!("cannot be used ({e}); is the store's directory granted?"),
                ));
            }
        }
        let (path, file) = create_temp(root, "probe").map_err(|e| io_error("probe", &e))?;
        drop(file);
        fs::remove_file(&path).map_err(|e| io_error("probe", &e))
    }

    pub fn put(&self, name: &str, size: u64, source: &impl HostSource) -> Result<(), PluginError> {
        let path = self.path(name)?;
        if self.config.append_only && self.stat(name)?.is_some() {
            return Err(PluginError::Denied(format!(
                "{name} exists and this store is append-only: objects are never replaced"
            )));
        }
        let dir = path.parent().unwrap_or(Path::new(&self.config.root));
        fs::create_dir_all(dir).map_err(|e| io_error(name, &e))?;
        let leaf = name.rsplit('/').next().unwrap_or(name);
        let (temp, mut file) = create_temp(dir, leaf).map_err(|e| io_error(name, &e))?;
        let result = write_exact(name, size, source, &mut file)
            .and_then(|()| file.sync_all().map_err(|e| io_error(name, &e)))
            .and_then(|()| self.publish(name, &temp, &path));
        if result.is_err() {
            // Best effort: a leftover temporary file is never listed.
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Moves the complete temporary file to the object's name.
    fn publish(&self, name: &str, temp: &Path, path: &Path) -> Result<(), PluginError> {
        if self.config.append_only {
            // A hard link never replaces an existing name, even one a
            // concurrent call wrote since the check in `put`.
            match fs::hard_link(temp, path) {
                Ok(()) => fs::remove_file(temp).map_err(|e| io_error(name, &e)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(PluginError::Denied(
                    format!("{name} exists and this store is append-only"),
                )),
                Err(e) => Err(io_error(name, &e)),
            }
        } else {
            fs::rename(temp, path).map_err(|e| io_error(name, &e))
        }
    }

    pub fn get(
        &self,
        name: &str,
        offset: u64,
        length: Option<u64>,
        sink: &impl HostSink,
    ) -> Result<(), PluginError> {
        let path = self.path(name)?;
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if is_missing(&e) => return Err(not_found(name)),
            Err(e) => return Err(io_error(name, &e)),
        };
        let meta = file.metadata().map_err(|e| io_error(name, &e))?;
        if !meta.is_file() {
            return Err(not_found(name));
        }
        let size = meta.len();
        let end = match length {
            None if offset <= size => size,
            Some(length) => match offset.checked_add(length) {
                Some(end) if end <= size => end,
                _ => return Err(out_of_range(name, offset, length, size)),
            },
            None => return Err(out_of_range(name, offset, 0, size)),
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(name, &e))?;
        let mut left = end - offset;
        let mut buf = vec![0; CHUNK];
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = file
                .read(&mut buf[..want])
                .map_err(|e| io_error(name, &e))?;
            if n == 0 {
                return Err(PluginError::InvalidData(format!(
                    "{name} ended early: it shrank while being read"
                )));
            }
            sink.write(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    pub fn stat(&self, name: &str) -> Result<Option<ObjectInfo>, PluginError> {
        let path = self.path(name)?;
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectInfo {
                name: name.to_owned(),
                size: meta.len(),
            })),
            // A directory is not an object (`packs` when `packs/ab` exists).
            Ok(_) => Ok(None),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(io_error(name, &e)),
        }
    }

    /// The first [`PAGE`] objects whose names start with `prefix` and sort
    /// after `start_after`, in byte order. Walks the directory that holds
    /// the prefix and keeps only the smallest names, so memory stays bounded
    /// however many objects there are.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, PluginError> {
        // Only the directory named by the prefix up to its last `/` can hold
        // matches; any other name in a prefix fails the walk's filter.
        let dir = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        if !dir.is_empty() && object_name::validate(dir).is_err() {
            return Ok(Vec::new());
        }
        let mut page = BTreeSet::new();
        let mut walk = Walk {
            prefix,
            start_after,
            page: &mut page,
        };
        walk.dir(&Path::new(&self.config.root).join(dir), dir)?;
        page.into_iter()
            .map(|(name, size)| Ok(ObjectInfo { name, size }))
            .collect()
    }

    pub fn delete(&self, name: &str) -> Result<(), PluginError> {
        let path = self.path(name)?;
        if self.config.append_only {
            return Err(PluginError::Denied(format!(
                "cannot delete {name}: this store is append-only"
            )));
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            // Removing a missing object succeeds (the contract's rule).
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(io_error(name, &e)),
        }
    }

    /// Where object `name` lives, once `name` is checked against the
    /// contract's rules (so it cannot climb out of the root).
    fn path(&self, name: &str) -> Result<PathBuf, PluginError> {
        object_name::validate(name).map_err(PluginError::InvalidData)?;
        Ok(Path::new(&self.config.root).join(name))
    }
}

/// The state of one `list` walk.
struct Walk<'a> {
    prefix: &'a str,
    start_after: Option<&'a str>,
    page: &'a mut BTreeSet<(String, u64)>,
}

impl Walk<'_> {
    fn dir(&mut self, path: &Path, name: &str) -> Result<(), PluginError> {
        let entries = match fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(io_error(name, &e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error(name, &e))?;
            let Some(leaf) = entry.file_name().to_str().map(str::to_owned) else {
                continue; // not a name this adapter wrote
            };
            if object_name::segment(&leaf).is_err() {
                continue; // temporary files and strangers
            }
            let child = if name.is_empty() {
                leaf
            } else {
                format!("{name}/{leaf}")
            };
            let kind = match entry.file_type() {
                Ok(kind) => kind,
                Err(e) if is_missing(&e) => continue, // deleted meanwhile
                Err(e) => return Err(io_error(&child, &e)),
            };
            if kind.is_dir() {
                // Descend only where the prefix can still match below.
                if could_hold(&child, self.prefix) {
                    self.dir(&entry.path(), &child)?;
                }
            } else if kind.is_file() {
                self.file(&entry, child)?;
            }
        }
        Ok(())
    }

    fn file(&mut self, entry: &fs::DirEntry, name: String) -> Result<(), PluginError> {
        if !name.starts_with(self.prefix) || self.start_after.is_some_and(|after| *name <= *after) {
            return Ok(());
        }
        if self.page.len() == PAGE && self.page.last().is_some_and(|last| name >= last.0) {
            return Ok(());
        }
        let size = match entry.metadata() {
            Ok(meta) => meta.len(),
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(io_error(&name, &e)),
        };
        self.page.insert((name, size));
        if self.page.len() > PAGE {
            self.page.pop_last();
        }
        Ok(())
    }
}

/// Whether names below directory `dir` can start with `prefix`.
fn could_hold(dir: &str, prefix: &str) -> bool {
    let below = format!("{dir}/");
    below.starts_with(prefix) || prefix.starts_with(&below)
}

/// Creates a new temporary file in `dir` named after `leaf`, trying further
/// numbers while a concurrent call holds one.
fn create_temp(dir: &Path, leaf: &str) -> io::Result<(PathBuf, File)> {
    for n in 0u32.. {
        let path = dir.join(format!(".{leaf}.{n}{TEMP_SUFFIX}"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free temporary name"))
}

/// Copies exactly `size` bytes from `source` into `file`.
fn write_exact(
    name: &str,
    size: u64,
    source: &impl HostSource,
    file: &mut File,
) -> Result<(), PluginError> {
    let mut written = 0u64;
    loop {
        let data = source.read(CHUNK as u32)?;
        if data.is_empty() {
            break;
        }
        written += data.len() as u64;
        if written > size {
            break;
        }
        file.write_all(&data).map_err(|e| io_error(name, &e))?;
    }
    if written != size {
        return Err(PluginError::InvalidData(format!(
            "{name}: the source delivered {}{written} bytes, but {size} were declared",
            if written > size { "at least " } else { "" }
        )));
    }
    Ok(())
}

fn is_missing(e: &io::Error) -> bool {
    // A name below a file (`a/b` where `a` is an object) is missing too.
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn not_found(name: &str) -> PluginError {
    PluginError::NotFound(name.to_owned())
}

fn out_of_range(name: &str, offset: u64, length: u64, size: u64) -> PluginError {
    PluginError::InvalidData(format!(
        "{name}: range {offset}+{length} lies outside the object's {size} bytes"
    ))
}

fn io_error(name: &str, e: &io::Error) -> PluginError {
    PluginError::Io(format!("{name}: {e}"))
}

fn invalid_config(root: &str, why: &str) -> PluginError {
    PluginError::InvalidConfig(format!("the store directory {root} {why}"))
}
