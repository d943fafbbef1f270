//! The relational stage against PostgreSQL's own tools on the same cluster,
//! in one run, alternating, on the same disk: backup against
//! `pg_basebackup -Ft` and `pgbackrest backup`, restore against
//! `pgbackrest restore`.
//!
//! ```sh
//! cargo bench -p drhost --bench relational_vs_pg_basebackup      # 1 GiB of rows
//! DRHOST_BENCH_PGBENCH_SCALE=100 DRHOST_BENCH_RUNS=3 cargo bench -p drhost --bench relational_vs_pg_basebackup
//! DRHOST_BENCH_PG_MIB=256 DRHOST_BENCH_RUNS=5 cargo bench -p drhost --bench relational_vs_pg_basebackup
//! ```
//!
//! `DRHOST_BENCH_PGBENCH_SCALE` loads the data with `pgbench -i` instead of
//! the harness's own tables. pg_basebackup and drhost fetch the WAL needed for
//! consistency and a SHA-256 backup manifest, with a fast checkpoint;
//! pg_basebackup writes plain tar files, drhost also chunks, deduplicates,
//! compresses, encrypts and verifies the manifest. pgbackrest (Debian's
//! package) runs with its defaults (gz compression, one process, no
//! encryption), a fast checkpoint, and WAL archiving through `archive-push`,
//! which it requires. Each drhost run backs up into a store from which the
//! previous run's backup was deleted, so every run is a full backup; every
//! restore goes into an empty directory. Each timed operation starts after a
//! `sync`: the first `pg_basebackup` of a run otherwise wrote while the
//! kernel was still writing back the data `pgbench -i` had just loaded (5.9
//! and 6.4 s against 3.2 to 4.1 s for the later ones).

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::postgres::{Auth, Cluster, as_server_user, bindir, hand_to_server, stage_toml};
use support::{Deployment, PASSCODE, TestHost, disk_usage, settle};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pg_basebackup(cluster: &Cluster, out: &Path) -> Duration {
    settle();
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

/// pgbackrest's configuration, repository, logs and locks, and the socket
/// directory it reaches the server through (it has no TCP option for a
/// local server).
struct Pgbackrest {
    dir: PathBuf,
}

impl Pgbackrest {
    const STANZA: &str = "bench";

    fn new(dir: PathBuf) -> Self {
        // The server's user must reach it (and the restore targets beside it).
        if let Some(parent) = dir.parent() {
            let _ = Command::new("chmod").arg("0755").arg(parent).status();
        }
        for sub in ["repo", "log", "lock", "sock"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        hand_to_server(&dir);
        Self { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("pgbackrest.conf")
    }

    /// The server settings that archive its WAL through pgbackrest.
    fn server_settings(&self) -> String {
        format!(
            "unix_socket_directories = '{}'\narchive_mode = on\n\
             archive_command = 'pgbackrest --config={} --stanza={} archive-push %p'\n",
            self.dir.join("sock").display(),
            self.config().display(),
            Self::STANZA
        )
    }

    fn configure(&self, cluster: &Cluster) {
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        std::fs::write(
            self.config(),
            format!(
                "[global]\nrepo1-path={}\nrepo1-retention-full=1\nlog-path={}\nlock-path={}\n\
                 log-level-console=warn\nlog-level-file=off\nstart-fast=y\n\n\
                 [{}]\npg1-path={}\npg1-port={}\npg1-socket-path={}\n",
                d("repo"),
                d("log"),
                d("lock"),
                Self::STANZA,
                cluster.data.display(),
                cluster.port,
                d("sock"),
            ),
        )
        .expect("pgbackrest.conf");
        // The configuration file too must be the server user's.
        hand_to_server(&self.dir);
        // pgbackrest connects through the socket, as `postgres`.
        let hba = cluster.data.join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        std::fs::write(&hba, format!("local all postgres trust\n{rules}")).expect("pg_hba.conf");
        cluster.sql("SELECT pg_reload_conf()");
        self.run(&["stanza-create"]);
    }

    fn run(&self, args: &[&str]) -> Duration {
        settle();
        let started = Instant::now();
        let output = as_server_user(Path::new("/usr/bin/pgbackrest"))
            .arg(format!("--config={}", self.config().display()))
            .arg(format!("--stanza={}", Self::STANZA))
            .args(args)
            .output()
            .expect("run pgbackrest (install Debian's pgbackrest package)");
        let elapsed = started.elapsed();
        assert!(
            output.status.success(),
            "pgbackrest {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        elapsed
    }

    fn backup(&self) -> Duration {
        self.run(&["--type=full", "backup"])
    }

    fn restore(&self, target: &Path) -> Duration {
        let _ = std::fs::remove_dir_all(target);
        std::fs::create_dir_all(target).expect("mkdir");
        hand_to_server(target);
        self.run(&[&format!("--pg1-path={}", target.display()), "restore"])
    }
}

/// Waits for drhost's job `jobid` to complete, polling every 20 ms (the
/// harness's `wait_job` polls at 100 ms, too coarse for these timings).
fn drhost_job(host: &TestHost, jobid: &str) {
    loop {
        let (_, job) = host.get(&format!("/jobs/{jobid}"));
        match job["status"].as_str() {
            Some("COMPLETED") => return,
            Some("FAILED") => panic!("drhost job failed: {job}"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn drhost_backup(host: &TestHost, name: &str) -> Duration {
    settle();
    let started = Instant::now();
    drhost_job(host, &host.create_backup(name));
    started.elapsed()
}

fn drhost_restore(host: &TestHost, name: &str, target: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(target);
    settle();
    let started = Instant::now();
    let (code, body) = host.restore(name, PASSCODE);
    assert_eq!(code, 200, "{body}");
    drhost_job(host, body["jobid"].as_str().expect("jobid"));
    started.elapsed()
}

struct Run {
    pg_basebackup: Duration,
    pgbackrest_backup: Duration,
    drhost_backup: Duration,
    pgbackrest_restore: Duration,
    drhost_restore: Duration,
    tar_bytes: u64,
}

fn main() {
    // `cargo bench` passes `--bench`; a filter from `cargo test --benches` is ignored.
    let scale = env_or("DRHOST_BENCH_PGBENCH_SCALE", 0);
    let mib = env_or("DRHOST_BENCH_PG_MIB", 1024);
    let runs = env_or("DRHOST_BENCH_RUNS", 3);
    let deployment = Deployment::new();
    let pgbackrest = Pgbackrest::new(deployment.path().join("pgbackrest"));
    let cluster = Cluster::create_with(Auth::Trust, &pgbackrest.server_settings());
    pgbackrest.configure(&cluster);
    if scale > 0 {
        println!("pgbench -i -s {scale} ...");
        cluster.pgbench_init(scale);
    } else {
        println!("loading about {mib} MiB of rows ...");
        cluster.load(mib);
    }
    println!("cluster: {:.0} MB", disk_usage(&cluster.data) as f64 / 1e6);
    let restored = deployment.path().join("restored");
    let config = format!(
        "{}{}",
        deployment.host_toml(),
        stage_toml(&cluster.address(), &cluster.address(), &restored, None)
    );
    let host = TestHost::start(&deployment, &config);

    let scratch = deployment.path().join("pg_basebackup");
    let pgbackrest_restored = deployment.path().join("pgbackrest-restored");
    let mut rows = Vec::new();
    for run in 1..=runs {
        let name = format!("bench-{run}");
        let _ = std::fs::remove_dir_all(&scratch);
        // Alternate who goes first, so neither always meets a warm cache.
        let (pg_basebackup, pgbackrest_backup, drhost_backup) = if run % 2 == 1 {
            let pg = pg_basebackup(&cluster, &scratch);
            let br = pgbackrest.backup();
            (pg, br, drhost_backup(&host, &name))
        } else {
            let ours = drhost_backup(&host, &name);
            let br = pgbackrest.backup();
            (pg_basebackup(&cluster, &scratch), br, ours)
        };
        let tar_bytes = disk_usage(&scratch);
        let (pgbackrest_restore, drhost_restore) = if run % 2 == 1 {
            let br = pgbackrest.restore(&pgbackrest_restored);
            (br, drhost_restore(&host, &name, &restored))
        } else {
            let ours = drhost_restore(&host, &name, &restored);
            (pgbackrest.restore(&pgbackrest_restored), ours)
        };
        let _ = std::fs::remove_dir_all(&restored);
        let _ = std::fs::remove_dir_all(&pgbackrest_restored);
        let (code, body) = host.post(
            &format!("/system/disasterrecovery/stores/default/backups/{name}/delete"),
            &[],
        );
        assert_eq!(code, 200, "{body}");
        rows.push(Run {
            pg_basebackup,
            pgbackrest_backup,
            drhost_backup,
            pgbackrest_restore,
            drhost_restore,
            tar_bytes,
        });
    }

    let s = |d: Duration| d.as_secs_f64();
    println!();
    println!(
        "| run | pg_basebackup -Ft | pgbackrest backup | drhost backup | pgbackrest restore | drhost restore | tar size |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, r) in rows.iter().enumerate() {
        println!(
            "| {} | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.0} MB |",
            i + 1,
            s(r.pg_basebackup),
            s(r.pgbackrest_backup),
            s(r.drhost_backup),
            s(r.pgbackrest_restore),
            s(r.drhost_restore),
            r.tar_bytes as f64 / 1e6,
        );
    }
    let median = |f: fn(&Run) -> Duration| {
        let mut v: Vec<f64> = rows.iter().map(|r| s(f(r))).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let pg = median(|r| r.pg_basebackup);
    let br = median(|r| r.pgbackrest_backup);
    let ours = median(|r| r.drhost_backup);
    let br_restore = median(|r| r.pgbackrest_restore);
    let our_restore = median(|r| r.drhost_restore);
    println!();
    println!(
        "medians: backup drhost {ours:.2} s, pg_basebackup {pg:.2} s, pgbackrest {br:.2} s; \
         restore drhost {our_restore:.2} s, pgbackrest {br_restore:.2} s"
    );
    println!(
        "ratios (drhost / peer): backup vs pg_basebackup {:.2}, backup vs pgbackrest {:.2}, \
         restore vs pgbackrest {:.2}",
        ours / pg,
        ours / br,
        our_restore / br_restore
    );
}
