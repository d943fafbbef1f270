//! The host's memory must not grow with the size of the data: back up and
//! restore one large incompressible file and check the host process's peak
//! RSS (VmHWM) stays under the 256 MiB target. Before the malloc arenas were
//! capped, this peaked at 550-640 MiB on a 2 GiB file (and already above the
//! target at this size); the `vs_restic` bench covers the multi-GiB case.

mod support;

use std::io::Write;
use support::{Deployment, TestHost};

/// Size of the file: large enough that per-thread allocator retention would
/// show, small enough for the debug profile (~20 s here).
const FILE_MIB: u64 = 512;
/// Peak RSS the host may reach, in KiB.
const LIMIT_KIB: u64 = 256 << 10;

/// Fills `out` with xorshift64* output: incompressible, reproducible, cheap.
fn fill_random(state: &mut u64, out: &mut [u8]) {
    for chunk in out.chunks_mut(8) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let v = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .expect("VmHWM in /proc/<pid>/status")
}

#[test]
fn peak_rss_stays_bounded_backing_up_and_restoring_a_large_file() {
    let deployment = Deployment::new();
    let path = deployment.objects().join("large.bin");
    let mut file = std::fs::File::create(&path).expect("create large file");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 8 << 20];
    for _ in 0..FILE_MIB / 8 {
        fill_random(&mut state, &mut block);
        file.write_all(&block).expect("write large file");
    }
    drop(file);

    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("large");
    let after_backup = vm_hwm_kib(host.pid());
    let job = host.restore_job("large");
    assert_eq!(job["status"], "COMPLETED", "restore failed: {job}");
    let after_restore = vm_hwm_kib(host.pid());
    println!(
        "{FILE_MIB} MiB file: host peak RSS {} MiB after backup, {} MiB after restore",
        after_backup / 1024,
        after_restore / 1024
    );

    let restored = deployment.restored_objects().join("large.bin");
    assert_eq!(
        std::fs::metadata(&restored).expect("restored file").len(),
        FILE_MIB << 20
    );
    assert!(
        after_restore < LIMIT_KIB,
        "host peak RSS {} MiB exceeds {} MiB",
        after_restore / 1024,
        LIMIT_KIB >> 10
    );
}
