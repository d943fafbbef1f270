//! Faults lose nothing.
//!
//! - `kill -9` of the host at random points of backups, restores and
//!   deletes (24 runs, seeded; `DRHOST_FAULT_RUNS` and `DRHOST_FAULT_SEED`
//!   change them): afterwards every listed backup verifies, the first backup
//!   restores byte-identically, no half backup is listed, an interrupted
//!   backup resumes and completes (it is then listed), and any other
//!   interrupted job reads failed with the reason.
//! - A store on a full disk (a 24 MiB tmpfs): the backup fails naming the
//!   cause, nothing half-made is listed, earlier backups still restore, and
//!   once space is freed the next backup succeeds.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use support::tree::{assert_same_tree, write_random};
use support::{Deployment, PASSCODE, TestHost};

/// Copies `from` to `to` with modes and nanosecond times (`cp -a`).
fn snapshot(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

fn empty_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("mkdir");
}

#[derive(Debug, Clone, Copy)]
enum Operation {
    Backup,
    Restore,
    Delete,
}

#[test]
fn kill_9_at_random_points_of_backup_restore_and_delete_loses_nothing() {
    let runs: usize = std::env::var("DRHOST_FAULT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seed: u64 = std::env::var("DRHOST_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261123);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let deployment = Deployment::new();
    deployment.populate();
    let churn = deployment.objects().join("churn.bin");
    let mut file = std::fs::File::create(&churn).expect("churn file");
    write_random(&mut file, 48 << 20, seed);
    drop(file);
    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("base");
    let reference = deployment.path().join("reference");
    snapshot(&deployment.objects(), &reference);

    let mut listed: BTreeSet<String> = ["base".to_string()].into();
    let (mut interrupted, mut finished_first, mut resumed_runs) = (0, 0, 0);
    for run in 0..runs {
        let operation = match run % 3 {
            0 => Operation::Backup,
            1 => Operation::Restore,
            _ => Operation::Delete,
        };
        let name = format!("run-{run}");
        let jobid = match operation {
            Operation::Backup => {
                // New content, so the backup has real work to do.
                let mut file = std::fs::File::create(&churn).expect("churn file");
                write_random(&mut file, 48 << 20, seed + run as u64);
                drop(file);
                host.create_backup(&name)
            }
            Operation::Restore => {
                empty_dir(&deployment.restored_objects());
                empty_dir(&deployment.restored_config());
                let (code, body) = host.restore("base", PASSCODE);
                assert_eq!(code, 200, "{body}");
                body["jobid"].as_str().expect("jobid").to_string()
            }
            Operation::Delete => {
                // A backup to delete, sharing most chunks with the others.
                host.backup_ok(&name);
                listed.insert(name.clone());
                let (code, body) = host.post(
                    &format!("/system/disasterrecovery/stores/default/backups/{name}/delete"),
                    &[("async", "true")],
                );
                assert_eq!(code, 200, "{body}");
                body["jobid"].as_str().expect("jobid").to_string()
            }
        };
        let kill_after = Duration::from_millis(rng.gen_range(0..1500));
        let started = Instant::now();
        std::thread::sleep(kill_after);
        host.restart();

        let (code, mut job) = host.get(&format!("/jobs/{jobid}"));
        assert_eq!(code, 200, "{job}");
        let mut resumed = false;
        if let Operation::Backup = operation
            && matches!(job["status"].as_str(), Some("SUBMITTED" | "EXECUTING"))
        {
            // An interrupted backup resumes under its job id and must complete.
            resumed = true;
            job = host.wait_job(&jobid, Duration::from_secs(300));
            assert_eq!(
                job["status"], "COMPLETED",
                "run {run}: resumed backup: {job}"
            );
        }
        let completed = match job["status"].as_str() {
            Some("COMPLETED") => true,
            Some("FAILED") => {
                let message = job["result"]["message"].as_str().unwrap_or_default();
                assert!(message.contains("host stopped"), "run {run}: {message}");
                false
            }
            other => panic!("run {run}: job neither finished nor failed ({other:?}): {job}"),
        };
        if resumed {
            resumed_runs += 1;
        } else if completed {
            finished_first += 1;
        } else {
            interrupted += 1;
        }
        match operation {
            Operation::Backup if completed => {
                listed.insert(name.clone());
            }
            Operation::Delete if completed => {
                listed.remove(&name);
            }
            _ => {}
        }

        // No half backup: what is listed is what completed (a delete that
        // was cut short may still list its backup, which must then be whole).
        let now: BTreeSet<String> = host.backup_names().into_iter().collect();
        if let Operation::Delete = operation
            && !completed
            && !now.contains(&name)
        {
            listed.remove(&name);
        }
        assert_eq!(
            now, listed,
            "run {run} ({operation:?}, killed after {kill_after:?})"
        );
        for backup in &now {
            let job = host.verify_job(backup);
            assert_eq!(
                job["status"], "COMPLETED",
                "run {run}: {backup} damaged: {job}"
            );
        }
        println!(
            "run {run}: {operation:?} killed after {} ms: {}",
            started.elapsed().as_millis(),
            if resumed {
                "resumed and completed"
            } else if completed {
                "had completed"
            } else {
                "interrupted"
            }
        );
    }

    empty_dir(&deployment.restored_objects());
    empty_dir(&deployment.restored_config());
    let job = host.restore_job("base");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_same_tree(&reference, &deployment.restored_objects());
    assert_same_tree(&deployment.config_dir(), &deployment.restored_config());
    println!(
        "kill -9: {runs} runs (seed {seed}), {interrupted} interrupted mid-operation, \
         {resumed_runs} backups resumed, {finished_first} finished first, 0 with data lost"
    );
}

/// Mounts a tmpfs of `mib` MiB at `dir` (the tests run as root in CI; a
/// machine that cannot mount fails here, with the reason).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u64) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            output.status.success(),
            "cannot mount a tmpfs for the disk-full test (needs root): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_store_fails_the_backup_cleanly_and_recovers_once_space_is_freed() {
    let deployment = Deployment::new();
    deployment.populate();
    let store_root = deployment.path().join("small-disk");
    let _tmpfs = Tmpfs::mount(&store_root, 24);
    let mut host = TestHost::start(
        &deployment,
        &deployment.config_toml("").replace(
            "plain_http = true\n",
            &format!(
                "plain_http = true\nstore_roots = [\"{}\"]\n",
                store_root.display()
            ),
        ),
    );
    let (code, body) = host.post(
        "/system/disasterrecovery/stores/register",
        &[
            ("storeName", "small"),
            ("settings", r#"{"type":"HOSTED"}"#),
            ("isDefault", "true"),
        ],
    );
    assert_eq!(code, 200, "{body}");
    host.store = "small".into();
    host.backup_ok("fits");

    let big = deployment.objects().join("big.bin");
    let mut file = std::fs::File::create(&big).expect("big");
    write_random(&mut file, 40 << 20, 5);
    drop(file);
    let jobid = host.create_backup("too-big");
    let job = host.wait_job(&jobid, Duration::from_secs(300));
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains("no space left"),
        "{message}"
    );
    assert_eq!(host.backup_names(), ["fits"], "a half backup is listed");
    // The failed backup's packs were collected: the space is back.
    let job = host.verify_job("fits");
    assert_eq!(job["status"], "COMPLETED", "{job}");

    std::fs::remove_file(&big).expect("remove big");
    host.backup_ok("after");
    empty_dir(&deployment.restored_objects());
    assert_eq!(host.restore_job("after")["status"], "COMPLETED");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    host.kill();
}
