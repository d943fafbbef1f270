//! Backup and restore natively: the real filesystem through
//! `guest_sdk::native::NativeFs` on temporary directories, the archive and
//! the host in memory.

use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use guest_sdk::native::NativeFs;
use guest_sdk::{EntryMeta, EntrySink, EntrySource, Host, LogLevel, PluginError};
use stage_dir_template::{BACKUP_COMPLETED, RESTORE_COMPLETED, backup, restore};

/// An archive in memory: entries with their content.
#[derive(Default)]
struct Archive {
    entries: RefCell<Vec<(EntryMeta, Vec<u8>)>>,
    next: RefCell<usize>,
    offset: RefCell<usize>,
}

impl EntrySink for Archive {
    fn begin_entry(&self, meta: &EntryMeta) -> Result<(), PluginError> {
        self.entries.borrow_mut().push((meta.clone(), Vec::new()));
        Ok(())
    }
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        let mut entries = self.entries.borrow_mut();
        let last = entries.last_mut().expect("an entry was begun");
        last.1.extend_from_slice(data);
        Ok(())
    }
    fn end_entry(&self) -> Result<(), PluginError> {
        Ok(())
    }
}

impl EntrySource for Archive {
    fn next_entry(&self) -> Result<Option<EntryMeta>, PluginError> {
        let mut next = self.next.borrow_mut();
        *self.offset.borrow_mut() = 0;
        let entry = self
            .entries
            .borrow()
            .get(*next)
            .map(|(meta, _)| meta.clone());
        *next += 1;
        Ok(entry)
    }
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        let entries = self.entries.borrow();
        let data = &entries[*self.next.borrow() - 1].1;
        let mut offset = self.offset.borrow_mut();
        let end = data.len().min(*offset + max as usize);
        let chunk = data[*offset..end].to_vec();
        *offset = end;
        Ok(chunk)
    }
}

#[derive(Default)]
struct Recorder {
    messages: RefCell<Vec<u32>>,
    skipped: RefCell<Vec<Vec<u8>>>,
}

impl Host for Recorder {
    fn log(&self, _: LogLevel, _: &str) {}
    fn message(&self, code: u32, _: &str) {
        self.messages.borrow_mut().push(code);
    }
    fn progress(&self, _: u64, _: u64) {}
    fn skipped(&self, path: &[u8], _: &str) {
        self.skipped.borrow_mut().push(path.to_vec());
    }
}

fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join("a/hello.txt"), b"hello\n").unwrap();
    fs::write(root.join("a/b/empty"), b"").unwrap();
    let big: Vec<u8> = (0..(3 << 20) + 7u32).map(|i| (i % 253) as u8).collect();
    fs::write(root.join("big.bin"), big).unwrap();
    symlink("../big.bin", root.join("a/link")).unwrap();
    fs::set_permissions(root.join("a/hello.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(root.join("a/b"), fs::Permissions::from_mode(0o750)).unwrap();
}

/// Relative path → (kind, mode, size, mtime, content or link target).
fn snapshot(root: &Path) -> Vec<(String, String, u32, i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let (kind, body) = if meta.file_type().is_symlink() {
                (
                    "symlink",
                    fs::read_link(&path)
                        .unwrap()
                        .to_string_lossy()
                        .as_bytes()
                        .to_vec(),
                )
            } else if meta.is_dir() {
                stack.push(path.clone());
                ("dir", Vec::new())
            } else {
                ("file", fs::read(&path).unwrap())
            };
            let mode = if kind == "symlink" {
                0
            } else {
                meta.mode() & 0o7777
            };
            out.push((rel, kind.into(), mode, meta.mtime(), body));
        }
    }
    out.sort();
    out
}

#[test]
fn a_tree_comes_back_as_it_was() {
    let source = tempfile::tempdir().unwrap();
    make_tree(source.path());
    let before = snapshot(source.path());
    let archive = Archive::default();
    let host = Recorder::default();
    let root = source.path().to_str().unwrap();
    let totals = backup::run(&NativeFs, &archive, &host, root).unwrap();
    assert_eq!(
        totals.items as usize,
        before.len() + 1,
        "every entry and the root"
    );
    assert_eq!(totals.bytes, (3 << 20) + 7 + 6);
    assert!(host.messages.borrow().contains(&BACKUP_COMPLETED));

    let target = tempfile::tempdir().unwrap();
    // An existing file with a recorded name is replaced; others stay.
    fs::create_dir(target.path().join("a")).unwrap();
    fs::write(target.path().join("a/hello.txt"), b"stale").unwrap();
    fs::write(target.path().join("kept"), b"mine").unwrap();
    let restored =
        restore::run(&NativeFs, &archive, &host, target.path().to_str().unwrap()).unwrap();
    assert_eq!(
        (restored.items, restored.bytes),
        (totals.items, totals.bytes)
    );
    assert!(host.messages.borrow().contains(&RESTORE_COMPLETED));
    fs::remove_file(target.path().join("kept")).unwrap();
    // Removing `kept` changed the root's time; compare everything below it.
    assert_eq!(snapshot(target.path()), before);
    assert_eq!(
        fs::metadata(target.path()).unwrap().mode() & 0o7777,
        fs::metadata(source.path()).unwrap().mode() & 0o7777
    );
}

#[test]
fn special_files_are_left_out_and_reported() {
    let source = tempfile::tempdir().unwrap();
    fs::write(source.path().join("file"), b"x").unwrap();
    let socket = source.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let archive = Archive::default();
    let host = Recorder::default();
    let totals = backup::run(&NativeFs, &archive, &host, source.path().to_str().unwrap()).unwrap();
    assert_eq!(totals.skipped, 1);
    assert_eq!(*host.skipped.borrow(), vec![b"sock".to_vec()]);
}

#[test]
fn a_hard_link_entry_is_refused() {
    let target = tempfile::tempdir().unwrap();
    let archive = Archive::default();
    let meta = EntryMeta {
        path: b"x".to_vec(),
        kind: guest_sdk::EntryKind::HardLink,
        mode: 0o644,
        mtime_seconds: 0,
        mtime_nanoseconds: 0,
        link_target: Some(b"y".to_vec()),
        owner: None,
        attributes: Vec::new(),
    };
    archive.entries.borrow_mut().push((meta, Vec::new()));
    let host = Recorder::default();
    let result = restore::run(&NativeFs, &archive, &host, target.path().to_str().unwrap());
    assert!(
        matches!(result, Err(PluginError::InvalidData(_))),
        "{result:?}"
    );
}
