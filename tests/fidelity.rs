//! Fidelity through the API with the real `object-store-fs` component: names
//! of any bytes, absolute and relative symlinks, owners with setuid bits,
//! hard links, sparse files and the root's own metadata come back exactly; a
//! socket is reported, not silently dropped; and a restore that fails on a
//! damaged pack leaves every file it was to replace whole.

use crate::support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::listing::{differences, listing};
use support::tree::pseudo_random;
use support::{Deployment, TestHost, files_under};

fn set_mtime(path: &Path, seconds: i64, nanos: u32) {
    let time = std::time::UNIX_EPOCH + Duration::new(seconds as u64, nanos);
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .or_else(|_| std::fs::File::open(path))
        .expect("open for times");
    file.set_modified(time).expect("set mtime");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A tree with every case of the issue: names of any bytes, links of both
/// kinds, a setuid file of another owner, a hard-link group, a sparse file,
/// a socket, and particular modes and times on the root and directories.
fn write_tree(root: &Path) -> std::os::unix::net::UnixListener {
    let name = |bytes: &[u8]| root.join(OsStr::from_bytes(bytes));
    std::fs::create_dir_all(name(b"systemd/system")).unwrap();
    std::fs::write(
        name(b"systemd/system/system-systemd\\x2dcryptsetup.slice"),
        b"[Unit]\n",
    )
    .unwrap();
    std::fs::create_dir(name(b"latin1-\xe9t\xe9")).unwrap();
    std::fs::write(name(b"latin1-\xe9t\xe9/caf\xe9"), b"not utf-8").unwrap();
    std::fs::write(name(b"new\nline"), b"newline").unwrap();
    std::fs::write(root.join("n".repeat(255)), b"long name").unwrap();
    symlink("/usr/bin/cpp-14", name(b"cpp")).unwrap();
    symlink("../new\nline", name(b"systemd/relative")).unwrap();
    symlink(OsStr::from_bytes(b"dangling/\xff"), name(b"dangling")).unwrap();

    let setuid = name(b"utempter");
    std::fs::write(&setuid, pseudo_random(3, 20_000)).unwrap();
    std::fs::set_permissions(&setuid, std::fs::Permissions::from_mode(0o2755)).unwrap();
    if is_root() {
        std::os::unix::fs::lchown(&setuid, Some(1234), Some(5678)).unwrap();
        std::os::unix::fs::lchown(name(b"cpp"), Some(4321), Some(8765)).unwrap();
        // chown clears setgid; set it again as a packager would.
        std::fs::set_permissions(&setuid, std::fs::Permissions::from_mode(0o2755)).unwrap();
    }

    std::fs::create_dir(name(b"links")).unwrap();
    let first = name(b"links/a");
    std::fs::write(&first, pseudo_random(4, 300_000)).unwrap();
    std::fs::hard_link(&first, name(b"links/b")).unwrap();
    std::fs::hard_link(&first, name(b"c-same-inode")).unwrap();

    let sparse = std::fs::File::create(name(b"sparse.img")).unwrap();
    sparse.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&sparse, b"header", 0).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&sparse, b"trailer", (64 << 20) - 7).unwrap();
    drop(sparse);

    let socket = std::os::unix::net::UnixListener::bind(name(b"app.sock")).unwrap();

    std::fs::set_permissions(name(b"links"), std::fs::Permissions::from_mode(0o750)).unwrap();
    for (path, seconds) in [
        (name(b"utempter"), 1_600_000_000),
        (name(b"sparse.img"), 1_500_000_000),
        (name(b"systemd/system"), 1_400_000_000),
        (name(b"latin1-\xe9t\xe9"), 1_300_000_000),
        (name(b"links"), 1_200_000_000),
        (root.to_path_buf(), 1_100_000_000),
    ] {
        set_mtime(&path, seconds, 123_456_789);
    }
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o751)).unwrap();
    socket
}

fn config(deployment: &Deployment, source: &Path, target: &Path) -> String {
    format!(
        r#"
{host}
[[stage]]
name = "Stage Files"
plugin = "object-store-fs"
source = "{source}"
target = "{target}"
special_bits = true
"#,
        host = deployment.host_toml(),
        source = source.display(),
        target = target.display(),
    )
}

#[test]
fn a_round_trip_restores_every_listed_property_and_reports_what_it_left_out() {
    let deployment = Deployment::new();
    let source = deployment.path().join("tree");
    let target = deployment.path().join("restored");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::create_dir_all(&target).unwrap();
    let _socket = write_tree(&source);
    let host = TestHost::start(&deployment, &config(&deployment, &source, &target));

    let job = host.backup_ok("fidelity");
    assert_eq!(job["result"]["state"], "completed_with_warnings", "{job}");
    let text = job.to_string();
    assert!(text.contains("1 entries left out: app.sock"), "{text}");

    let restore = host.restore_job("fidelity");
    assert_eq!(restore["status"], "COMPLETED", "{restore}");

    let mut expected = listing(&source);
    expected.remove(&b"app.sock"[..]);
    let differences = differences(&expected, &listing(&target));
    assert!(differences.is_empty(), "{differences:#?}");

    for path in files_under(&source) {
        let Ok(meta) = std::fs::symlink_metadata(source.join(&path)) else {
            continue;
        };
        if meta.is_file() {
            assert_eq!(
                std::fs::read(source.join(&path)).unwrap(),
                std::fs::read(target.join(&path)).unwrap(),
                "{}",
                path.display()
            );
        }
    }
    let sparse = std::fs::metadata(target.join("sparse.img")).unwrap();
    assert!(
        sparse.blocks() * 512 < 1 << 20,
        "sparse file allocated {} bytes",
        sparse.blocks() * 512
    );
}

#[test]
fn a_restore_failing_on_a_damaged_pack_leaves_every_file_old_or_new_never_partial() {
    let deployment = Deployment::new();
    let source = deployment.path().join("tree");
    std::fs::create_dir_all(&source).unwrap();
    // Several packs' worth of random files, so that some are written before
    // the damaged pack is reached.
    for i in 0..20u64 {
        let path = source.join(format!("level{i}.bin"));
        std::fs::write(&path, pseudo_random(100 + i, 3 << 20)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Restore over the source itself: the deployment being recovered.
    let host = TestHost::start(&deployment, &config(&deployment, &source, &source));
    host.backup_ok("base");

    let backed_up: BTreeMap<PathBuf, (Vec<u8>, u32)> = files_under(&source)
        .into_iter()
        .map(|p| {
            let full = source.join(&p);
            let mode = std::fs::metadata(&full).unwrap().mode() & 0o7777;
            (p, (std::fs::read(&full).unwrap(), mode))
        })
        .collect();
    // The deployment moves on: new content and modes everywhere.
    let mut current = BTreeMap::new();
    for (i, path) in backed_up.keys().enumerate() {
        let full = source.join(path);
        let content = pseudo_random(900 + i as u64, 1 << 20);
        std::fs::write(&full, &content).unwrap();
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o644)).unwrap();
        current.insert(path.clone(), (content, 0o644));
    }

    // Data packs only: the manifest's segments have a small pack of their
    // own, and damaging it fails the backup's opening, before any file.
    let pack_size = |p: &PathBuf| {
        std::fs::metadata(deployment.store_dir().join(p))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let packs: Vec<PathBuf> = files_under(&deployment.store_dir())
        .into_iter()
        .filter(|p| p.starts_with("packs") && pack_size(p) >= 4 << 20)
        .collect();
    assert!(
        packs.len() >= 3,
        "want several data packs, got {}",
        packs.len()
    );
    let damaged = deployment.store_dir().join(&packs[packs.len() / 2]);
    let mut bytes = std::fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&damaged, bytes).unwrap();

    let restore = host.restore_job("base");
    assert_eq!(restore["status"], "FAILED", "{restore}");

    let mut restored = 0;
    for (path, old) in &current {
        let full = source.join(path);
        let now = (
            std::fs::read(&full).unwrap(),
            std::fs::metadata(&full).unwrap().mode() & 0o7777,
        );
        let new = &backed_up[path];
        assert!(
            now == *old || now == *new,
            "{} is neither as before nor as backed up: {} bytes, mode {:o}",
            path.display(),
            now.0.len(),
            now.1
        );
        restored += usize::from(now == *new);
    }
    assert!(restored < current.len(), "the damaged pack was never read");
    let leftovers: Vec<_> = files_under(&source)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".drhost-restore"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
