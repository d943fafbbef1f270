//! Restore on its own: entries written straight into the in-memory archive.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use guest_sdk::native::NativeFs;
use guest_sdk::{EntryKind, EntryMeta, PluginError};

use super::fakes::{Entry, MemReader, TestHost};
use super::tree::{allocated, chmod, leftovers, mode_of, mtime_of, open, path, root_str, write};
use crate::restore;

fn meta(path: &[u8], kind: EntryKind) -> EntryMeta {
    EntryMeta {
        path: path.to_vec(),
        kind,
        mode: 0o644,
        mtime_seconds: 1_700_000_000,
        mtime_nanoseconds: 0,
        link_target: None,
        owner: None,
        attributes: Vec::new(),
    }
}

fn link(path: &[u8], kind: EntryKind, target: &[u8]) -> Entry {
    let mut meta = meta(path, kind);
    meta.link_target = Some(target.to_vec());
    (meta, Vec::new())
}

fn file(path: &[u8], content: &[u8]) -> Entry {
    (meta(path, EntryKind::File), content.to_vec())
}

fn run(root: &Path, reader: &MemReader) -> Result<(), PluginError> {
    restore::restore(
        root_str(root),
        reader,
        &TestHost::default(),
        &NativeFs,
        &mut (),
    )
    .map(|_| ())
}

fn restore_entries(root: &Path, entries: Vec<Entry>) -> Result<(), PluginError> {
    run(root, &MemReader::new(entries))
}

#[test]
fn replaces_existing_files_and_links() {
    let target = tempfile::tempdir().unwrap();
    let root = target.path();
    write(root, b"f", b"old content that is longer");
    chmod(root, b"f", 0o400);
    write(root, b"victim", b"keep");
    symlink("victim", root.join("l")).unwrap();
    restore_entries(
        root,
        vec![
            file(b"l", b"new"),
            link(b"f", EntryKind::Symlink, b"elsewhere"),
        ],
    )
    .unwrap();
    assert_eq!(fs::read(root.join("l")).unwrap(), b"new");
    assert_eq!(mode_of(root, b"l"), 0o644);
    assert_eq!(fs::read(root.join("victim")).unwrap(), b"keep");
    assert_eq!(
        fs::read_link(root.join("f")).unwrap(),
        Path::new("elsewhere")
    );
    assert!(leftovers(root).is_empty());
}

#[test]
fn refuses_bad_paths() {
    let long = [b'a'; 4097];
    let bad: [&[u8]; 7] = [
        b"../escape",
        b"/abs",
        b"a/./b",
        b"a//b",
        b"a/",
        b"a\0b",
        &long,
    ];
    for bad in bad {
        let target = tempfile::tempdir().unwrap();
        let err = restore_entries(target.path(), vec![file(bad, b"x")]);
        assert!(
            matches!(err, Err(PluginError::InvalidData(_))),
            "{bad:?}: {err:?}"
        );
        assert_eq!(fs::read_dir(target.path()).unwrap().count(), 0);
    }
}

#[test]
fn only_the_root_directory_has_the_empty_path() {
    let target = tempfile::tempdir().unwrap();
    for kind in [EntryKind::File, EntryKind::Symlink, EntryKind::HardLink] {
        let err = restore_entries(target.path(), vec![link(b"", kind, b"x")]);
        assert!(matches!(err, Err(PluginError::InvalidData(_))), "{err:?}");
    }
}

#[test]
fn never_writes_through_a_restored_symlink() {
    let target = tempfile::tempdir().unwrap();
    fs::create_dir(target.path().join("real")).unwrap();
    let err = restore_entries(
        target.path(),
        vec![link(b"l", EntryKind::Symlink, b"real"), file(b"l/x", b"x")],
    );
    assert!(matches!(err, Err(PluginError::InvalidData(_))), "{err:?}");
    assert!(!target.path().join("real/x").exists());
}

#[test]
fn refuses_links_without_targets_and_bad_times() {
    let target = tempfile::tempdir().unwrap();
    let root = target.path();
    for entry in [
        (meta(b"l", EntryKind::Symlink), Vec::new()),
        link(b"l", EntryKind::Symlink, b""),
        link(b"l", EntryKind::Symlink, b"a\0b"),
        (meta(b"h", EntryKind::HardLink), Vec::new()),
        link(b"h", EntryKind::HardLink, b"h"),
        link(b"h", EntryKind::HardLink, b"../outside"),
    ] {
        let err = restore_entries(root, vec![entry]);
        assert!(matches!(err, Err(PluginError::InvalidData(_))), "{err:?}");
    }
    let mut late = meta(b"f", EntryKind::File);
    late.mtime_nanoseconds = 1_000_000_000;
    let err = restore_entries(root, vec![(late, Vec::new())]);
    assert!(matches!(err, Err(PluginError::InvalidData(_))), "{err:?}");
    assert_eq!(fs::read_dir(root).unwrap().count(), 0);
}

#[test]
fn a_hard_link_needs_its_file_restored_before_it() {
    let target = tempfile::tempdir().unwrap();
    let root = target.path();
    // Missing, or present but not written by this restore.
    write(root, b"stranger", b"s");
    fs::create_dir(root.join("d")).unwrap();
    write(root, b"d/stranger", b"s");
    for first in [&b"missing"[..], b"d/stranger"] {
        let err = restore_entries(root, vec![link(b"h", EntryKind::HardLink, first)]);
        let Err(PluginError::InvalidData(text)) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("does not hold as a file before it"), "{text}");
    }
    // A symlink of that name is not the file either.
    let err = restore_entries(
        root,
        vec![
            link(b"s", EntryKind::Symlink, b"stranger"),
            link(b"h", EntryKind::HardLink, b"s"),
        ],
    );
    assert!(matches!(err, Err(PluginError::InvalidData(_))), "{err:?}");
    assert!(!root.join("h").exists());
    assert!(leftovers(root).is_empty());
}

#[test]
fn restores_hard_links_as_one_file() {
    let target = tempfile::tempdir().unwrap();
    let root = target.path();
    write(root, b"old-name", b"to be replaced");
    let mut dir = meta(b"d", EntryKind::Directory);
    dir.mode = 0o755;
    let entries = vec![
        file(b"a", b"shared"),
        link(b"old-name", EntryKind::HardLink, b"a"),
        (dir, Vec::new()),
        link(b"d/b", EntryKind::HardLink, b"a"),
    ];
    // Twice: the second time over the first one's result.
    for _ in 0..2 {
        restore_entries(root, entries.clone()).unwrap();
        let a = fs::metadata(root.join("a")).unwrap();
        assert_eq!(a.nlink(), 3);
        for other in ["old-name", "d/b"] {
            assert_eq!(fs::metadata(root.join(other)).unwrap().ino(), a.ino());
        }
        assert_eq!(fs::read(root.join("d/b")).unwrap(), b"shared");
        assert!(leftovers(root).is_empty());
    }
}

#[test]
fn creates_missing_parents_and_keeps_directory_metadata() {
    let target = tempfile::tempdir().unwrap();
    let root = target.path();
    let mut top = meta(b"", EntryKind::Directory);
    top.mode = 0o710;
    top.mtime_seconds = 1_100_000_000;
    top.mtime_nanoseconds = 7;
    let mut dir = meta(b"d", EntryKind::Directory);
    dir.mode = 0o750;
    dir.mtime_seconds = 1_000_000_000;
    restore_entries(
        root,
        vec![
            (top, Vec::new()),
            (dir, Vec::new()),
            file(b"d/e/f/file", b"deep"),
        ],
    )
    .unwrap();
    assert_eq!(mode_of(root, b"d"), 0o750);
    assert_eq!(mtime_of(root, b"d"), (1_000_000_000, 0));
    assert_eq!(mode_of(root, b""), 0o710);
    assert_eq!(mtime_of(root, b""), (1_100_000_000, 7));
    assert_eq!(fs::read(root.join("d/e/f/file")).unwrap(), b"deep");
}

#[test]
fn a_failed_restore_leaves_existing_files_untouched() {
    let target = tempfile::tempdir().unwrap();
    let root = target.path();
    write(root, b"done", b"old done");
    write(root, b"victim", b"precious old content");
    chmod(root, b"victim", 0o640);
    let before = fs::metadata(root.join("victim")).unwrap();
    let big = vec![0x5a; 3 << 20];
    let mut reader = MemReader::new(vec![
        file(b"done", b"new done"),
        file(b"victim", &big),
        file(b"never", b"n"),
    ]);
    reader.fail_at = Some((1, 2 << 20));
    let err = run(root, &reader).unwrap_err();
    let PluginError::InvalidData(text) = err else {
        panic!("{err:?}")
    };
    assert!(
        text.starts_with("restoring entry \"victim\": pack 3fa9"),
        "{text}"
    );
    // Entries before the failure are complete, the failing one untouched.
    assert_eq!(fs::read(root.join("done")).unwrap(), b"new done");
    assert_eq!(
        fs::read(root.join("victim")).unwrap(),
        b"precious old content"
    );
    let after = fs::metadata(root.join("victim")).unwrap();
    assert_eq!(mode_of(root, b"victim"), 0o640);
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec()),
        (before.ino(), before.mtime(), before.mtime_nsec())
    );
    assert!(!root.join("never").exists());
    assert!(leftovers(root).is_empty(), "{:?}", leftovers(root));
}

#[test]
fn a_new_file_that_fails_midway_is_removed() {
    let target = tempfile::tempdir().unwrap();
    let root = target.path();
    let big = vec![0x5a; 3 << 20];
    let mut reader = MemReader::new(vec![file(b"done", b"new done"), file(b"sub/fresh", &big)]);
    reader.fail_at = Some((1, 2 << 20));
    let err = run(root, &reader).unwrap_err();
    assert!(matches!(err, PluginError::InvalidData(_)), "{err:?}");
    assert_eq!(fs::read(root.join("done")).unwrap(), b"new done");
    assert!(!root.join("sub/fresh").exists(), "half a file was left");
    assert!(leftovers(root).is_empty(), "{:?}", leftovers(root));
}

#[test]
fn a_directory_in_the_way_is_refused() {
    let target = tempfile::tempdir().unwrap();
    let root = target.path();
    fs::create_dir(root.join("f")).unwrap();
    write(root, b"f/inside", b"kept");
    fs::create_dir(root.join("l")).unwrap();
    for entry in [file(b"f", b"x"), link(b"l", EntryKind::Symlink, b"t")] {
        let err = restore_entries(root, vec![entry]);
        let Err(PluginError::Io(text)) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("exists and is a directory"), "{text}");
    }
    assert_eq!(fs::read(root.join("f/inside")).unwrap(), b"kept");
    assert!(leftovers(root).is_empty());

    write(root, b"plain", b"p");
    let err = restore_entries(
        root,
        vec![(meta(b"plain", EntryKind::Directory), Vec::new())],
    );
    assert!(matches!(err, Err(PluginError::Io(_))), "{err:?}");
}

#[test]
fn temporary_names_step_over_taken_ones() {
    let target = tempfile::tempdir().unwrap();
    let root = target.path();
    for n in 0..3 {
        write(root, format!(".drhost-restore-{n}").as_bytes(), b"leftover");
    }
    // Names taken, so that both are made under temporary names.
    let long = vec![b'n'; 255];
    write(root, b"a", b"old");
    write(root, &long, b"old");
    restore_entries(root, vec![file(b"a", b"1"), file(&long, b"2")]).unwrap();
    assert_eq!(fs::read(root.join("a")).unwrap(), b"1");
    assert_eq!(fs::read(path(root, &long)).unwrap(), b"2");
    assert_eq!(leftovers(root).len(), 3, "the leftovers stay as they were");
}

#[test]
fn sparse_files_stay_sparse() {
    let source = tempfile::tempdir().unwrap();
    let sparse = source.path().join("disk.img");
    let size: u64 = 16 << 20;
    let mut f = open_new(&sparse);
    f.set_len(size).unwrap();
    f.seek(SeekFrom::Start(5 << 20)).unwrap();
    f.write_all(&[1; 10_000]).unwrap();
    f.seek(SeekFrom::Start(size - 3)).unwrap();
    f.write_all(b"end").unwrap();
    drop(f);
    let content = fs::read(&sparse).unwrap();

    let target = tempfile::tempdir().unwrap();
    restore_entries(target.path(), vec![file(b"disk.img", &content)]).unwrap();
    let restored = target.path().join("disk.img");
    assert_eq!(fs::read(&restored).unwrap(), content);
    assert_eq!(fs::metadata(&restored).unwrap().len(), size);
    assert!(
        allocated(&restored) < size / 8,
        "{} bytes allocated",
        allocated(&restored)
    );
    // A file of zeros only is all hole.
    restore_entries(target.path(), vec![file(b"zeros", &vec![0; 1 << 20])]).unwrap();
    let zeros = target.path().join("zeros");
    assert_eq!(fs::metadata(&zeros).unwrap().len(), 1 << 20);
    assert_eq!(allocated(&zeros), 0);
}

fn open_new(path: &Path) -> fs::File {
    fs::File::create(path).unwrap();
    open(path)
}
