//! What the host↔guest boundary costs on the data path, next to hashing.
//!
//! A 1 GiB incompressible file in tmpfs (`/dev/shm` when there is one, so
//! the disk is out of the picture) is read four ways, alternately, best of
//! three:
//! 1. natively, in 1 MiB reads (the floor: page cache to memory);
//! 2. natively with SHA-256 of every byte (what the host's chunk ids cost);
//! 3. by the `object-store-fs` stage through the sandbox: the guest reads the
//!    file via WASI and writes it into the host's archive in 1 MiB pieces,
//!    and the host consumes the pieces without hashing them;
//! 4. the same with the host hashing what it receives.
//!
//! The boundary's cost is (3) − (1); the report compares it with (2).
//!
//! ```sh
//! cargo bench -p drhost-runtime --bench boundary
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use drhost_runtime::{ArchiveEvent, DirGrant, Grants, PluginContext, Runtime, RuntimeConfig};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

const FILE_MIB: usize = 1024;
const ROUNDS: usize = 3;

fn main() {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir");
    let path = base.path().join("data.bin");
    let mut file = std::fs::File::create(&path).expect("create");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..FILE_MIB {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&block).expect("write");
    }
    drop(file);
    let bytes = (FILE_MIB as u64) << 20;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let cache = tempfile::tempdir().expect("cache");
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: cache.path().to_path_buf(),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let wasm = common::plugin_wasm("object_store_fs.wasm");
    let plugin = rt
        .block_on(runtime.load_stage("object-store-fs", &wasm))
        .expect("load");
    let ctx = PluginContext {
        config_json: r#"{"root": "/data"}"#.into(),
        grants: Grants {
            dirs: vec![DirGrant {
                host: base.path().to_path_buf(),
                guest: "/data".into(),
                writable: false,
            }],
            ..Grants::default()
        },
        ..PluginContext::default()
    };

    let mut native = |hash: bool| {
        let start = Instant::now();
        let mut file = std::fs::File::open(&path).expect("open");
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        loop {
            let n = file.read(&mut block).expect("read");
            if n == 0 {
                break;
            }
            if hash {
                hasher.update(&block[..n]);
            }
            total += n as u64;
        }
        assert_eq!(total, bytes);
        std::hint::black_box(hasher.finalize());
        start.elapsed()
    };
    let through_plugin = |hash: bool| {
        rt.block_on(async {
            let start = Instant::now();
            let (tx, mut rx) = mpsc::channel(8);
            let consume = async {
                let mut hasher = Sha256::new();
                let mut total = 0u64;
                while let Some(batch) = rx.recv().await {
                    for event in batch {
                        if let ArchiveEvent::Data(data) = event {
                            if hash {
                                hasher.update(&data);
                            }
                            total += data.len() as u64;
                        }
                    }
                }
                std::hint::black_box(hasher.finalize());
                total
            };
            let (summary, total) =
                tokio::join!(plugin.backup(&ctx, tx, None, common::recorder()), consume);
            summary.expect("backup");
            assert_eq!(total, bytes);
            start.elapsed()
        })
    };

    let mut best = [Duration::MAX; 4];
    for _ in 0..ROUNDS {
        best[0] = best[0].min(native(false));
        best[1] = best[1].min(native(true));
        best[2] = best[2].min(through_plugin(false));
        best[3] = best[3].min(through_plugin(true));
    }
    let rate = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e9;
    println!("{FILE_MIB} MiB from tmpfs, best of {ROUNDS}:");
    for (what, d) in [
        ("native read", best[0]),
        ("native read + SHA-256", best[1]),
        ("through the object-store-fs sandbox", best[2]),
        ("through the sandbox + host SHA-256", best[3]),
    ] {
        println!(
            "  {what:<40} {:>7.3} s  {:>6.2} GB/s",
            d.as_secs_f64(),
            rate(d)
        );
    }
    let boundary = best[2].saturating_sub(best[0]);
    let sha = best[1].saturating_sub(best[0]);
    println!(
        "  boundary cost {:.3} s ({:.2} ns/byte) vs SHA-256 {:.3} s ({:.2} ns/byte): ratio {:.2}",
        boundary.as_secs_f64(),
        boundary.as_secs_f64() * 1e9 / bytes as f64,
        sha.as_secs_f64(),
        sha.as_secs_f64() * 1e9 / bytes as f64,
        boundary.as_secs_f64() / sha.as_secs_f64()
    );
}
