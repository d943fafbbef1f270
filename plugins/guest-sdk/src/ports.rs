//! What plugin logic needs from the host besides the filesystem, as traits:
//! the archive resources, logging, status messages, progress and entries
//! left out, and a store adapter's object streams. The guest implementations forward to the generated bindings;
//! tests substitute in-memory ones. The filesystem is [`crate::PosixFs`].

use crate::PluginError;
use crate::bindings::drhost::plugin::archive::{ArchiveReader, ArchiveWriter, EntryMeta};
use crate::bindings::drhost::plugin::host::{self, LogLevel};
use crate::bindings::drhost::plugin::streams::{ByteSink, ByteSource};
use crate::bindings::drhost::plugin::{archive_reuse, report};

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
}

/// Where restored entries come from (the host's `archive-reader`).
pub trait EntrySource {
    fn next_entry(&self) -> Result<Option<EntryMeta>, PluginError>;
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError>;
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
}

impl EntrySource for ArchiveReader {
    fn next_entry(&self) -> Result<Option<EntryMeta>, PluginError> {
        ArchiveReader::next_entry(self)
    }
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        ArchiveReader::read(self, max)
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
