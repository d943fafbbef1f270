//! Resumable backups: a backup interrupted by `kill -9` halfway resumes under
//! its job id when the host starts again and completes, writing less than
//! 60% of the data again, and restores byte-identically.
//!
//! What a crash costs is the data in flight, not yet in an uploaded pack:
//! the stream from the plugin, the segment being filled and the one being
//! cut, chunk jobs, the open pack and unfinished uploads, 60–105 MB whatever
//! the backup's size (`docs/repository.md` §13.1). 1.5 GiB of data keeps
//! that well under the 10% the acceptance criterion leaves: with 1 GiB the
//! resumed run wrote 55.8–60.0% again, and CI once failed at 60.0%.

use crate::support;

use std::time::{Duration, Instant};

use support::tree::{assert_same_tree, write_random};
use support::{Deployment, TestHost, disk_usage, message_codes};

const MIB: u64 = 1 << 20;
/// Incompressible data to back up, over a few files.
const FILES: u64 = 24;
const FILE_SIZE: u64 = 64 * MIB;

/// Polls the job until its object-store stage has streamed `bytes`.
fn wait_for_progress(host: &TestHost, jobid: &str, bytes: u64) -> u64 {
    let start = Instant::now();
    loop {
        let (_, job) = host.get(&format!("/jobs/{jobid}"));
        assert_ne!(
            job["status"], "COMPLETED",
            "the backup finished before it could be killed"
        );
        assert_ne!(job["status"], "FAILED", "{job}");
        let done = job["progress"]["stages"][1]["bytesDone"]
            .as_u64()
            .unwrap_or(0);
        if done >= bytes {
            return done;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "no progress: {job}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_backup_killed_halfway_resumes_and_writes_less_than_60_percent_again() {
    let deployment = Deployment::new();
    deployment.populate();
    let big = deployment.objects().join("big");
    std::fs::create_dir_all(&big).expect("big dir");
    for i in 0..FILES {
        let mut file = std::fs::File::create(big.join(format!("part-{i}.bin"))).expect("file");
        write_random(&mut file, FILE_SIZE, 1000 + i);
    }
    let data = FILES * FILE_SIZE;
    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));

    let jobid = host.create_backup("resumed");
    let done = wait_for_progress(&host, &jobid, data / 2);
    host.kill();
    let at_kill = disk_usage(&deployment.store_dir());
    assert_eq!(deployment.journals().len(), 1, "the job has a journal");
    host.restart();

    let job = host.wait_job(&jobid, Duration::from_secs(600));
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let written_again = disk_usage(&deployment.store_dir()) - at_kill;
    let status = host.status();
    let codes = message_codes(&status);
    assert!(
        codes.contains(&9003) && codes.contains(&4015),
        "no resume messages: {status}"
    );
    let share = written_again as f64 / data as f64;
    println!(
        "killed at {:.0}% ({done} of {data} bytes streamed), store had {at_kill} bytes; \
         the resumed run wrote {written_again} bytes = {:.1}% of the data",
        done as f64 * 100.0 / data as f64,
        share * 100.0
    );
    assert!(
        share < 0.6,
        "the resumed run wrote {:.1}% again",
        share * 100.0
    );
    assert!(
        deployment.journals().is_empty(),
        "the journal was not removed"
    );
    assert_eq!(host.backup_names(), ["resumed"]);

    let job = host.restore_job("resumed");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    assert_same_tree(&deployment.config_dir(), &deployment.restored_config());
}

/// A resumed backup that is interrupted again resumes again, with everything
/// both earlier runs stored.
#[test]
fn a_backup_interrupted_twice_resumes_twice_and_restores() {
    let deployment = Deployment::new();
    deployment.populate();
    let big = deployment.objects().join("big");
    std::fs::create_dir_all(&big).expect("big dir");
    for i in 0..4 {
        let mut file = std::fs::File::create(big.join(format!("part-{i}.bin"))).expect("file");
        write_random(&mut file, FILE_SIZE, 2000 + i);
    }
    let data = 4 * FILE_SIZE;
    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));

    let jobid = host.create_backup("twice");
    wait_for_progress(&host, &jobid, data * 3 / 10);
    host.restart();
    let first_resume = disk_usage(&deployment.store_dir());
    wait_for_progress(&host, &jobid, data * 7 / 10);
    host.restart();
    assert!(
        disk_usage(&deployment.store_dir()) > first_resume,
        "the first resumed run stored nothing"
    );
    let job = host.wait_job(&jobid, Duration::from_secs(600));
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let resumes = message_codes(&host.status())
        .iter()
        .filter(|&&c| c == 9003)
        .count();
    assert_eq!(resumes, 2, "{job}");
    assert!(deployment.journals().is_empty());

    let job = host.restore_job("twice");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
}
