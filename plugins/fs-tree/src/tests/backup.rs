//! Backup on its own: what the walk writes into the archive.

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::os::unix::net::UnixListener;

use guest_sdk::native::NativeFs;
use guest_sdk::{EntryKind, EntryMeta, PluginError};

use super::fakes::{MemWriter, Recorder, TestHost, VanishingFs};
use super::tree::{big_content, chmod, is_root, make_tree, root_str, write};
use crate::backup;

/// Path, kind, link target and content length of an entry.
type Shape<'a> = (&'a [u8], EntryKind, Option<&'a [u8]>, usize);

fn paths(entries: &[(EntryMeta, Vec<u8>)]) -> Vec<&[u8]> {
    entries.iter().map(|(m, _)| m.path.as_slice()).collect()
}

#[test]
fn walks_in_byte_order_with_the_root_first() {
    let source = tempfile::tempdir().unwrap();
    make_tree(source.path());
    let writer = MemWriter::default();
    let host = TestHost::default();
    let mut seen = Recorder::default();
    let totals = backup::backup(
        root_str(source.path()),
        &writer,
        &host,
        &NativeFs,
        &mut seen,
    )
    .unwrap();
    let writes = writer.writes.get();
    let entries = writer.into_entries();
    assert_eq!(
        paths(&entries),
        [
            &b""[..],
            b"a-b",
            b"a-b/x",
            b"big.bin",
            b"dangling",
            b"etc",
            b"etc/app",
            b"etc/app/app.conf",
            b"etc/app/empty",
            b"etc/current",
            b"secret",
            b"var",
            b"var/empty",
        ]
    );
    assert_eq!(totals.items, 13);
    assert_eq!(totals.bytes, (3 << 20) + 12_345 + 12 + 4 + 6);
    assert_eq!(totals.skipped, 0);
    assert_eq!(writes, 4 + 1 + 1 + 1, "big file in 1 MiB chunks");
    assert_eq!(host.reports.borrow().last(), Some(&(totals.bytes, 13)));

    let root = &entries[0].0;
    assert_eq!(root.kind, EntryKind::Directory);
    assert_eq!(
        (root.mode, root.mtime_seconds, root.mtime_nanoseconds),
        (0o751, 1_450_000_000, 42)
    );
    let conf = &entries[7].0;
    assert_eq!(
        (conf.mode, conf.mtime_seconds, conf.mtime_nanoseconds),
        (0o4751, 1_600_000_000, 123_456_789)
    );
    let me = fs::metadata(source.path()).unwrap();
    let owner = conf.owner.as_ref().unwrap();
    assert_eq!((owner.uid, owner.gid), (me.uid(), me.gid()));
    if me.uid() == 0 {
        assert_eq!(owner.user.as_deref(), Some("root"));
    }
    let current = &entries[9].0;
    assert_eq!(current.kind, EntryKind::Symlink);
    assert_eq!(current.link_target.as_deref(), Some(&b"app/app.conf"[..]));
    assert_eq!(
        (current.mtime_seconds, current.mtime_nanoseconds),
        (1_400_000_000, 5)
    );
    assert_eq!(
        entries[4].0.link_target.as_deref(),
        Some(&b"/nowhere/at/all"[..]),
        "absolute targets are archived as they are"
    );
    assert_eq!(seen.files.len(), 5);
    assert_eq!(seen.files[1], (b"big.bin".to_vec(), big_content()));
}

#[test]
fn names_are_bytes() {
    let source = tempfile::tempdir().unwrap();
    let long = vec![b'n'; 255];
    let names: [&[u8]; 5] = [
        b"back\\slash",
        b"new\nline",
        b"latin1-\xe9",
        &long,
        b"\xff\xfe",
    ];
    for name in names {
        write(source.path(), name, name);
    }
    let writer = MemWriter::default();
    backup::backup(
        root_str(source.path()),
        &writer,
        &TestHost::default(),
        &NativeFs,
        &mut (),
    )
    .unwrap();
    let entries = writer.into_entries();
    let mut expected: Vec<&[u8]> = names.to_vec();
    expected.sort();
    expected.insert(0, b"");
    assert_eq!(paths(&entries), expected);
    for (meta, content) in &entries[1..] {
        assert_eq!(&meta.path, content);
    }
}

#[test]
fn further_names_of_a_file_become_hard_link_entries() {
    let source = tempfile::tempdir().unwrap();
    let root = source.path();
    fs::create_dir(root.join("a")).unwrap();
    fs::create_dir(root.join("b")).unwrap();
    write(root, b"a/file", b"shared content");
    fs::hard_link(root.join("a/file"), root.join("a/link2")).unwrap();
    fs::hard_link(root.join("a/file"), root.join("b/link3")).unwrap();
    write(root, b"single", b"one link");
    let writer = MemWriter::default();
    let mut seen = Recorder::default();
    let totals = backup::backup(
        root_str(root),
        &writer,
        &TestHost::default(),
        &NativeFs,
        &mut seen,
    )
    .unwrap();
    let entries = writer.into_entries();
    let kinds: Vec<Shape> = entries
        .iter()
        .map(|(m, c)| (m.path.as_slice(), m.kind, m.link_target.as_deref(), c.len()))
        .collect();
    assert_eq!(
        kinds,
        [
            (&b""[..], EntryKind::Directory, None, 0),
            (b"a", EntryKind::Directory, None, 0),
            (b"a/file", EntryKind::File, None, 14),
            (b"a/link2", EntryKind::HardLink, Some(&b"a/file"[..]), 0),
            (b"b", EntryKind::Directory, None, 0),
            (b"b/link3", EntryKind::HardLink, Some(&b"a/file"[..]), 0),
            (b"single", EntryKind::File, None, 8),
        ]
    );
    assert_eq!(totals.bytes, 14 + 8, "the content is read once");
    assert_eq!(seen.files.len(), 2);

    // Taken over unchanged, the first name still anchors the others.
    let files: Vec<(EntryMeta, u64)> = entries
        .iter()
        .filter(|(m, _)| m.kind == EntryKind::File)
        .map(|(m, c)| (m.clone(), c.len() as u64))
        .collect();
    let second = MemWriter::with_unchanged(files);
    backup::backup(
        root_str(root),
        &second,
        &TestHost::default(),
        &NativeFs,
        &mut (),
    )
    .unwrap();
    assert_eq!(
        *second.reused.borrow(),
        [b"a/file".to_vec(), b"single".to_vec()]
    );
    let links: Vec<(Vec<u8>, Option<Vec<u8>>)> = second
        .into_entries()
        .into_iter()
        .filter(|(m, _)| m.kind == EntryKind::HardLink)
        .map(|(m, _)| (m.path, m.link_target))
        .collect();
    assert_eq!(
        links,
        [
            (b"a/link2".to_vec(), Some(b"a/file".to_vec())),
            (b"b/link3".to_vec(), Some(b"a/file".to_vec()))
        ]
    );
}

#[test]
fn entries_left_out_are_reported() {
    let source = tempfile::tempdir().unwrap();
    let root = source.path();
    let _listener = UnixListener::bind(root.join("app.sock")).unwrap();
    write(root, b"kept", b"k");
    let unreadable = !is_root();
    if unreadable {
        // Permissions deny nothing to root.
        write(root, b"locked", b"l");
        chmod(root, b"locked", 0o000);
        fs::create_dir(root.join("listable")).unwrap();
        write(root, b"listable/hidden", b"h");
        chmod(root, b"listable", 0o644);
    }
    let writer = MemWriter::default();
    let host = TestHost::default();
    let totals = backup::backup(root_str(root), &writer, &host, &NativeFs, &mut ()).unwrap();
    let skipped = host.skipped.borrow();
    assert_eq!(skipped[0].0, b"app.sock");
    assert!(skipped[0].1.contains("socket"), "{}", skipped[0].1);
    if unreadable {
        chmod(root, b"listable", 0o755);
        assert_eq!(
            paths(&writer.into_entries()),
            [&b""[..], b"kept", b"listable"]
        );
        assert_eq!(skipped[1].0, b"listable/hidden");
        assert!(
            skipped[1].1.contains("cannot be examined"),
            "{}",
            skipped[1].1
        );
        assert_eq!(skipped[2].0, b"locked");
        assert!(skipped[2].1.contains("cannot be read"), "{}", skipped[2].1);
    } else {
        assert_eq!(paths(&writer.into_entries()), [&b""[..], b"kept"]);
    }
    assert_eq!(totals.skipped, skipped.len() as u64);
}

#[test]
fn entries_that_vanish_are_counted_not_reported() {
    let source = tempfile::tempdir().unwrap();
    let root = source.path();
    write(root, b"stays", b"s");
    write(root, b"goes", b"g");
    symlink("x", root.join("link")).unwrap();
    let fs = VanishingFs {
        gone: root.join("goes").into_os_string().into_encoded_bytes(),
    };
    let writer = MemWriter::default();
    let host = TestHost::default();
    let totals = backup::backup(root_str(root), &writer, &host, &fs, &mut ()).unwrap();
    assert_eq!(paths(&writer.into_entries()), [&b""[..], b"link", b"stays"]);
    assert_eq!(totals.skipped, 0);
    assert!(host.skipped.borrow().is_empty());
    let infos = host.infos.borrow();
    assert!(
        infos
            .iter()
            .any(|l| l.starts_with("1 entries were deleted")),
        "{infos:?}"
    );
}

#[test]
fn a_missing_root_is_named() {
    let err = backup::backup(
        "/definitely/not/here",
        &MemWriter::default(),
        &TestHost::default(),
        &NativeFs,
        &mut (),
    );
    match err {
        Err(PluginError::NotFound(text)) => {
            assert!(text.starts_with("\"/definitely/not/here\": "), "{text}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn progress_is_throttled() {
    let source = tempfile::tempdir().unwrap();
    for i in 0..600 {
        write(source.path(), format!("f{i:04}").as_bytes(), b"x");
    }
    let host = TestHost::default();
    backup::backup(
        root_str(source.path()),
        &MemWriter::default(),
        &host,
        &NativeFs,
        &mut (),
    )
    .unwrap();
    // The root is the first item and has no content.
    assert_eq!(*host.reports.borrow(), [(255, 256), (511, 512), (600, 601)]);
}

#[test]
fn unchanged_files_are_taken_over_unless_the_hook_needs_every_file() {
    let source = tempfile::tempdir().unwrap();
    make_tree(source.path());
    let root = root_str(source.path());
    let first = MemWriter::default();
    backup::backup(root, &first, &TestHost::default(), &NativeFs, &mut ()).unwrap();
    let previous: Vec<(EntryMeta, u64)> = first
        .into_entries()
        .into_iter()
        .filter(|(m, _)| m.kind == EntryKind::File)
        .map(|(m, content)| (m, content.len() as u64))
        .collect();
    assert_eq!(previous.len(), 5);

    // One file changes; the others are taken over without being read.
    write(source.path(), b"etc/app/app.conf", b"changed");
    let second = MemWriter::with_unchanged(previous.clone());
    let totals = backup::backup(root, &second, &TestHost::default(), &NativeFs, &mut ()).unwrap();
    let mut reused = second.reused.borrow().clone();
    reused.sort();
    let expected: [&[u8]; 4] = [b"a-b/x", b"big.bin", b"etc/app/empty", b"secret"];
    assert_eq!(reused, expected);
    let written: Vec<Vec<u8>> = second
        .entries
        .borrow()
        .iter()
        .filter(|(m, _)| m.kind == EntryKind::File)
        .map(|(m, _)| m.path.clone())
        .collect();
    assert_eq!(written, [b"etc/app/app.conf"]);
    assert_eq!(totals.items, 13, "taken-over files still count");
    assert_eq!(totals.bytes, (3 << 20) + 12_345 + 7 + 4 + 6);

    // A hook that must see every file (config-fs's digests) disables it.
    let third = MemWriter::with_unchanged(previous);
    let mut seen = Recorder::default();
    backup::backup(root, &third, &TestHost::default(), &NativeFs, &mut seen).unwrap();
    assert!(third.reused.borrow().is_empty());
    assert_eq!(seen.files.len(), 5);
}
