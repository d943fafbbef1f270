//! What the flows need from the host, as traits: the archive resources,
//! logging, status messages and progress. The guest implementations forward
//! to the generated bindings; tests use in-memory fakes.

use crate::PluginError;
use crate::bindings::drhost::plugin::archive::{ArchiveReader, ArchiveWriter, EntryMeta};
use crate::bindings::drhost::plugin::host::{self, LogLevel};
use crate::bindings::drhost::plugin::report;

/// Where backup entries go (the host's `archive-writer`).
pub trait EntrySink {
    fn begin_entry(&self, meta: &EntryMeta) -> Result<(), PluginError>;
    fn write(&self, data: &[u8]) -> Result<(), PluginError>;
    fn end_entry(&self) -> Result<(), PluginError>;
}

/// Where restored entries come from (the host's `archive-reader`).
pub trait EntrySource {
    fn next_entry(&self) -> Result<Option<EntryMeta>, PluginError>;
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError>;
}

/// Host services besides the archive.
pub trait Host {
    fn log(&self, level: LogLevel, message: &str);
    fn message(&self, code: u32, text: &str);
    fn progress(&self, bytes: u64, items: u64);
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
}
