//! Backup then restore: the restored tree must equal the original in every
//! respect the archive carries.

use std::fs;
use std::os::unix::fs::{lchown, symlink};
use std::path::Path;

use guest_sdk::native::NativeFs;

use super::fakes::{MemReader, MemWriter, Recorder, TestHost};
use super::tree::{
    is_root, leftovers, make_tree, path, root_str, set_dir_times, set_mtime, snapshot, write,
};
use crate::{backup, restore};

/// Backs `source` up and restores it into `target`; returns what the hooks
/// saw on both sides.
fn round_trip(source: &Path, target: &Path) -> (Recorder, Recorder) {
    let writer = MemWriter::default();
    let mut seen = Recorder::default();
    let totals = backup::backup(
        root_str(source),
        &writer,
        &TestHost::default(),
        &NativeFs,
        &mut seen,
    )
    .unwrap();
    let reader = MemReader::new(writer.into_entries());
    let mut restored = Recorder::default();
    let back = restore::restore(
        root_str(target),
        &reader,
        &TestHost::default(),
        &NativeFs,
        &mut restored,
    )
    .unwrap();
    assert_eq!((back.items, back.bytes), (totals.items, totals.bytes));
    (seen, restored)
}

#[test]
fn reproduces_the_tree() {
    let source = tempfile::tempdir().unwrap();
    make_tree(source.path());
    let target = tempfile::tempdir().unwrap();
    let (seen, restored) = round_trip(source.path(), target.path());
    assert_eq!(restored.files, seen.files);
    assert_eq!(snapshot(target.path()), snapshot(source.path()));
}

/// Names WASI could not carry, links of both kinds, a hard-link group
/// across directories: all come back as they were.
#[test]
fn reproduces_names_links_and_hard_links() {
    let source = tempfile::tempdir().unwrap();
    let root = source.path();
    let long = vec![b'L'; 255];
    let odd_dir: &[u8] = b"dir-\xff\xfe";
    fs::create_dir(path(root, odd_dir)).unwrap();
    fs::create_dir(root.join("other")).unwrap();
    let names: [&[u8]; 5] = [
        b"back\\slash",
        b"new\nline",
        b"latin1-\xe9",
        &long,
        b"dir-\xff\xfe/inner",
    ];
    for name in names {
        write(root, name, name);
    }
    symlink("/usr/lib/x86_64-linux-gnu/libc.so.6", root.join("absolute")).unwrap();
    symlink("../back\\slash", root.join("other/relative")).unwrap();
    fs::hard_link(path(root, b"latin1-\xe9"), root.join("other/hard")).unwrap();
    fs::hard_link(
        path(root, b"latin1-\xe9"),
        path(root, b"dir-\xff\xfe/hard2"),
    )
    .unwrap();
    for (i, name) in names.iter().enumerate() {
        set_mtime(root, name, 1_234_567_890 + i as i64, 1);
    }
    set_mtime(root, b"absolute", 1_000_000_001, 2);
    set_mtime(root, b"other/relative", 1_000_000_002, 3);
    set_dir_times(root, &[odd_dir, b"other"]);

    let target = tempfile::tempdir().unwrap();
    round_trip(root, target.path());
    let restored = snapshot(target.path());
    assert_eq!(restored, snapshot(root));
    let hard: Vec<&[u8]> = restored
        .iter()
        .filter(|n| n.linked_to.as_deref() == Some(&b"dir-\xff\xfe/hard2"[..]))
        .map(|n| n.path.as_slice())
        .collect();
    assert_eq!(
        hard,
        [&b"dir-\xff\xfe/hard2"[..], b"latin1-\xe9", b"other/hard"]
    );
    assert!(
        restored
            .iter()
            .filter(|n| n.linked_to.is_some())
            .all(|n| n.link_count == 3)
    );
    assert_eq!(
        fs::read_link(target.path().join("absolute")).unwrap(),
        Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6")
    );
    assert!(leftovers(target.path()).is_empty());
}

/// Owners need root to set; elsewhere the test has nothing to show.
#[test]
fn reproduces_owners_when_running_as_root() {
    if !is_root() {
        eprintln!("not root: owners cannot be changed, test skipped");
        return;
    }
    let source = tempfile::tempdir().unwrap();
    let root = source.path();
    fs::create_dir(root.join("d")).unwrap();
    write(root, b"d/file", b"owned");
    symlink("file", root.join("d/link")).unwrap();
    write(root, b"setuid", b"s");
    lchown(root.join("d/file"), Some(12_345), Some(23_456)).unwrap();
    lchown(root.join("d/link"), Some(12_346), Some(23_457)).unwrap();
    lchown(root.join("d"), Some(12_347), Some(23_458)).unwrap();
    lchown(root.join("setuid"), Some(12_345), Some(0)).unwrap();
    super::tree::chmod(root, b"setuid", 0o4755);
    lchown(root, Some(12_348), Some(23_459)).unwrap();
    set_dir_times(root, &[b"d"]);

    let target = tempfile::tempdir().unwrap();
    round_trip(root, target.path());
    let restored = snapshot(target.path());
    assert_eq!(restored, snapshot(root));
    let owners: Vec<(&[u8], (u32, u32))> = restored
        .iter()
        .map(|n| (n.path.as_slice(), n.owner))
        .collect();
    assert_eq!(
        owners,
        [
            (&b""[..], (12_348, 23_459)),
            (b"d", (12_347, 23_458)),
            (b"d/file", (12_345, 23_456)),
            (b"d/link", (12_346, 23_457)),
            (b"setuid", (12_345, 0)),
        ]
    );
    assert_eq!(restored[4].mode, 0o4755, "setuid kept with its owner");
}
