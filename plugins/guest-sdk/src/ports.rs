//! What plugin logic needs from the host besides the filesystem, as traits:
//! the archive resources, logging, status messages, progress and entries
//! left out, and a store adapter's object streams. The guest implementations forward to the generated bindings;
//! tests substitute in-memory ones. The filesystem is [`crate::PosixFs`].

use crate::bindings::drhost::plugin::archive::{ArchiveReader, ArchiveWriter, EntryMeta};
use crate::bindings::drhost::plugin::content::{self, ContentDigest};
use crate::bindings::drhost::plugin::host::{self, LogLevel};
use crate::bindings::drhost::plugin::streams::{ByteSink, ByteSource};
use crate::bindings::drhost::plugin::{archive_reuse, report};
use crate::{PluginError, PosixFile};

/// Where backup entries go (the host's `archive-writer`).
pub trait EntrySink {
    fn begin_entry(&self, meta: &EntryMeta) -> Result<(), PluginError>;
    fn write(&self, data: &[u8]) -> Result<(), PluginError>;
    fn end_entry(&self) -> Result<(), PluginError>;
    /// Adds `meta` (a file of `size` bytes) with the content it had in the
    /// previous backup, if it is unchanged; `false`: write it as usual.
    /// Optional (`archive-reuse`): by default nothing is ever reused.
    fn reuse_unchanged(&self, _meta: &EntryMeta, _size: u64) -> Result<bool, PluginError> {
        Ok(false)
    }
    /// Asks for the SHA-256 of the current file entry's content as it is
    /// written (`content.hash-entry`): call after `begin_entry`, before the
    /// first `write`. A sink that cannot hash (by default) says so.
    fn hash_entry(&self) -> Result<(), PluginError> {
        Err(no_hashing())
    }
    /// Size and SHA-256 of the current entry's content (`content.entry-digest`):
    /// call before `end_entry`.
    fn entry_digest(&self) -> Result<ContentDigest, PluginError> {
        Err(no_hashing())
    }
    /// Appends the rest of `file` to the current entry and returns its
    /// length (`content.copy-from-file`). By default the bytes go through
    /// the guest; the host's writer reads them itself.
    fn copy_from_file(&self, file: &impl PosixFile) -> Result<u64, PluginError> {
        crate::content::append_file(self, file, |_| {})
    }
}

fn no_hashing() -> PluginError {
    PluginError::Other("this archive does not hash content".into())
}

/// Where restored entries come from (the host's `archive-reader`).
pub trait EntrySource {
    fn next_entry(&self) -> Result<Option<EntryMeta>, PluginError>;
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError>;
    /// Writes the current entry's content into `file`, sparse, sets its size
    /// and returns its size and, if asked, SHA-256 (`content.copy-to-file`).
    /// Call after `next_entry`, before any `read`. By default the bytes go
    /// through the guest ([`crate::content::copy_hashed`]); the host's
    /// reader does it without them crossing into the sandbox.
    fn copy_to_file(
        &self,
        file: &impl PosixFile,
        sha256: bool,
    ) -> Result<ContentDigest, PluginError> {
        crate::content::copy_hashed(self, file, sha256)
    }
}

/// The bytes of an object being stored (a store adapter's `byte-source`).
pub trait HostSource {
    /// Up to `max` bytes; empty at the end.
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError>;
}

/// Where an object being read goes (a store adapter's `byte-sink`).
pub trait HostSink {
    fn write(&self, data: &[u8]) -> Result<(), PluginError>;
}

impl HostSource for ByteSource {
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        ByteSource::read(self, max)
    }
}

impl HostSink for ByteSink {
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        ByteSink::write(self, data)
    }
}

/// Host services besides the archive and the filesystem.
pub trait Host {
    fn log(&self, level: LogLevel, message: &str);
    /// A status message with a stage-specific code.
    fn message(&self, code: u32, text: &str);
    /// Total work done so far (monotonic).
    fn progress(&self, bytes: u64, items: u64);
    /// An entry left out of the backup or restore (`path` relative to the
    /// stage's root); the job ends with warnings naming it.
    fn skipped(&self, path: &[u8], reason: &str);

    /// A warning log line.
    fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }
}

impl EntrySink for ArchiveWriter {
    fn begin_entry(&self, meta: &EntryMeta) -> Result<(), PluginError> {
        ArchiveWriter::begin_entry(self, meta)
    }
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        ArchiveWriter::write(self, data)
    }
    fn end_entry(&self) -> Result<(), PluginError> {
        ArchiveWriter::end_entry(self)
    }
    fn reuse_unchanged(&self, meta: &EntryMeta, size: u64) -> Result<bool, PluginError> {
        archive_reuse::reuse_unchanged(self, meta, size)
    }
    fn hash_entry(&self) -> Result<(), PluginError> {
        content::hash_entry(self)
    }
    fn entry_digest(&self) -> Result<ContentDigest, PluginError> {
        content::entry_digest(self)
    }
    fn copy_from_file(&self, file: &impl PosixFile) -> Result<u64, PluginError> {
        match file.as_host_file() {
            Some(host_file) => content::copy_from_file(self, host_file),
            None => crate::content::append_file(self, file, |_| {}),
        }
    }
}

impl EntrySource for ArchiveReader {
    fn next_entry(&self) -> Result<Option<EntryMeta>, PluginError> {
        ArchiveReader::next_entry(self)
    }
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        ArchiveReader::read(self, max)
    }
    fn copy_to_file(
        &self,
        file: &impl PosixFile,
        sha256: bool,
    ) -> Result<ContentDigest, PluginError> {
        match file.as_host_file() {
            Some(host_file) => content::copy_to_file(self, host_file, sha256),
            None => crate::content::copy_hashed(self, file, sha256),
        }
    }
}

/// The real host, through the `host` and `report` imports.
pub struct GuestHost;

impl Host for GuestHost {
    fn log(&self, level: LogLevel, message: &str) {
        host::log(level, message);
    }
    fn message(&self, code: u32, text: &str) {
        report::message(code, text);
    }
    fn progress(&self, bytes: u64, items: u64) {
        report::progress(bytes, items);
    }
    fn skipped(&self, path: &[u8], reason: &str) {
        report::skipped(path, reason);
    }
}
