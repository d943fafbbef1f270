//! Running jobs with a hostile stage: the stage's configuration, and a job
//! watched through the API all along, to prove the host stays responsive
//! while the plugin misbehaves.

use std::time::{Duration, Instant};

use drhost::plugins::built_component;
use serde_json::Value;

use super::TestHost;

/// A `[[stage]]` named "Stage hostile" running test plugin `plugin` (file
/// stem) under `limits` (a TOML inline table), plus `extra` keys.
pub fn hostile_stage(plugin: &str, limits: &str, extra: &str) -> String {
    format!(
        r#"
[[stage]]
name = "Stage hostile"
plugin = "{}"
limits = {limits}
{extra}
"#,
        built_component(plugin).display()
    )
}

/// Runs a backup (whose last stage is hostile); returns the finished job and
/// how long it took.
pub fn run_hostile_backup(host: &TestHost, name: &str) -> (Value, Duration) {
    let start = Instant::now();
    let jobid = host.create_backup(name);
    (watch_job(host, &jobid), start.elapsed())
}

/// Runs a restore of `backup`; returns the finished job.
pub fn run_hostile_restore(host: &TestHost, backup: &str) -> Value {
    let (code, body) = host.restore(backup, super::PASSCODE);
    assert_eq!(code, 200, "restore {backup}: {body}");
    watch_job(host, body["jobid"].as_str().expect("jobid"))
}

/// Polls the job and the DR status until the job ends; every answer must
/// come within a second.
pub fn watch_job(host: &TestHost, jobid: &str) -> Value {
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let job = loop {
        let asked = Instant::now();
        let (code, job) = host.get(&format!("/jobs/{jobid}"));
        let (status_code, _) = host.get("/system/disasterrecovery/status");
        slowest = slowest.max(asked.elapsed());
        assert_eq!((code, status_code), (200, 200));
        if job["status"] == "FAILED" || job["status"] == "COMPLETED" {
            break job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "job never ended: {job}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        slowest < Duration::from_secs(1),
        "API stalled for {slowest:?}"
    );
    job
}

/// A failed hostile stage keeps the stages that completed before it as
/// partial backups: every listed backup must be one, without the hostile stage.
pub fn assert_only_partial_backups(host: &TestHost) {
    for backup in host.backups() {
        assert_eq!(backup["status"], "partial", "{backup}");
        let hostile = backup["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .find(|s| s["name"] == "Stage hostile")
            .cloned()
            .unwrap_or_default();
        assert_eq!(hostile["status"], "failed", "{backup}");
    }
}

/// The job's failure message (`result.message`).
pub fn failure(job: &Value) -> String {
    assert_eq!(job["status"], "FAILED", "{job}");
    job["result"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
