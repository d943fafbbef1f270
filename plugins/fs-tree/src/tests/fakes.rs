//! In-memory archive and host, a recording file hook, and a filesystem on
//! which chosen paths vanish.

use std::cell::{Cell, RefCell};

use guest_sdk::native::{NativeFile, NativeFs};
use guest_sdk::{
    Applied, EntryKind, EntryMeta, EntrySink, EntrySource, FileStat, Host, LogLevel,
    MetadataUpdate, PluginError, PosixFs,
};

use crate::hook::FileHook;

pub type Entry = (EntryMeta, Vec<u8>);

#[derive(Default)]
pub struct MemWriter {
    pub entries: RefCell<Vec<Entry>>,
    open: Cell<bool>,
    pub writes: Cell<usize>,
    /// Files (metadata and size) the "previous backup" holds unchanged.
    pub unchanged: RefCell<Vec<(EntryMeta, u64)>>,
    /// Paths taken over through `reuse_unchanged`.
    pub reused: RefCell<Vec<Vec<u8>>>,
}

impl EntrySink for MemWriter {
    fn begin_entry(&self, meta: &EntryMeta) -> Result<(), PluginError> {
        assert!(!self.open.replace(true), "entry not ended");
        self.entries.borrow_mut().push((meta.clone(), Vec::new()));
        Ok(())
    }
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        assert!(self.open.get());
        assert!(data.len() <= 1 << 20);
        self.writes.set(self.writes.get() + 1);
        let mut entries = self.entries.borrow_mut();
        let (meta, content) = entries.last_mut().unwrap();
        assert_eq!(meta.kind, EntryKind::File);
        content.extend_from_slice(data);
        Ok(())
    }
    fn end_entry(&self) -> Result<(), PluginError> {
        assert!(self.open.replace(false));
        Ok(())
    }
    fn reuse_unchanged(&self, meta: &EntryMeta, size: u64) -> Result<bool, PluginError> {
        assert!(!self.open.get(), "reuse inside an entry");
        let unchanged = self.unchanged.borrow().iter().any(|(m, s)| {
            (&m.path, m.mtime_seconds, m.mtime_nanoseconds, *s)
                == (&meta.path, meta.mtime_seconds, meta.mtime_nanoseconds, size)
        });
        if unchanged {
            self.reused.borrow_mut().push(meta.path.clone());
        }
        Ok(unchanged)
    }
}

impl MemWriter {
    /// A writer whose "previous backup" holds `files` (metadata, size).
    pub fn with_unchanged(files: Vec<(EntryMeta, u64)>) -> Self {
        Self {
            unchanged: RefCell::new(files),
            ..Self::default()
        }
    }

    pub fn into_entries(self) -> Vec<Entry> {
        self.entries.into_inner()
    }
}

/// Entries handed out in order; reading fails once `fail_at` (entry index,
/// content offset) is reached, as a damaged pack does.
pub struct MemReader {
    entries: Vec<Entry>,
    next: Cell<usize>,
    offset: Cell<usize>,
    pub fail_at: Option<(usize, usize)>,
}

impl MemReader {
    pub fn new(entries: Vec<Entry>) -> Self {
        Self {
            entries,
            next: Cell::new(0),
            offset: Cell::new(0),
            fail_at: None,
        }
    }
}

impl EntrySource for MemReader {
    fn next_entry(&self) -> Result<Option<EntryMeta>, PluginError> {
        let i = self.next.get();
        self.next.set(i + 1);
        self.offset.set(0);
        Ok(self.entries.get(i).map(|(m, _)| m.clone()))
    }
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        let index = self.next.get() - 1;
        let content = &self.entries[index].1;
        let start = self.offset.get();
        // Odd piece sizes, as the host's chunks come.
        let end = content.len().min(start + (max as usize).min(300_001));
        if let Some((at, offset)) = self.fail_at
            && at == index
            && end >= offset
        {
            return Err(PluginError::InvalidData(
                "pack 3fa9: authentication failed".into(),
            ));
        }
        self.offset.set(end);
        Ok(content[start..end].to_vec())
    }
}

#[derive(Default)]
pub struct TestHost {
    pub reports: RefCell<Vec<(u64, u64)>>,
    pub warnings: RefCell<Vec<String>>,
    pub infos: RefCell<Vec<String>>,
    pub skipped: RefCell<Vec<(Vec<u8>, String)>>,
}

impl Host for TestHost {
    fn progress(&self, bytes: u64, items: u64) {
        self.reports.borrow_mut().push((bytes, items));
    }
    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Warn | LogLevel::Error => &self.warnings,
            _ => &self.infos,
        }
        .borrow_mut()
        .push(message.to_owned());
    }
    fn message(&self, _: u32, _: &str) {}
    fn skipped(&self, path: &[u8], reason: &str) {
        self.skipped
            .borrow_mut()
            .push((path.to_vec(), reason.to_owned()));
    }
}

/// Records (path, content) of every file as the hook sees it.
#[derive(Default)]
pub struct Recorder {
    current: Option<(Vec<u8>, Vec<u8>)>,
    pub files: Vec<(Vec<u8>, Vec<u8>)>,
}

impl FileHook for Recorder {
    fn begin(&mut self, path: &[u8]) {
        self.current = Some((path.to_vec(), Vec::new()));
    }
    fn chunk(&mut self, data: &[u8]) {
        self.current.as_mut().unwrap().1.extend_from_slice(data);
    }
    fn end(&mut self) {
        self.files.push(self.current.take().unwrap());
    }
}

/// The native filesystem, except that `gone` is reported deleted once its
/// directory has been listed, as in a tree that changes during a backup.
pub struct VanishingFs {
    pub gone: Vec<u8>,
}

impl PosixFs for VanishingFs {
    type File = NativeFile;

    fn stat(&self, path: &[u8]) -> Result<FileStat, PluginError> {
        if path == self.gone.as_slice() {
            return Err(PluginError::NotFound("gone".into()));
        }
        NativeFs.stat(path)
    }
    fn read_dir(&self, path: &[u8]) -> Result<Vec<Vec<u8>>, PluginError> {
        NativeFs.read_dir(path)
    }
    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, PluginError> {
        NativeFs.read_link(path)
    }
    fn open_read(&self, path: &[u8]) -> Result<NativeFile, PluginError> {
        NativeFs.open_read(path)
    }
    fn create_file(&self, path: &[u8]) -> Result<NativeFile, PluginError> {
        NativeFs.create_file(path)
    }
    fn create_dir(&self, path: &[u8]) -> Result<(), PluginError> {
        NativeFs.create_dir(path)
    }
    fn symlink(&self, target: &[u8], path: &[u8]) -> Result<(), PluginError> {
        NativeFs.symlink(target, path)
    }
    fn hard_link(&self, existing: &[u8], path: &[u8]) -> Result<(), PluginError> {
        NativeFs.hard_link(existing, path)
    }
    fn rename(&self, source: &[u8], destination: &[u8]) -> Result<(), PluginError> {
        NativeFs.rename(source, destination)
    }
    fn remove_file(&self, path: &[u8]) -> Result<(), PluginError> {
        NativeFs.remove_file(path)
    }
    fn set_metadata(&self, path: &[u8], update: &MetadataUpdate) -> Result<Applied, PluginError> {
        NativeFs.set_metadata(path, update)
    }
}
