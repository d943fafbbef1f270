//! Crash-consistent stage sets: a backup whose stage fails is committed with
//! its complete stages as a *partial* backup, listed as such with the failed
//! stage named; restoring it is refused unless the request says
//! `partial=true`, and then restores only the complete stages.

use crate::support;

use std::time::Duration;

use support::hostile::{hostile_stage, run_hostile_backup};
use support::tree::assert_same_tree;
use support::{Deployment, PASSCODE, TestHost, message_codes};

#[test]
fn a_failed_stage_leaves_a_partial_backup_restored_only_on_request() {
    let deployment = Deployment::new();
    deployment.populate();
    // The hostile stage runs last and fails at its CPU limit.
    let config = deployment.config_toml(&hostile_stage(
        "testing_spin_forever",
        "{ cpu_seconds = 2, wall_seconds = 30 }",
        "",
    ));
    let host = TestHost::start(&deployment, &config);

    let (job, _) = run_hostile_backup(&host, "half");
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Stage hostile"), "{message}");
    assert!(message.contains("partial backup 'half'"), "{message}");
    assert!(message_codes(&host.status()).contains(&4029));

    let backups = host.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = &backups[0];
    assert_eq!(backup["status"], "partial", "{backup}");
    let stages: Vec<(String, String)> = backup["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("Stage Object store".to_string(), "completed".to_string()),
            ("Stage system configuration".into(), "completed".into()),
            ("Stage hostile".into(), "failed".into()),
        ]
    );

    // Refused without partial=true, in the API's error format, before any job.
    let (code, body) = host.restore("half", PASSCODE);
    assert_eq!(code, 400, "{body}");
    let error = body["error"]["message"].as_str().unwrap_or_default();
    assert!(error.contains("partial=true"), "{body}");
    assert!(error.contains("Stage hostile"), "{body}");
    assert!(
        !deployment.restored_objects().exists(),
        "restore touched a target"
    );

    let (code, body) = host.post(
        "/system/disasterrecovery/stores/default/backups/half/restore",
        &[("passcode", PASSCODE), ("partial", "true")],
    );
    assert_eq!(code, 200, "{body}");
    let job = host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(300),
    );
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["result"]["state"], "completed_with_warnings", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Stage hostile"), "{message}");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    assert_same_tree(&deployment.config_dir(), &deployment.restored_config());
}
