//! `kill -9` of the host in the middle of a backup loses nothing: earlier
//! backups still restore byte-identically and no half backup is listed. With
//! resumption turned off (the DR setting `resumeInterruptedBackups`, or
//! `resume_interrupted_backups = false` in the configuration file) the
//! interrupted job reads failed with the reason and keeps no journal; with it
//! on, see `tests/resume.rs`.

use crate::support;

use std::time::{Duration, Instant};

use support::tree::{assert_same_tree, pseudo_random};
use support::{Deployment, TestHost};

#[derive(Clone, Copy)]
enum KillWhen {
    /// The store holds this many more packs than when the backup began.
    PacksWritten(usize),
    /// The object-store stage has reported streamed bytes.
    StageProgress,
}

#[test]
fn kill_9_mid_backup_keeps_earlier_backups_and_fails_the_job_when_resumption_is_off() {
    let deployment = Deployment::new();
    deployment.populate();
    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));
    let (code, body) = host.post(
        "/system/disasterrecovery/settings/update",
        &[("settings", r#"{"resumeInterruptedBackups": false}"#)],
    );
    assert_eq!(code, 200, "{body}");
    host.backup_ok("before-crash");

    // Enough new data that the next backup is still running when it is killed;
    // the directory's mtime is put back afterwards so the trees compare.
    let data_dir = deployment.objects().join("data");
    let data_mtime = std::fs::metadata(&data_dir)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::write(
        deployment.objects().join("data/large.bin"),
        pseudo_random(99, 384 << 20),
    )
    .expect("write large file");

    // Two points of a running backup: while the large file streams into
    // packs, and as soon as the stage reports its first bytes (just after the
    // large file). Neither is a delay, which a faster pipeline outruns.
    let packs = || {
        support::files_under(&deployment.store_dir())
            .iter()
            .filter(|p| p.starts_with("packs"))
            .count()
    };
    for (round, kill_when) in [KillWhen::PacksWritten(3), KillWhen::StageProgress]
        .into_iter()
        .enumerate()
    {
        let name = format!("interrupted-{round}");
        let packs_before = packs();
        let jobid = host.create_backup(&name);
        let start = Instant::now();
        loop {
            let (_, job) = host.get(&format!("/jobs/{jobid}"));
            assert_ne!(
                job["status"], "COMPLETED",
                "backup finished before it could be killed"
            );
            let due = match kill_when {
                KillWhen::PacksWritten(n) => packs() >= packs_before + n,
                KillWhen::StageProgress => {
                    job["progress"]["stages"][1]["bytesDone"]
                        .as_u64()
                        .unwrap_or(0)
                        > 0
                }
            };
            if due {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no progress: {job}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        host.kill();
        assert!(
            deployment.journals().is_empty(),
            "a journal was written with resumption off"
        );
        host.restart();

        let (code, job) = host.get(&format!("/jobs/{jobid}"));
        assert_eq!(code, 200, "{job}");
        assert_eq!(job["status"], "FAILED", "{job}");
        let message = job["result"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("host stopped"), "{message}");
        let status = host.status();
        assert_eq!(status["state"], "failed", "{status}");
        assert_eq!(
            host.backup_names(),
            ["before-crash"],
            "a half backup is listed"
        );
    }

    let job = host.restore_job("before-crash");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    std::fs::remove_file(data_dir.join("large.bin")).expect("remove large file");
    std::fs::File::open(&data_dir)
        .and_then(|d| d.set_modified(data_mtime))
        .expect("restore mtime");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    assert_same_tree(&deployment.config_dir(), &deployment.restored_config());
}

/// `resume_interrupted_backups = false` in the configuration file turns
/// resumption off whatever the DR setting says.
#[test]
fn the_configuration_file_can_turn_resumption_off() {
    let deployment = Deployment::new();
    deployment.populate();
    std::fs::write(
        deployment.objects().join("large.bin"),
        pseudo_random(7, 256 << 20),
    )
    .expect("write large file");
    let config = deployment.config_toml("").replace(
        "plain_http = true\n",
        "plain_http = true\nresume_interrupted_backups = false\n",
    );
    let mut host = TestHost::start(&deployment, &config);
    let jobid = host.create_backup("cut-short");
    let start = Instant::now();
    loop {
        let (_, job) = host.get(&format!("/jobs/{jobid}"));
        assert_ne!(job["status"], "COMPLETED", "backup finished too soon");
        if job["progress"]["stages"][1]["bytesDone"]
            .as_u64()
            .unwrap_or(0)
            > 0
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    host.kill();
    assert!(deployment.journals().is_empty(), "a journal was written");
    host.restart();
    let (_, job) = host.get(&format!("/jobs/{jobid}"));
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(host.backup_names().is_empty(), "a half backup is listed");
}
