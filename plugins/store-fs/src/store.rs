//! The store's operations on the directory tree below its root. Object
//! contents move through the [`Source`]/[`Sink`] traits so they can be
//! exercised natively with in-memory streams.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Seek, SeekFrom, Write};

use plugin_util::CHUNK;
use plugin_util::guest_path::join;

use crate::bindings::drhost::plugin::types::PluginError;
use crate::bindings::exports::drhost::plugin::store_adapter::ObjectInfo;
use crate::durable;
use crate::listing::{self, PAGE};
use crate::name;

/// Bytes handed to `put` (the host's `byte-source`).
pub trait Source {
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError>;
}

/// Bytes returned by `get` (the host's `byte-sink`).
pub trait Sink {
    fn write(&self, data: &[u8]) -> Result<(), PluginError>;
}

/// File below the root where a write-once store records every delete it was
/// asked for (one object name a line). A reserved name, never an object's
/// and never listed: it is evidence for the operator that the host kept its
/// promise never to delete from an append-only store.
pub const DELETE_LOG: &str = name::DELETE_LOG;

/// A store rooted at a guest directory.
pub struct Store<'a> {
    pub root: &'a str,
    /// Write-once: `put` refuses existing names, `delete` is refused.
    pub append_only: bool,
}

impl Store<'_> {
    pub fn put(&self, name: &str, size: u64, source: &impl Source) -> Result<(), PluginError> {
        checked(name)?;
        // Checked before writing (the host runs one job at a time), so an
        // existing object is never replaced, even by identical bytes.
        if self.append_only && self.stat(name)?.is_some() {
            return Err(PluginError::Denied(format!(
                "{name} exists and this store is append-only: objects are never replaced"
            )));
        }
        let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
        let (temp, mut file) =
            durable::create_temp(self.root, dir).map_err(|e| self.io(dir, &e))?;
        let written = copy_exact(source, &mut file, size).map_err(|e| self.error(name, e))?;
        if written != size {
            return Err(PluginError::InvalidData(format!(
                "{name}: the source delivered {written} bytes, but {size} were declared"
            )));
        }
        temp.commit(file, &join(self.root, name))
            .map_err(|e| self.io(name, &e))
    }

    pub fn get(
        &self,
        name: &str,
        offset: u64,
        length: Option<u64>,
        sink: &impl Sink,
    ) -> Result<(), PluginError> {
        checked(name)?;
        let path = join(self.root, name);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if is_missing(&e) => return Err(not_found(name)),
            Err(e) => return Err(self.io(name, &e)),
        };
        let meta = file.metadata().map_err(|e| self.io(name, &e))?;
        if !meta.is_file() {
            return Err(not_found(name));
        }
        let size = meta.len();
        let end = length.map_or(Some(size), |length| offset.checked_add(length));
        let Some(end) = end.filter(|&end| offset <= end && end <= size) else {
            let length = length.map_or_else(|| "to the end".into(), |l| l.to_string());
            return Err(PluginError::InvalidData(format!(
                "{name}: range at offset {offset}, length {length}, exceeds its {size} bytes"
            )));
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| self.io(name, &e))?;
        send(&mut file, end - offset, sink).map_err(|e| self.error(name, e))
    }

    pub fn stat(&self, name: &str) -> Result<Option<ObjectInfo>, PluginError> {
        checked(name)?;
        match fs::symlink_metadata(join(self.root, name)) {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectInfo {
                name: name.to_owned(),
                size: meta.len(),
            })),
            Ok(_) => Ok(None),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(self.io(name, &e)),
        }
    }

    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, PluginError> {
        let listed =
            listing::list(self.root, prefix, start_after, PAGE).map_err(|e| self.io(prefix, &e))?;
        Ok(listed
            .into_iter()
            .map(|(name, size)| ObjectInfo { name, size })
            .collect())
    }

    /// Removes `name` and then the directories it leaves empty, so deleted
    /// packs do not leave a trail of empty directories behind.
    pub fn delete(&self, name: &str) -> Result<(), PluginError> {
        checked(name)?;
        if self.append_only {
            self.record_refused_delete(name)?;
            return Err(PluginError::Denied(format!(
                "{name}: this store is append-only and never deletes"
            )));
        }
        match fs::remove_file(join(self.root, name)) {
            Ok(()) => {}
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(self.io(name, &e)),
        }
        let mut dir = name;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            // Best effort: a non-empty directory (or a concurrent `put`
            // filling it) simply ends the pruning.
            if fs::remove_dir(join(self.root, parent)).is_err() {
                break;
            }
            dir = parent;
        }
        Ok(())
    }

    fn record_refused_delete(&self, name: &str) -> Result<(), PluginError> {
        let path = join(self.root, DELETE_LOG);
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| self.io(DELETE_LOG, &e))?;
        writeln!(log, "{name}").map_err(|e| self.io(DELETE_LOG, &e))
    }

    /// Checks that the root is a directory this plugin can create files in.
    pub fn probe(&self) -> Result<(), PluginError> {
        match fs::metadata(self.root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(PluginError::InvalidConfig(format!(
                    "`root` {} is not a directory",
                    self.root
                )));
            }
            Err(e) => {
                return Err(PluginError::InvalidConfig(format!(
                    "`root` {}: {e} (is it granted to this plugin?)",
                    self.root
                )));
            }
        }
        let (temp, file) = durable::create_temp(self.root, "")
            .map_err(|e| PluginError::Io(format!("`root` {} is not writable: {e}", self.root)))?;
        temp.discard(file).map_err(|e| self.io("", &e))
    }

    fn io(&self, name: &str, error: &io::Error) -> PluginError {
        PluginError::Io(plugin_util::io_message(&join(self.root, name), error))
    }

    fn error(&self, name: &str, error: CopyError) -> PluginError {
        match error {
            CopyError::Io(e) => self.io(name, &e),
            CopyError::Plugin(e) => e,
        }
    }
}

/// A failure while moving bytes: on our side of the stream, or the host's.
enum CopyError {
    Io(io::Error),
    Plugin(PluginError),
}

impl From<io::Error> for CopyError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<PluginError> for CopyError {
    fn from(e: PluginError) -> Self {
        Self::Plugin(e)
    }
}

fn checked(name: &str) -> Result<(), PluginError> {
    name::validate(name).map_err(PluginError::InvalidData)
}

fn not_found(name: &str) -> PluginError {
    PluginError::NotFound(format!("no object {name:?}"))
}

/// Not there, including "a parent is a file" (`packs` a file, `packs/x` asked).
fn is_missing(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

/// Writes the source's bytes to `file`, stopping as soon as they exceed
/// `size` so a lying source cannot fill the disk. Returns the bytes written.
fn copy_exact(source: &impl Source, file: &mut File, size: u64) -> Result<u64, CopyError> {
    let mut written: u64 = 0;
    loop {
        let chunk = source.read(CHUNK as u32)?;
        if chunk.is_empty() {
            return Ok(written);
        }
        written = written.saturating_add(chunk.len() as u64);
        if written > size {
            return Ok(written);
        }
        file.write_all(&chunk)?;
    }
}

/// Streams `remaining` bytes from `file` to `sink` in chunks of up to 1 MiB.
fn send(file: &mut File, mut remaining: u64, sink: &impl Sink) -> Result<(), CopyError> {
    let mut buf = vec![0; CHUNK.min(usize::try_from(remaining).unwrap_or(CHUNK))];
    while remaining > 0 {
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(buf.len()));
        let n = plugin_util::read_full(file, &mut buf[..want])?;
        if n == 0 {
            return Err(
                io::Error::new(ErrorKind::UnexpectedEof, "object shrank while being read").into(),
            );
        }
        sink.write(&buf[..n])?;
        remaining -= n as u64;
    }
    Ok(())
}
