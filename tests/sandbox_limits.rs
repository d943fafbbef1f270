//! Hostile plugins: one that never stops computing and one that allocates
//! without bound each fail their stage within the configured limits, while the
//! host keeps serving requests and later jobs succeed.

use crate::support;

use std::time::Duration;

use support::hostile::{assert_only_partial_backups, hostile_stage, run_hostile_backup};
use support::{Deployment, TestHost};

#[test]
fn a_plugin_that_loops_forever_fails_at_its_cpu_limit() {
    let deployment = Deployment::new();
    deployment.populate();
    let config = deployment.config_toml(&hostile_stage(
        "testing_spin_forever",
        "{ cpu_seconds = 2, wall_seconds = 30 }",
        "",
    ));
    let host = TestHost::start(&deployment, &config);

    let (job, took) = run_hostile_backup(&host, "looping");
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Stage hostile"), "{message}");
    assert!(message.to_lowercase().contains("cpu"), "{message}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let status = host.status();
    assert_eq!(status["state"], "failed");
    let failed: Vec<_> = status["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter(|s| s["state"] == "failed")
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(failed, ["Stage hostile"], "{status}");
    // The stages before it were committed as a partial backup, without it.
    assert_eq!(host.backup_names(), ["looping"]);
    assert_only_partial_backups(&host);
}

#[test]
fn a_plugin_that_allocates_without_bound_fails_at_its_memory_limit() {
    let deployment = Deployment::new();
    deployment.populate();
    let config = deployment.config_toml(&hostile_stage(
        "testing_alloc_bomb",
        "{ memory_mib = 64, cpu_seconds = 30, wall_seconds = 30 }",
        "",
    ));
    let host = TestHost::start(&deployment, &config);

    let (job, took) = run_hostile_backup(&host, "bomb");
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.to_lowercase().contains("memory"), "{message}");
    assert!(message.contains("64 MiB"), "{message}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn only_one_dr_job_runs_at_a_time() {
    let deployment = Deployment::new();
    deployment.populate();
    let config = deployment.config_toml(&hostile_stage(
        "testing_spin_forever",
        "{ cpu_seconds = 3, wall_seconds = 30 }",
        "",
    ));
    let host = TestHost::start(&deployment, &config);
    let first = host.create_backup("one");
    let (code, body) = host.post(
        "/system/disasterrecovery/stores/default/backups/create",
        &[("name", "two"), ("passcode", support::PASSCODE)],
    );
    assert_eq!(code, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&first), "{message}");
    let job = host.wait_job(&first, Duration::from_secs(60));
    assert_eq!(job["status"], "FAILED");
}
