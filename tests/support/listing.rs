//! The listing two trees are compared by when content is checked apart:
//! type, permission bits, owner, size, mtime to the nanosecond, link target
//! and hard-link group of every entry, names as raw bytes.

use std::collections::BTreeMap;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One line of the listing the issue compares: everything but content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    pub link: Option<Vec<u8>>,
    /// The first path (in byte order) of the file's hard-link group.
    pub group: Option<Vec<u8>>,
}

/// Type, mode, owner, size, ns mtime, link target and hard-link group of
/// every entry below `root` (and `root` itself, as the empty path).
pub fn listing(root: &Path) -> BTreeMap<Vec<u8>, Listed> {
    let mut out = BTreeMap::new();
    let mut groups: BTreeMap<(u64, u64), Vec<u8>> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path).expect("lstat");
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "link"
        } else if ft.is_file() {
            "file"
        } else {
            "other"
        };
        if ft.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read_dir") {
                stack.push(rel.join(entry.expect("entry").file_name()));
            }
        }
        let key = rel.as_os_str().as_bytes().to_vec();
        let group = (ft.is_file() && meta.nlink() > 1).then(|| {
            let first = groups
                .entry((meta.dev(), meta.ino()))
                .or_insert(key.clone());
            if key < *first {
                *first = key.clone();
            }
            (meta.dev(), meta.ino())
        });
        out.insert(
            key,
            (
                Listed {
                    kind,
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                    size: if ft.is_dir() { 0 } else { meta.len() },
                    mtime: (meta.mtime(), meta.mtime_nsec()),
                    link: ft.is_symlink().then(|| {
                        std::fs::read_link(&path)
                            .expect("readlink")
                            .into_os_string()
                            .into_vec()
                    }),
                    group: None,
                },
                group,
            ),
        );
    }
    out.into_iter()
        .map(|(k, (mut listed, group))| {
            listed.group = group.map(|g| groups[&g].clone());
            (k, listed)
        })
        .collect()
}

/// Every entry that differs between two listings, readable, as
/// `path: expected came back as actual`.
pub fn differences(
    expected: &BTreeMap<Vec<u8>, Listed>,
    actual: &BTreeMap<Vec<u8>, Listed>,
) -> Vec<String> {
    let show = |path: &[u8]| String::from_utf8_lossy(path).into_owned();
    expected
        .iter()
        .filter(|(path, listed)| actual.get(*path) != Some(listed))
        .map(|(path, listed)| {
            format!(
                "{}: {listed:?} came back as {:?}",
                show(path),
                actual.get(path)
            )
        })
        .chain(
            actual
                .keys()
                .filter(|path| !expected.contains_key(*path))
                .map(|path| format!("{}: not in the source", show(path))),
        )
        .collect()
}
