//! Back up a deployment through the API, restore it into empty targets, and
//! compare the trees exactly; a second backup of unchanged data deduplicates.

use crate::support;

use std::time::Duration;

use support::tree::assert_same_tree;
use support::{Deployment, TestHost, disk_usage, message_codes};

#[test]
fn backup_then_restore_into_empty_targets_reproduces_every_entry() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));

    let before = host.status();
    assert_eq!(
        before,
        serde_json::json!({"code": 0, "messages": [], "state": "no_op"})
    );

    let job = host.backup_ok("first");
    let stages = job["result"]["stages"].as_array().expect("stages");
    let names: Vec<&str> = stages.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "Validation",
            "Stage Object store",
            "Stage system configuration",
            "Post backup operation cleanup"
        ]
    );

    let status = host.status();
    assert_eq!(status["state"], "success", "{status}");
    assert_eq!(status["operation"], "Backup");
    assert_eq!(status["backupName"], "first");
    assert_eq!(status["backupStore"], "default");
    assert!(
        status["overallDuration"]
            .as_str()
            .is_some_and(|d| d.ends_with("millisec"))
    );
    for stage in status["stages"].as_array().expect("stages") {
        assert_eq!(stage["state"], "completed", "{stage}");
        assert!(
            stage["duration"]
                .as_str()
                .is_some_and(|d| d.contains(" millis (~ ")),
            "{stage}"
        );
    }
    let codes = message_codes(&status);
    for expected in [4014, 4019, 4021, 4023, 4025, 4027, 4028] {
        assert!(
            codes.contains(&expected),
            "message code {expected} missing: {codes:?}"
        );
    }

    assert_eq!(host.backup_names(), ["first"]);
    let (code, backup) = host.get("/system/disasterrecovery/stores/default/backups/first");
    assert_eq!(code, 200, "{backup}");
    assert_eq!(backup["status"], "completed");
    assert_eq!(backup["retentionDate"], -1);

    let restore = host.restore_job("first");
    assert_eq!(restore["status"], "COMPLETED", "{restore}");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    assert_same_tree(&deployment.config_dir(), &deployment.restored_config());
    let status = host.status();
    assert_eq!(status["operation"], "Restore");
    assert_eq!(status["state"], "success", "{status}");
}

#[test]
fn second_backup_of_unchanged_data_writes_under_five_percent_new_bytes() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));

    let empty = disk_usage(&deployment.store_dir());
    host.backup_ok("monday");
    let first = disk_usage(&deployment.store_dir()) - empty;
    let job = host.backup_ok("tuesday");
    let second = disk_usage(&deployment.store_dir()) - empty - first;
    // The object store stage's files were taken over unread (config-fs
    // digests every file, so it never asks).
    let messages = job["messages"].to_string();
    let persisted = messages
        .split("Persisted backup results: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no results message in {messages}"));
    assert!(
        persisted.contains(" unchanged files taken over"),
        "{persisted}"
    );
    assert!(!persisted.contains(" of 0 unchanged files"), "{persisted}");
    println!("first backup stored {first} bytes, second {second} bytes");
    assert!(first > 5 << 20, "first backup stored only {first} bytes");
    assert!(
        second * 20 < first,
        "second backup stored {second} bytes, not under 5% of {first}"
    );
    // The dedup index is cached in the state dir, one private file per key.
    let cache = deployment.state().join("index-cache/default");
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap_or_else(|e| panic!("{}: {e}", cache.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0].extension().is_some_and(|x| x == "idx"),
        "{files:?}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&files[0])
            .expect("index file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // Both restore; deleting one keeps the other whole.
    let (code, body) = host.post(
        "/system/disasterrecovery/stores/default/backups/monday/delete",
        &[],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(host.backup_names(), ["tuesday"]);
    let restore = host.restore_job("tuesday");
    assert_eq!(restore["status"], "COMPLETED", "{restore}");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
}

#[test]
fn job_state_survives_a_restart() {
    let deployment = Deployment::new();
    deployment.populate();
    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));
    let job = host.backup_ok("kept");
    let jobid = job["jobid"].as_str().expect("jobid").to_string();
    host.restart();
    let job = host.wait_job(&jobid, Duration::from_secs(5));
    assert_eq!(job["status"], "COMPLETED");
    assert_eq!(host.status()["backupName"], "kept");
    assert_eq!(host.backup_names(), ["kept"]);
}

/// Every stage of a finished job reports its totals, throughput and ETA; a
/// restore's data stages know their totals from the backup.
#[test]
fn finished_jobs_report_totals_throughput_and_eta() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    let backup = host.backup_ok("sized");
    let restore = host.restore_job("sized");
    assert_eq!(restore["status"], "COMPLETED", "{restore}");
    for job in [&backup, &restore] {
        for stage in job["result"]["stages"].as_array().expect("stages") {
            assert_eq!(stage["state"], "completed", "{stage}");
            assert_eq!(stage["bytesTotal"], stage["bytesDone"], "{stage}");
            assert_eq!(stage["itemsTotal"], stage["itemsDone"], "{stage}");
            assert_eq!(stage["etaSeconds"], 0, "{stage}");
            assert!(stage.get("bytesPerSecond").is_some(), "{stage}");
        }
        let data = &job["result"]["stages"][1];
        assert_eq!(data["name"], "Stage Object store");
        assert!(data["bytesDone"].as_u64().is_some_and(|b| b > 0), "{data}");
    }
    // The restore moved exactly what the backup recorded.
    assert_eq!(
        backup["result"]["stages"][1]["bytesDone"],
        restore["result"]["stages"][1]["bytesDone"]
    );
    let status = host.status();
    let stage = &status["stages"][1];
    assert!(stage["bytesTotal"].as_u64().is_some(), "{status}");
    assert!(
        stage["bytesPerSecond"].is_u64() || stage["bytesPerSecond"].is_null(),
        "{status}"
    );
}

/// A large file rewritten in part between two backups: the second backup
/// cuts it where the first did wherever its chunks are unchanged (the job
/// says how many bytes that was), and it restores exactly.
#[test]
fn a_partly_rewritten_large_file_is_cut_as_before_and_restores_exactly() {
    use rand::{RngCore, SeedableRng};
    const MIB: usize = 1 << 20;
    let deployment = Deployment::new();
    deployment.populate();
    let big = deployment.objects().join("big.bin");
    let mut data = vec![0u8; 24 * MIB];
    rand::rngs::StdRng::seed_from_u64(19).fill_bytes(&mut data);
    std::fs::write(&big, &data).expect("write big file");
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("monday");

    rand::rngs::StdRng::seed_from_u64(20).fill_bytes(&mut data[12 * MIB..13 * MIB]);
    std::fs::write(&big, &data).expect("rewrite big file");
    let job = host.backup_ok("tuesday");
    let messages = job["messages"].to_string();
    let cut_as_before: u64 = messages
        .split(" bytes read (")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no results message in {messages}"));
    // The rewritten MiB spoils the chunks it touches and at most the one
    // after (4 MiB each at most).
    assert!(
        cut_as_before >= (data.len() - 12 * MIB) as u64,
        "only {cut_as_before} bytes cut as before: {messages}"
    );

    let restore = host.restore_job("tuesday");
    assert_eq!(restore["status"], "COMPLETED", "{restore}");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
}
