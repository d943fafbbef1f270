//! Test trees: building them with every kind of entry and odd names, and
//! snapshotting what a restore must reproduce.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use guest_sdk::native::NativeFs;
use guest_sdk::{MetadataUpdate, PosixFs, Timestamp};

pub fn path(root: &Path, rel: &[u8]) -> PathBuf {
    if rel.is_empty() {
        return root.to_path_buf();
    }
    root.join(OsStr::from_bytes(rel))
}

pub fn root_str(root: &Path) -> &str {
    root.to_str().unwrap()
}

/// Sets the modification time of `rel` itself (symlinks too).
pub fn set_mtime(root: &Path, rel: &[u8], seconds: i64, nanoseconds: u32) {
    let update = MetadataUpdate {
        mode: None,
        owner: None,
        mtime: Some(Timestamp {
            seconds,
            nanoseconds,
        }),
    };
    NativeFs
        .set_metadata(path(root, rel).as_os_str().as_bytes(), &update)
        .unwrap();
}

pub fn chmod(root: &Path, rel: &[u8], mode: u32) {
    fs::set_permissions(path(root, rel), fs::Permissions::from_mode(mode)).unwrap();
}

pub fn write(root: &Path, rel: &[u8], content: &[u8]) {
    fs::write(path(root, rel), content).unwrap();
}

pub fn big_content() -> Vec<u8> {
    (0..(3 << 20) + 12_345u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// Running as root: owners can be changed, permissions do not deny.
pub fn is_root() -> bool {
    let probe = tempfile::tempdir().unwrap();
    fs::metadata(probe.path()).unwrap().uid() == 0
}

/// A tree with every entry kind, odd modes and explicit times; directory
/// times are set last, as creating children changes them.
pub fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/app")).unwrap();
    fs::create_dir_all(root.join("var/empty")).unwrap();
    fs::create_dir(root.join("a-b")).unwrap();
    write(root, b"etc/app/app.conf", b"key = value\n");
    write(root, b"etc/app/empty", b"");
    write(root, b"big.bin", &big_content());
    write(root, b"a-b/x", b"dash");
    write(root, b"secret", b"s3cr3t");
    symlink("app/app.conf", root.join("etc/current")).unwrap();
    symlink("/nowhere/at/all", root.join("dangling")).unwrap();
    chmod(root, b"secret", 0o600);
    chmod(root, b"etc/app/app.conf", 0o4751);
    chmod(root, b"var/empty", 0o700);
    chmod(root, b"", 0o751);
    let files: [&[u8]; 5] = [
        b"etc/app/app.conf",
        b"etc/app/empty",
        b"big.bin",
        b"a-b/x",
        b"secret",
    ];
    for (i, file) in files.iter().enumerate() {
        set_mtime(root, file, 1_600_000_000 + i as i64, 123_456_789);
    }
    set_mtime(root, b"etc/current", 1_400_000_000, 5);
    set_mtime(root, b"dangling", 1_400_000_001, 0);
    set_dir_times(root, &[b"etc/app", b"etc", b"var/empty", b"var", b"a-b"]);
}

/// Sets distinct times on `dirs` (innermost first) and then on the root.
pub fn set_dir_times(root: &Path, dirs: &[&[u8]]) {
    for (i, dir) in dirs.iter().enumerate() {
        set_mtime(root, dir, 1_500_000_000 + i as i64, 987_654_321);
    }
    set_mtime(root, b"", 1_450_000_000, 42);
}

/// What a restore must reproduce of one entry.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    pub path: Vec<u8>,
    pub kind: &'static str,
    pub mode: u32,
    pub mtime: (i64, i64),
    pub owner: (u32, u32),
    /// File content, or symlink target.
    pub data: Vec<u8>,
    pub link_count: u64,
    /// For a file with several links: the first of its paths in this
    /// snapshot, so that link groups compare across trees.
    pub linked_to: Option<Vec<u8>>,
}

/// The root and every entry below it, sorted by path.
pub fn snapshot(root: &Path) -> Vec<Node> {
    let mut out = Vec::new();
    let mut stack = vec![Vec::new()];
    while let Some(rel) = stack.pop() {
        let full = path(root, &rel);
        let meta = fs::symlink_metadata(&full).unwrap();
        let (kind, data) = if meta.is_dir() {
            for entry in fs::read_dir(&full).unwrap() {
                let name = entry.unwrap().file_name();
                let mut child = rel.clone();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(name.as_bytes());
                stack.push(child);
            }
            ("dir", Vec::new())
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(&full).unwrap();
            ("link", target.as_os_str().as_bytes().to_vec())
        } else {
            ("file", fs::read(&full).unwrap())
        };
        out.push((
            (meta.dev(), meta.ino(), meta.nlink()),
            Node {
                path: rel,
                kind,
                mode: meta.mode() & 0o7777,
                mtime: (meta.mtime(), meta.mtime_nsec()),
                owner: (meta.uid(), meta.gid()),
                data,
                link_count: meta.nlink(),
                linked_to: None,
            },
        ));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    let mut first: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    out.into_iter()
        .map(|((dev, ino, nlink), mut node)| {
            if node.kind == "file" && nlink > 1 {
                let first = first.entry((dev, ino)).or_insert_with(|| node.path.clone());
                node.linked_to = Some(first.clone());
            }
            node
        })
        .collect()
}

/// The names of leftover temporary files anywhere below `root`.
pub fn leftovers(root: &Path) -> Vec<Vec<u8>> {
    snapshot(root)
        .into_iter()
        .map(|n| n.path)
        .filter(|p| {
            let name = p.rsplit(|&b| b == b'/').next().unwrap_or_default();
            name.starts_with(b".drhost-restore-")
        })
        .collect()
}

pub fn mtime_of(root: &Path, rel: &[u8]) -> (i64, i64) {
    let meta = fs::symlink_metadata(path(root, rel)).unwrap();
    (meta.mtime(), meta.mtime_nsec())
}

pub fn mode_of(root: &Path, rel: &[u8]) -> u32 {
    fs::symlink_metadata(path(root, rel)).unwrap().mode() & 0o7777
}

/// Allocated bytes of a file (holes take none).
pub fn allocated(file: &Path) -> u64 {
    fs::metadata(file).unwrap().blocks() * 512
}

pub fn open(file: &Path) -> File {
    File::options().write(true).open(file).unwrap()
}
