//! Quick local throughput check (prints, asserts nothing):
//! `cargo run --release -p drhost-repo --example throughput [MiB] [small files]`.
//! Writes random (incompressible) and text-like (compressible) data into the
//! in-memory store, re-backs it up unchanged, then restores with full
//! verification. Then does the same for many small files (default 50,000 of
//! 2–18 KB, 10 KB on average), where restore cost is per file, not per byte.

use std::sync::Arc;
use std::time::Instant;

use drhost_repo::testing::{MemoryStore, file_meta as meta};
use drhost_repo::{BackupInfo, Repository};
use rand::{RngCore, SeedableRng};

const MIB: usize = 1024 * 1024;

fn info(name: &str) -> BackupInfo {
    BackupInfo::new(name, "", "manual", 0, 0, "")
}

fn rate(bytes: usize, secs: f64) -> String {
    format!("{:.0} MiB/s", bytes as f64 / MIB as f64 / secs)
}

async fn write(repo: &Repository, name: &str, data: &[u8]) -> (f64, u64) {
    let t = Instant::now();
    let mut w = repo.begin_backup("pw", info(name)).await.unwrap();
    let kdf = t.elapsed().as_secs_f64();
    let t = Instant::now();
    {
        let mut s = w.begin_stage("s", "p").await.unwrap();
        s.begin_entry(meta("f")).await.unwrap();
        for piece in data.chunks(MIB) {
            s.write(piece).await.unwrap();
        }
        s.end_entry().await.unwrap();
        s.finish(vec![], 0, 0).await.unwrap();
    }
    let info = w.commit(0).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  backup {name}: {} in {secs:.2} s = {} (KDF {kdf:.2} s not included), stored {:.1} MiB",
        data.len() / MIB,
        rate(data.len(), secs),
        info.stored_bytes as f64 / MIB as f64
    );
    (secs, info.stored_bytes)
}

async fn restore(repo: &Repository, name: &str, len: usize) {
    let reader = repo.open_backup(name, "pw").await.unwrap();
    let t = Instant::now();
    let mut r = reader.stage_reader("s").unwrap();
    r.next_entry().await.unwrap();
    let mut n = 0;
    loop {
        let b = r.read(MIB).await.unwrap();
        if b.is_empty() {
            break;
        }
        n += b.len();
    }
    assert_eq!(n, len);
    let secs = t.elapsed().as_secs_f64();
    println!("  restore {name}: {} (verified)", rate(len, secs));
}

/// Sizes of the small files: 2–18 KB, reproducible.
fn small_file_sizes(count: usize) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    (0..count)
        .map(|_| 2_000 + (rng.next_u32() as usize % 16_000))
        .collect()
}

async fn write_small_files(repo: &Repository, name: &str, sizes: &[usize]) -> usize {
    let mut w = repo.begin_backup("pw", info(name)).await.unwrap();
    let t = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut buf = vec![0u8; 18_000];
    let mut total = 0;
    {
        let mut s = w.begin_stage("s", "p").await.unwrap();
        for (i, &size) in sizes.iter().enumerate() {
            rng.fill_bytes(&mut buf[..size]);
            s.begin_entry(meta(&format!("d{}/f{i}", i % 100)))
                .await
                .unwrap();
            s.write(&buf[..size]).await.unwrap();
            s.end_entry().await.unwrap();
            total += size;
        }
        s.finish(vec![], 0, 0).await.unwrap();
    }
    w.commit(0).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  backup {name}: {} files, {:.1} MiB in {secs:.2} s",
        sizes.len(),
        total as f64 / MIB as f64
    );
    total
}

async fn restore_small_files(repo: &Repository, name: &str, count: usize, total: usize) {
    let reader = repo.open_backup(name, "pw").await.unwrap();
    let t = Instant::now();
    let mut r = reader.stage_reader("s").unwrap();
    let (mut files, mut n) = (0, 0);
    while r.next_entry().await.unwrap().is_some() {
        files += 1;
        loop {
            let b = r.read(64 * 1024).await.unwrap();
            if b.is_empty() {
                break;
            }
            n += b.len();
        }
    }
    assert_eq!((files, n), (count, total));
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  restore {name}: {files} files in {secs:.2} s = {:.1} µs per file, {} (verified)",
        secs * 1e6 / files as f64,
        rate(total, secs)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(512);
    let small_files: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let mut random = vec![0u8; mib * MIB];
    rand::rngs::StdRng::seed_from_u64(1).fill_bytes(&mut random);
    let words = [
        "alpha ",
        "beta ",
        "gamma ",
        "delta ",
        "2024-01-01T00:00:00Z ",
        "INFO ",
        "\n",
    ];
    let mut text = Vec::with_capacity(mib * MIB);
    let mut x = 12345u64;
    while text.len() < mib * MIB {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.extend_from_slice(words[(x % words.len() as u64) as usize].as_bytes());
        text.extend_from_slice(format!("{} ", x % 100_000).as_bytes());
    }
    text.truncate(mib * MIB);

    let store = Arc::new(MemoryStore::new());
    let repo = Repository::open(store.clone()).await.unwrap();
    println!("incompressible:");
    write(&repo, "random", &random).await;
    write(&repo, "random-again", &random).await;
    restore(&repo, "random", random.len()).await;
    println!("compressible:");
    write(&repo, "text", &text).await;
    restore(&repo, "text", text.len()).await;
    if small_files > 0 {
        println!("small files:");
        let sizes = small_file_sizes(small_files);
        let total = write_small_files(&repo, "small", &sizes).await;
        restore_small_files(&repo, "small", small_files, total).await;
    }
}
