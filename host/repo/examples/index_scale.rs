//! Scale check of the dedup index on generated metadata (prints, asserts
//! nothing): `cargo run --release -p drhost-repo --example index_scale -- <millions> [dir]`.
//!
//! Generates `<millions>` million random chunk records, 16 per pack (1 MiB
//! chunks in 16 MiB packs), in manifests of one million chunks, builds the
//! index file in `dir` (default: the system temp dir), opens it and prints the
//! build time, file size, process memory per million chunks, and lookups per
//! second for hits and misses on one thread and on every core.

use std::time::Instant;

use drhost_repo::index::{BuildLimits, ChunkIndex, IndexBuilder, IndexEntry, PackSizes};
use rand::{Rng, RngCore, SeedableRng};
use sha2::{Digest, Sha256};

const CHUNKS_PER_PACK: u64 = 16;
const CHUNKS_PER_MANIFEST: u64 = 1_000_000;
const KEY: [u8; 16] = [7; 16];
/// One id in this many is kept to look up as a hit.
const SAMPLE_EVERY: u64 = 97;
/// Lookups per measurement.
const LOOKUPS: usize = 1_000_000;

fn pack_hash(n: u64) -> [u8; 32] {
    Sha256::digest(n.to_le_bytes()).into()
}

/// A value from /proc/self/status, in bytes (Linux).
fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn lookups_per_second(index: &ChunkIndex, ids: &[[u8; 32]], threads: usize) -> (f64, u64) {
    let start = Instant::now();
    let found: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(ids.len().div_ceil(threads))
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter(|id| matches!(index.lookup(id), Ok(Some(_))))
                        .count() as u64
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    (ids.len() as f64 / start.elapsed().as_secs_f64(), found)
}

/// Opens the index in this (fresh) process and measures memory and lookups.
fn measure(total: u64, path: &std::path::Path, sample_path: &std::path::Path) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sample: Vec<[u8; 32]> = std::fs::read(sample_path)
        .unwrap_or_default()
        .chunks_exact(32)
        .map(|c| {
            let mut id = [0u8; 32];
            id.copy_from_slice(c);
            id
        })
        .collect();
    if sample.is_empty() {
        eprintln!("no sample ids");
        return;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let packs = PackSizes::new(
        (0..total.div_ceil(CHUNKS_PER_PACK))
            .map(|n| (pack_hash(n), (16 << 20) + 16 * 29))
            .collect(),
    );
    let rss_before = proc_status("VmRSS:");
    let started = Instant::now();
    let index = match ChunkIndex::open(path, &KEY, &packs) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("open failed: {e}");
            return;
        }
    };
    let open_time = started.elapsed();
    let rss_after = proc_status("VmRSS:");
    drop(packs);
    let per_million = |bytes: u64| mib(bytes) / (total as f64 / 1e6);
    println!(
        "open (verify + filter + fanout): {:.1} s; RSS {:.1} → {:.1} MiB: +{:.2} MiB per million chunks \
         (tables {:.2} MiB per million chunks, {:.2} B/chunk)",
        open_time.as_secs_f64(),
        mib(rss_before),
        mib(rss_after),
        per_million(rss_after.saturating_sub(rss_before)),
        per_million(index.memory_bytes() as u64),
        index.memory_bytes() as f64 / total as f64,
    );

    let hits: Vec<[u8; 32]> = (0..LOOKUPS)
        .map(|_| sample[rng.gen_range(0..sample.len())])
        .collect();
    let misses: Vec<[u8; 32]> = (0..hits.len())
        .map(|_| {
            let mut id = [0u8; 32];
            rng.fill_bytes(&mut id);
            id
        })
        .collect();
    for (label, ids) in [("hits", &hits), ("misses", &misses)] {
        let (one, found_one) = lookups_per_second(&index, ids, 1);
        let (all, found_all) = lookups_per_second(&index, ids, cores);
        println!(
            "lookups, {label}: {:.0}/s on 1 thread, {:.0}/s on {cores} threads ({found_one}/{found_all} of {} found)",
            one,
            all,
            ids.len()
        );
    }
    println!(
        "final RSS {:.1} MiB (includes the 64 MiB of ids looked up)",
        mib(proc_status("VmRSS:"))
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some("--measure") {
        let rest: Vec<String> = args.skip(1).collect();
        match rest.as_slice() {
            [total, path, sample] => {
                measure(total.parse().unwrap_or(1), path.as_ref(), sample.as_ref())
            }
            _ => eprintln!("usage: --measure <total> <index> <sample>"),
        }
        return;
    }
    let millions: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let dir = args.next().map_or_else(std::env::temp_dir, Into::into);
    let total = (millions * 1e6) as u64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "index_scale: {total} chunks, {} packs, {cores} cores, dir {}",
        total.div_ceil(CHUNKS_PER_PACK),
        dir.display()
    );

    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut sample = Vec::new();
    let started = Instant::now();
    let mut builder = IndexBuilder::new(KEY, &dir, BuildLimits::default());
    let mut next = 0u64;
    while next < total {
        let count = CHUNKS_PER_MANIFEST.min(total - next);
        let first_pack = next / CHUNKS_PER_PACK;
        let last_pack = (next + count - 1) / CHUNKS_PER_PACK;
        let packs: Vec<[u8; 32]> = (first_pack..=last_pack).map(pack_hash).collect();
        let mut entries = Vec::with_capacity(count as usize);
        for i in next..next + count {
            let mut id = [0u8; 32];
            rng.fill_bytes(&mut id);
            if i % SAMPLE_EVERY == 0 {
                sample.push(id);
            }
            entries.push(IndexEntry {
                id,
                pack: (i / CHUNKS_PER_PACK - first_pack) as u32,
                offset: (i % CHUNKS_PER_PACK) as u32 * (1 << 20),
                length: (1 << 20) + 29,
                size: 1 << 20,
            });
        }
        let mut name = [0u8; 32];
        rng.fill_bytes(&mut name);
        if let Err(e) = builder.add_manifest(name, &packs, entries) {
            eprintln!("build failed: {e}");
            return;
        }
        next += count;
    }
    let path = dir.join(format!("index-scale-{}.idx", std::process::id()));
    let sample_path = dir.join(format!("index-scale-{}.sample", std::process::id()));
    if let Err(e) = std::fs::write(&sample_path, sample.concat()) {
        eprintln!("cannot write the sample: {e}");
        return;
    }
    if let Err(e) = builder.finish(&path) {
        eprintln!("build failed: {e}");
        return;
    }
    let build_time = started.elapsed();
    let file_size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "build: {:.1} s ({:.2} M chunks/s), file {:.1} MiB ({:.1} B/chunk), peak RSS while building {:.1} MiB",
        build_time.as_secs_f64(),
        total as f64 / 1e6 / build_time.as_secs_f64(),
        mib(file_size),
        file_size as f64 / total as f64,
        mib(proc_status("VmHWM:")),
    );

    // Measured in a fresh process, so the builder's freed heap does not
    // hide the tables' memory.
    let status = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .arg("--measure")
            .arg(total.to_string())
            .arg(&path)
            .arg(&sample_path)
            .status()
    });
    if let Err(e) = status {
        eprintln!("cannot run the measurement: {e}");
    }
    let _ = std::fs::remove_file(&sample_path);
    let _ = std::fs::remove_file(&path);
}
