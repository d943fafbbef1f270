//! Native round trips of backup and restore through an in-memory archive.

use std::cell::{Cell, RefCell};
use std::fs::{self, File};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::SystemTime;

use guest_sdk::{EntryKind, EntryMeta, EntrySink, EntrySource, Host, LogLevel};
use plugin_util::mtime;

use crate::hook::FileHook;
use crate::{PluginError, backup, restore};

type Entry = (EntryMeta, Vec<u8>);

#[derive(Default)]
struct MemWriter {
    entries: RefCell<Vec<Entry>>,
    open: Cell<bool>,
    writes: Cell<usize>,
    /// Files (metadata and size) the "previous backup" holds unchanged.
    unchanged: RefCell<Vec<(EntryMeta, u64)>>,
    /// Paths taken over through `reuse_unchanged`.
    reused: RefCell<Vec<String>>,
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
        assert!(matches!(meta.kind, EntryKind::File));
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

struct MemReader {
    entries: Vec<Entry>,
    next: Cell<usize>,
    offset: Cell<usize>,
}

impl MemReader {
    fn new(entries: Vec<Entry>) -> Self {
        Self {
            entries,
            next: Cell::new(0),
            offset: Cell::new(0),
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
        let content = &self.entries[self.next.get() - 1].1;
        let start = self.offset.get();
        let end = content.len().min(start + max as usize);
        self.offset.set(end);
        Ok(content[start..end].to_vec())
    }
}

#[derive(Default)]
struct UnixHost {
    reports: RefCell<Vec<(u64, u64)>>,
    warnings: RefCell<Vec<String>>,
}

impl Host for UnixHost {
    fn mode(&self, path: &str) -> Result<u32, PluginError> {
        let meta = fs::symlink_metadata(path).map_err(|e| PluginError::Io(e.to_string()))?;
        Ok(meta.permissions().mode() & 0o7777)
    }
    fn set_mode(&self, path: &str, mode: u32) -> Result<(), PluginError> {
        let meta = fs::symlink_metadata(path).map_err(|e| PluginError::Io(e.to_string()))?;
        if meta.file_type().is_symlink() {
            return Err(PluginError::Denied("symlink".into()));
        }
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| PluginError::Io(e.to_string()))
    }
    fn progress(&self, bytes: u64, items: u64) {
        self.reports.borrow_mut().push((bytes, items));
    }
    fn log(&self, level: LogLevel, message: &str) {
        if matches!(level, LogLevel::Warn) {
            self.warnings.borrow_mut().push(message.to_owned());
        }
    }
    fn message(&self, _: u32, _: &str) {}
}

/// Records (path, content) of every file as the hook sees it.
#[derive(Default)]
struct Recorder {
    current: Option<(String, Vec<u8>)>,
    files: Vec<(String, Vec<u8>)>,
}

impl FileHook for Recorder {
    fn begin(&mut self, path: &str) {
        self.current = Some((path.to_owned(), Vec::new()));
    }
    fn chunk(&mut self, data: &[u8]) {
        self.current.as_mut().unwrap().1.extend_from_slice(data);
    }
    fn end(&mut self) {
        self.files.push(self.current.take().unwrap());
    }
}

fn set_mtime(path: &Path, seconds: i64, nanos: u32) {
    let time = mtime::from_parts(seconds, nanos).unwrap();
    File::open(path).unwrap().set_modified(time).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn big_content() -> Vec<u8> {
    (0..(3 << 20) + 12_345u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// A tree with every entry kind, odd modes and explicit times; directory
/// times are set last, as creating children changes them.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/app")).unwrap();
    fs::create_dir_all(root.join("var/empty")).unwrap();
    fs::create_dir(root.join("a-b")).unwrap();
    fs::write(root.join("etc/app/app.conf"), b"key = value\n").unwrap();
    fs::write(root.join("etc/app/empty"), b"").unwrap();
    fs::write(root.join("big.bin"), big_content()).unwrap();
    fs::write(root.join("a-b/x"), b"dash").unwrap();
    fs::write(root.join("secret"), b"s3cr3t").unwrap();
    symlink("app/app.conf", root.join("etc/current")).unwrap();
    symlink("/nowhere/at/all", root.join("dangling")).unwrap();
    chmod(&root.join("secret"), 0o600);
    chmod(&root.join("etc/app/app.conf"), 0o4751);
    chmod(&root.join("var/empty"), 0o700);
    for (i, file) in [
        "etc/app/app.conf",
        "etc/app/empty",
        "big.bin",
        "a-b/x",
        "secret",
    ]
    .iter()
    .enumerate()
    {
        set_mtime(&root.join(file), 1_600_000_000 + i as i64, 123_456_789);
    }
    for (i, dir) in ["etc/app", "etc", "var/empty", "var", "a-b"]
        .iter()
        .enumerate()
    {
        set_mtime(&root.join(dir), 1_500_000_000 + i as i64, 987_654_321);
    }
}

/// What a restore must reproduce of one entry.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Node {
    path: String,
    kind: &'static str,
    mode: u32,
    mtime: Option<SystemTime>,
    /// File content, or symlink target.
    data: Vec<u8>,
}

/// Every entry below `root`, sorted by path.
fn snapshot(root: &Path) -> Vec<Node> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let (kind, mtime, data) = if meta.is_dir() {
                stack.push(path.clone());
                ("dir", Some(meta.modified().unwrap()), Vec::new())
            } else if meta.file_type().is_symlink() {
                // Native restores cannot set symlink times; WASI ones can.
                let target = fs::read_link(&path).unwrap();
                ("link", None, target.to_str().unwrap().as_bytes().to_vec())
            } else {
                (
                    "file",
                    Some(meta.modified().unwrap()),
                    fs::read(&path).unwrap(),
                )
            };
            out.push(Node {
                path: path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned(),
                kind,
                mode: meta.permissions().mode() & 0o7777,
                mtime,
                data,
            });
        }
    }
    out.sort();
    out
}

fn meta(path: &str, kind: EntryKind) -> EntryMeta {
    EntryMeta {
        path: path.into(),
        kind,
        mode: 0o644,
        mtime_seconds: 1_700_000_000,
        mtime_nanoseconds: 0,
        link_target: None,
        attributes: Vec::new(),
    }
}

fn restore_entries(root: &Path, entries: Vec<Entry>) -> Result<(), PluginError> {
    let reader = MemReader::new(entries);
    let root = root.to_str().unwrap();
    restore::restore(root, &reader, &UnixHost::default(), &mut ()).map(|_| ())
}

#[test]
fn backup_then_restore_reproduces_the_tree() {
    let source = tempfile::tempdir().unwrap();
    make_tree(source.path());
    let writer = MemWriter::default();
    let host = UnixHost::default();
    let mut seen = Recorder::default();
    let totals =
        backup::backup(source.path().to_str().unwrap(), &writer, &host, &mut seen).unwrap();
    let entries = writer.entries.into_inner();

    let paths: Vec<&str> = entries.iter().map(|(m, _)| m.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "a-b",
            "a-b/x",
            "big.bin",
            "dangling",
            "etc",
            "etc/app",
            "etc/app/app.conf",
            "etc/app/empty",
            "etc/current",
            "secret",
            "var",
            "var/empty",
        ]
    );
    assert_eq!(totals.items, 12);
    assert_eq!(totals.bytes, (3 << 20) + 12_345 + 12 + 4 + 6);
    assert_eq!(
        writer.writes.get(),
        4 + 1 + 1 + 1,
        "big file in 1 MiB chunks"
    );
    assert_eq!(host.reports.borrow().last(), Some(&(totals.bytes, 12)));
    let conf = &entries[6].0;
    assert_eq!(
        (conf.mode, conf.mtime_seconds, conf.mtime_nanoseconds),
        (0o4751, 1_600_000_000, 123_456_789)
    );
    assert_eq!(entries[8].0.link_target.as_deref(), Some("app/app.conf"));
    assert_eq!(seen.files.len(), 5);
    assert_eq!(seen.files[1], ("big.bin".to_owned(), big_content()));

    let target = tempfile::tempdir().unwrap();
    let mut restored = Recorder::default();
    let host = UnixHost::default();
    let reader = MemReader::new(entries);
    let totals_back = restore::restore(
        target.path().to_str().unwrap(),
        &reader,
        &host,
        &mut restored,
    )
    .unwrap();
    assert_eq!(
        (totals_back.items, totals_back.bytes),
        (totals.items, totals.bytes)
    );
    assert_eq!(restored.files, seen.files);
    assert_eq!(snapshot(target.path()), snapshot(source.path()));
}

#[test]
fn restore_replaces_existing_files_and_links() {
    let target = tempfile::tempdir().unwrap();
    fs::write(target.path().join("f"), b"old content that is longer").unwrap();
    chmod(&target.path().join("f"), 0o400);
    fs::write(target.path().join("victim"), b"keep").unwrap();
    symlink("victim", target.path().join("l")).unwrap();
    let mut link = meta("f", EntryKind::Symlink);
    link.link_target = Some("elsewhere".into());
    restore_entries(
        target.path(),
        vec![
            (meta("l", EntryKind::File), b"new".to_vec()),
            (link, Vec::new()),
        ],
    )
    .unwrap();
    assert_eq!(fs::read(target.path().join("l")).unwrap(), b"new");
    assert_eq!(fs::read(target.path().join("victim")).unwrap(), b"keep");
    assert_eq!(
        fs::read_link(target.path().join("f")).unwrap(),
        Path::new("elsewhere")
    );
}

#[test]
fn restore_refuses_bad_paths() {
    for bad in ["../escape", "/abs", "a/./b", "a//b", "", "a\0b"] {
        let target = tempfile::tempdir().unwrap();
        let err = restore_entries(target.path(), vec![(meta(bad, EntryKind::File), vec![1])]);
        assert!(
            matches!(err, Err(PluginError::InvalidData(_))),
            "{bad:?}: {err:?}"
        );
    }
}

#[test]
fn restore_never_writes_through_a_restored_symlink() {
    let target = tempfile::tempdir().unwrap();
    fs::create_dir(target.path().join("real")).unwrap();
    let mut link = meta("l", EntryKind::Symlink);
    link.link_target = Some("real".into());
    let err = restore_entries(
        target.path(),
        vec![
            (link, Vec::new()),
            (meta("l/x", EntryKind::File), b"x".to_vec()),
        ],
    );
    assert!(matches!(err, Err(PluginError::InvalidData(_))), "{err:?}");
    assert!(!target.path().join("real/x").exists());
}

#[test]
fn restore_refuses_symlinks_without_target_and_bad_times() {
    let target = tempfile::tempdir().unwrap();
    let err = restore_entries(
        target.path(),
        vec![(meta("l", EntryKind::Symlink), Vec::new())],
    );
    assert!(matches!(err, Err(PluginError::InvalidData(_))), "{err:?}");
    let mut late = meta("f", EntryKind::File);
    late.mtime_nanoseconds = 1_000_000_000;
    let err = restore_entries(target.path(), vec![(late, Vec::new())]);
    assert!(matches!(err, Err(PluginError::InvalidData(_))), "{err:?}");
}

#[test]
fn restore_creates_missing_parents_and_keeps_directory_times() {
    let target = tempfile::tempdir().unwrap();
    let mut dir = meta("d", EntryKind::Directory);
    dir.mode = 0o750;
    dir.mtime_seconds = 1_000_000_000;
    restore_entries(
        target.path(),
        vec![
            (dir, Vec::new()),
            (meta("d/e/f/file", EntryKind::File), b"deep".to_vec()),
        ],
    )
    .unwrap();
    let d = fs::metadata(target.path().join("d")).unwrap();
    assert_eq!(d.permissions().mode() & 0o7777, 0o750);
    assert_eq!(mtime::to_parts(d.modified().unwrap()), (1_000_000_000, 0));
    assert_eq!(fs::read(target.path().join("d/e/f/file")).unwrap(), b"deep");
}

#[test]
fn backup_of_a_missing_root_names_it() {
    let err = backup::backup(
        "/definitely/not/here",
        &MemWriter::default(),
        &UnixHost::default(),
        &mut (),
    );
    match err {
        Err(PluginError::Io(text)) => assert!(text.starts_with("/definitely/not/here: "), "{text}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn progress_is_throttled() {
    let source = tempfile::tempdir().unwrap();
    for i in 0..600 {
        fs::write(source.path().join(format!("f{i:04}")), b"x").unwrap();
    }
    let host = UnixHost::default();
    backup::backup(
        source.path().to_str().unwrap(),
        &MemWriter::default(),
        &host,
        &mut (),
    )
    .unwrap();
    assert_eq!(*host.reports.borrow(), [(256, 256), (512, 512), (600, 600)]);
}

#[test]
fn unchanged_files_are_taken_over_unless_the_hook_needs_every_file() {
    let source = tempfile::tempdir().unwrap();
    make_tree(source.path());
    let root = source.path().to_str().unwrap();
    let first = MemWriter::default();
    backup::backup(root, &first, &UnixHost::default(), &mut ()).unwrap();
    let previous: Vec<(EntryMeta, u64)> = first
        .entries
        .into_inner()
        .into_iter()
        .filter(|(m, _)| matches!(m.kind, EntryKind::File))
        .map(|(m, content)| (m, content.len() as u64))
        .collect();
    assert_eq!(previous.len(), 5);

    // One file changes; the others are taken over without being read.
    fs::write(source.path().join("etc/app/app.conf"), b"changed").unwrap();
    let second = MemWriter {
        unchanged: RefCell::new(previous.clone()),
        ..MemWriter::default()
    };
    let totals = backup::backup(root, &second, &UnixHost::default(), &mut ()).unwrap();
    let mut reused = second.reused.borrow().clone();
    reused.sort();
    assert_eq!(reused, ["a-b/x", "big.bin", "etc/app/empty", "secret"]);
    let written: Vec<String> = second
        .entries
        .borrow()
        .iter()
        .filter(|(m, _)| matches!(m.kind, EntryKind::File))
        .map(|(m, _)| m.path.clone())
        .collect();
    assert_eq!(written, ["etc/app/app.conf"]);
    assert_eq!(totals.items, 12, "taken-over files still count");
    assert_eq!(totals.bytes, (3 << 20) + 12_345 + 7 + 4 + 6);

    // A hook that must see every file (config-fs's digests) disables it.
    let third = MemWriter {
        unchanged: RefCell::new(previous),
        ..MemWriter::default()
    };
    let mut seen = Recorder::default();
    backup::backup(root, &third, &UnixHost::default(), &mut seen).unwrap();
    assert!(third.reused.borrow().is_empty());
    assert_eq!(seen.files.len(), 5);
}
