//! Backup time of the relational stage against `pg_basebackup -Ft` of the
//! same cluster, in one run, alternating, on the same disk:
//!
//! ```sh
//! cargo bench -p drhost --bench relational_vs_pg_basebackup      # 1 GiB of rows
//! DRHOST_BENCH_PG_MIB=256 DRHOST_BENCH_RUNS=5 cargo bench -p drhost --bench relational_vs_pg_basebackup
//! ```
//!
//! Both fetch the WAL needed for consistency and a SHA-256 backup manifest.
//! pg_basebackup writes plain tar files; drhost also chunks, deduplicates,
//! compresses, encrypts and verifies the manifest. Each drhost run backs up
//! into a store from which the previous run's backup was deleted, so every
//! run is a full backup.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::postgres::{Auth, Cluster, bindir, stage_toml};
use support::{Deployment, TestHost, disk_usage};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pg_basebackup(cluster: &Cluster, out: &std::path::Path) -> Duration {
    let started = Instant::now();
    let status = Command::new(bindir().join("pg_basebackup"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.port.to_string(),
            "-U",
            "replicator",
        ])
        .args([
            "-Ft",
            "-X",
            "fetch",
            "-c",
            "fast",
            "--manifest-checksums=SHA256",
            "-D",
        ])
        .arg(out)
        .status()
        .expect("run pg_basebackup");
    let elapsed = started.elapsed();
    assert!(status.success(), "pg_basebackup failed");
    elapsed
}

fn drhost_backup(host: &TestHost, name: &str) -> Duration {
    let started = Instant::now();
    let jobid = host.create_backup(name);
    loop {
        let (_, job) = host.get(&format!("/jobs/{jobid}"));
        match job["status"].as_str() {
            Some("COMPLETED") => return started.elapsed(),
            Some("FAILED") => panic!("drhost backup failed: {job}"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter from `cargo test --benches` is ignored.
    let mib = env_or("DRHOST_BENCH_PG_MIB", 1024);
    let runs = env_or("DRHOST_BENCH_RUNS", 3);
    let cluster = Cluster::create(Auth::Trust);
    println!("loading about {mib} MiB of rows ...");
    cluster.load(mib);
    let deployment = Deployment::new();
    let config = format!(
        "{}{}",
        deployment.host_toml(),
        stage_toml(
            &cluster.address(),
            &cluster.address(),
            &deployment.path().join("restored"),
            None
        )
    );
    let host = TestHost::start(&deployment, &config);

    let scratch = deployment.path().join("pg_basebackup");
    let mut rows = Vec::new();
    for run in 1..=runs {
        let _ = std::fs::remove_dir_all(&scratch);
        let pg = pg_basebackup(&cluster, &scratch);
        let size = disk_usage(&scratch);
        let name = format!("bench-{run}");
        let ours = drhost_backup(&host, &name);
        let (_, listing) = host.get(&format!(
            "/system/disasterrecovery/stores/default/backups/{name}"
        ));
        let stored = listing["storedBytes"].as_u64().unwrap_or(0);
        let (code, body) = host.post(
            &format!("/system/disasterrecovery/stores/default/backups/{name}/delete"),
            &[],
        );
        assert_eq!(code, 200, "{body}");
        rows.push((run, pg, ours, size, stored));
    }

    let mb = |bytes: u64, t: Duration| bytes as f64 / 1e6 / t.as_secs_f64();
    println!();
    println!(
        "| run | pg_basebackup -Ft | drhost | drhost / pg_basebackup | tar size | drhost stored |"
    );
    println!("|---|---|---|---|---|---|");
    for (run, pg, ours, size, stored) in &rows {
        println!(
            "| {run} | {:.2} s ({:.0} MB/s) | {:.2} s ({:.0} MB/s) | {:.2}x | {:.0} MB | {:.0} MB |",
            pg.as_secs_f64(),
            mb(*size, *pg),
            ours.as_secs_f64(),
            mb(*size, *ours),
            ours.as_secs_f64() / pg.as_secs_f64(),
            *size as f64 / 1e6,
            *stored as f64 / 1e6,
        );
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let pg = median(rows.iter().map(|r| r.1.as_secs_f64()).collect());
    let ours = median(rows.iter().map(|r| r.2.as_secs_f64()).collect());
    println!();
    println!(
        "median: pg_basebackup {pg:.2} s, drhost {ours:.2} s, ratio drhost/pg_basebackup {:.2}",
        ours / pg
    );
}
