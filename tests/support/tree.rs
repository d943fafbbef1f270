//! Sample directory trees and an exact comparison of two trees: kinds,
//! contents, permission bits, symlink targets and mtimes (to the nanosecond).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Deterministic bytes that do not compress or deduplicate within themselves.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `len` bytes of [`pseudo_random`]'s kind, generated as they are read, so
/// multi-GiB inputs cost no memory.
pub struct RandomReader {
    state: u64,
    left: u64,
    pending: ([u8; 8], usize),
}

impl RandomReader {
    pub fn new(len: u64, seed: u64) -> Self {
        Self {
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            left: len,
            pending: ([0; 8], 8),
        }
    }
}

impl std::io::Read for RandomReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for byte in &mut buf[..want] {
            if self.pending.1 == 8 {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                self.pending = (self.state.to_le_bytes(), 0);
            }
            *byte = self.pending.0[self.pending.1];
            self.pending.1 += 1;
        }
        self.left -= want as u64;
        Ok(want)
    }
}

/// Writes `len` incompressible bytes to `out`.
pub fn write_random(out: &mut impl Write, len: u64, seed: u64) {
    std::io::copy(&mut RandomReader::new(len, seed), out).expect("write random data");
}

fn write(path: &Path, content: &[u8], mode: u32) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(content))
        .expect("write file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Files of many sizes (0 B to 5 MiB), nested and empty directories, a
/// symlink to a file and one to a directory, unusual modes and mtimes.
pub fn write_sample_tree(root: &Path, seed: u64) {
    write(&root.join("empty.txt"), b"", 0o644);
    write(&root.join("one-byte"), b"x", 0o600);
    write(
        &root.join("docs/readme.md"),
        b"# deployment\nsome text\n",
        0o644,
    );
    write(
        &root.join("docs/deep/er/still/file.json"),
        br#"{"k": [1, 2, 3]}"#,
        0o640,
    );
    write(&root.join("bin/tool.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    write(
        &root.join("data/big.bin"),
        &pseudo_random(seed, 5 << 20),
        0o600,
    );
    write(
        &root.join("data/text.log"),
        "line of a log file\n".repeat(20_000).as_bytes(),
        0o644,
    );
    write(&root.join("ünïcødé name.txt"), "ü".as_bytes(), 0o644);
    std::fs::create_dir_all(root.join("empty-dir")).expect("mkdir");
    std::fs::set_permissions(
        root.join("empty-dir"),
        std::fs::Permissions::from_mode(0o700),
    )
    .expect("chmod");
    symlink("docs/readme.md", root.join("link-to-file")).expect("symlink");
    symlink("docs/deep", root.join("link-to-dir")).expect("symlink");
    // Distinct, sub-second mtimes, directories last (writing children bumps them).
    let base = SystemTime::UNIX_EPOCH + Duration::new(1_600_000_000 + seed * 1000, 123_456_789);
    set_mtimes(root, base);
}

fn set_mtimes(dir: &Path, base: SystemTime) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for (i, path) in entries.iter().enumerate() {
        let meta = path.symlink_metadata().expect("lstat");
        if meta.is_dir() {
            set_mtimes(path, base + Duration::from_secs(100));
        }
        if !meta.file_type().is_symlink() {
            let when = base + Duration::from_millis(1013 * i as u64 + 7);
            std::fs::File::open(path)
                .and_then(|f| f.set_modified(when))
                .expect("set mtime");
        }
    }
}

/// What a tree entry is, for comparison.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    File {
        len: u64,
        sha: Vec<u8>,
        mode: u32,
        mtime: (i64, i64),
    },
    Dir {
        mode: u32,
        mtime: (i64, i64),
    },
    Link {
        target: PathBuf,
    },
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = path.symlink_metadata().expect("lstat");
            let rel = path.strip_prefix(root).expect("relative").to_path_buf();
            let mode = meta.mode() & 0o7777;
            let mtime = (meta.mtime(), meta.mtime_nsec());
            let node = if meta.file_type().is_symlink() {
                Node::Link {
                    target: std::fs::read_link(&path).expect("readlink"),
                }
            } else if meta.is_dir() {
                stack.push(path.clone());
                Node::Dir { mode, mtime }
            } else {
                let content = std::fs::read(&path).expect("read");
                Node::File {
                    len: meta.len(),
                    sha: digest(&content),
                    mode,
                    mtime,
                }
            };
            out.insert(rel, node);
        }
    }
    out
}

fn digest(content: &[u8]) -> Vec<u8> {
    // FNV-1a 64 twice with different seeds: enough to tell contents apart in tests.
    let mut a = 0xcbf2_9ce4_8422_2325_u64;
    let mut b = 0x8422_2325_cbf2_9ce4_u64;
    for &byte in content {
        a = (a ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        b = (b ^ u64::from(byte))
            .wrapping_mul(0x100_0000_01b3)
            .rotate_left(5);
    }
    [a.to_le_bytes(), b.to_le_bytes()].concat()
}

/// Panics with the first difference between the trees.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    let want = snapshot(expected);
    let got = snapshot(actual);
    let want_paths: Vec<_> = want.keys().collect();
    let got_paths: Vec<_> = got.keys().collect();
    assert_eq!(want_paths, got_paths, "trees hold different paths");
    for (path, node) in &want {
        assert_eq!(
            Some(node),
            got.get(path),
            "entry {} differs",
            path.display()
        );
    }
    assert!(!want.is_empty(), "compared empty trees");
}

/// True if `dir` is missing or empty.
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}
