//! The host's `posix-fs` interface as a trait: exact filesystem access by
//! byte paths (names that are not UTF-8, owners, hard links, special files,
//! absolute symlink targets), which WASI 0.2 filesystems cannot give.
//! [`GuestFs`] forwards to the bindings; natively, `native::NativeFs` does
//! the same with std and libc, so plugin logic is tested against real
//! directories.

use crate::PluginError;
use crate::bindings::drhost::plugin::posix_fs::{self, Applied, File, FileStat, MetadataUpdate};

/// An open regular file (the host's `posix-fs.file`).
pub trait PosixFile {
    /// Up to `max` bytes from the current position; empty at the end.
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError>;
    /// Writes `data` at `offset` (at most 4 MiB per call).
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), PluginError>;
    /// Truncates or extends (with a hole) to `size` bytes.
    fn set_size(&self, size: u64) -> Result<(), PluginError>;
    /// Flushes the file's data to stable storage.
    fn sync(&self) -> Result<(), PluginError>;
    /// The host's file resource behind this one, if there is one: what
    /// [`crate::EntrySource::copy_to_file`] hands the host.
    fn as_host_file(&self) -> Option<&File> {
        None
    }
}

/// Filesystem access by guest byte paths; no function follows a final
/// symlink. The contract's `posix-fs` documents each function.
pub trait PosixFs {
    type File: PosixFile;

    fn stat(&self, path: &[u8]) -> Result<FileStat, PluginError>;
    fn read_dir(&self, path: &[u8]) -> Result<Vec<Vec<u8>>, PluginError>;
    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, PluginError>;
    fn open_read(&self, path: &[u8]) -> Result<Self::File, PluginError>;
    /// Creates `path`, which must not exist, mode 0600, for writing.
    fn create_file(&self, path: &[u8]) -> Result<Self::File, PluginError>;
    /// Creates directory `path`, owner-only until [`PosixFs::set_metadata`].
    fn create_dir(&self, path: &[u8]) -> Result<(), PluginError>;
    fn symlink(&self, target: &[u8], path: &[u8]) -> Result<(), PluginError>;
    fn hard_link(&self, existing: &[u8], path: &[u8]) -> Result<(), PluginError>;
    /// Atomically replaces a file or symlink at `destination`.
    fn rename(&self, source: &[u8], destination: &[u8]) -> Result<(), PluginError>;
    fn remove_file(&self, path: &[u8]) -> Result<(), PluginError>;
    /// Mode (ignored on symlinks), owner and modification time; the host
    /// applies its owner policy and says what it left out.
    fn set_metadata(&self, path: &[u8], update: &MetadataUpdate) -> Result<Applied, PluginError>;
}

/// The real filesystem, through the `posix-fs` import.
pub struct GuestFs;

impl PosixFile for File {
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        File::read(self, max)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), PluginError> {
        File::write_at(self, offset, data)
    }
    fn set_size(&self, size: u64) -> Result<(), PluginError> {
        File::set_size(self, size)
    }
    fn sync(&self) -> Result<(), PluginError> {
        File::sync(self)
    }
    fn as_host_file(&self) -> Option<&File> {
        Some(self)
    }
}

impl PosixFs for GuestFs {
    type File = File;

    fn stat(&self, path: &[u8]) -> Result<FileStat, PluginError> {
        posix_fs::stat(path)
    }
    fn read_dir(&self, path: &[u8]) -> Result<Vec<Vec<u8>>, PluginError> {
        posix_fs::read_dir(path)
    }
    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, PluginError> {
        posix_fs::read_link(path)
    }
    fn open_read(&self, path: &[u8]) -> Result<File, PluginError> {
        posix_fs::open_read(path)
    }
    fn create_file(&self, path: &[u8]) -> Result<File, PluginError> {
        posix_fs::create_file(path)
    }
    fn create_dir(&self, path: &[u8]) -> Result<(), PluginError> {
        posix_fs::create_dir(path)
    }
    fn symlink(&self, target: &[u8], path: &[u8]) -> Result<(), PluginError> {
        posix_fs::symlink(target, path)
    }
    fn hard_link(&self, existing: &[u8], path: &[u8]) -> Result<(), PluginError> {
        posix_fs::hard_link(existing, path)
    }
    fn rename(&self, source: &[u8], destination: &[u8]) -> Result<(), PluginError> {
        posix_fs::rename(source, destination)
    }
    fn remove_file(&self, path: &[u8]) -> Result<(), PluginError> {
        posix_fs::remove_file(path)
    }
    fn set_metadata(&self, path: &[u8], update: &MetadataUpdate) -> Result<Applied, PluginError> {
        posix_fs::set_metadata(path, update)
    }
}
