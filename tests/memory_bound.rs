//! The host's memory must not grow with the size of the data: back up and
//! restore one large incompressible file and check the host process's peak
//! RSS (VmHWM) stays under the 256 MiB target. Before the malloc arenas were
//! capped, this peaked at 550-640 MiB on a 2 GiB file (and already above the
//! target at this size); the `vs_restic` bench covers the multi-GiB case.

use crate::support;

use support::{Deployment, PEAK_RSS_TARGET_BYTES, TestHost, tree};

/// Size of the file: large enough that per-thread allocator retention would
/// show, small enough for the debug profile (~20 s here).
const FILE_MIB: u64 = 512;

#[test]
fn peak_rss_stays_bounded_backing_up_and_restoring_a_large_file() {
    let deployment = Deployment::new();
    let path = deployment.objects().join("large.bin");
    let mut file = std::fs::File::create(&path).expect("create large file");
    tree::write_random(&mut file, FILE_MIB << 20, 0x9e37_79b9);
    drop(file);

    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("large");
    let after_backup = host.peak_rss_bytes();
    let job = host.restore_job("large");
    assert_eq!(job["status"], "COMPLETED", "restore failed: {job}");
    let after_restore = host.peak_rss_bytes();
    println!(
        "{FILE_MIB} MiB file: host peak RSS {} MiB after backup, {} MiB after restore",
        after_backup >> 20,
        after_restore >> 20
    );

    let restored = deployment.restored_objects().join("large.bin");
    assert_eq!(
        std::fs::metadata(&restored).expect("restored file").len(),
        FILE_MIB << 20
    );
    assert_under_target(after_restore);
}

/// Directories of this machine copied as they are: tens of thousands of
/// small files nobody in this project wrote, the shape of the bench's copy
/// of `/usr/lib` and `/usr/share` (125k entries, 5.2 GB) at a size a test
/// backs up in seconds.
const SYSTEM_DIRS: [&str; 3] = ["/usr/share/man", "/usr/include", "/usr/share/doc"];

#[test]
fn peak_rss_stays_bounded_on_a_copy_of_system_directories() {
    let deployment = Deployment::new();
    let objects = deployment.objects();
    for dir in SYSTEM_DIRS
        .iter()
        .filter(|d| std::path::Path::new(d).is_dir())
    {
        let status = std::process::Command::new("cp")
            .args(["-a", dir])
            .arg(&objects)
            .status()
            .expect("run cp");
        assert!(status.success(), "cp -a {dir} failed");
    }
    let entries = support::files_under(&objects).len();
    assert!(
        entries >= 10_000,
        "only {entries} files under {SYSTEM_DIRS:?}: not the shape this test is about"
    );

    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("tree-1");
    let after_full = host.peak_rss_bytes();
    host.backup_ok("tree-2");
    let after_unchanged = host.peak_rss_bytes();
    let job = host.restore_job("tree-2");
    assert_eq!(job["status"], "COMPLETED", "restore failed: {job}");
    let after_restore = host.peak_rss_bytes();
    println!(
        "{entries} files of {SYSTEM_DIRS:?}: host peak RSS {} / {} / {} MiB after full backup, \
         unchanged backup, restore",
        after_full >> 20,
        after_unchanged >> 20,
        after_restore >> 20
    );
    tree::assert_same_tree(&objects, &deployment.restored_objects());
    assert_under_target(after_restore);
}

/// The host's peak RSS (`VmHWM`, which only grows) is under the target.
fn assert_under_target(peak_bytes: u64) {
    assert!(
        peak_bytes < PEAK_RSS_TARGET_BYTES,
        "host peak RSS {} MiB exceeds {} MiB",
        peak_bytes >> 20,
        PEAK_RSS_TARGET_BYTES >> 20
    );
}
