//! Backup schedules (`/system/tasks`, spec §8) and retention, through the
//! API: scheduled backups are named `<prefix>-YYYY-MM-DD-HH-MM-SS` and report
//! `SCHEDULED`; a slot missed while the host was down runs once at start;
//! the retention cleaner removes expired backups, frees their chunks and
//! lists what it removed.

use crate::support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Deployment, PASSCODE, TestHost};

const TASKS: &str = "/system/tasks";
const CLEANER: &str = "00000000000000000000000000000001";

fn config(deployment: &Deployment) -> String {
    deployment.config_toml("").replace(
        "plain_http = true\n",
        "plain_http = true\nscheduler_tick_seconds = 0.3\n",
    )
}

fn create_task(host: &TestHost, parameters: Value, minute: &str) -> String {
    let (code, body) = host.post(
        &format!("{TASKS}/createTask"),
        &[
            ("type", "CreateBackup"),
            ("title", "Nightly"),
            ("parameters", &parameters.to_string()),
            ("minute", minute),
            ("hour", "*"),
            ("dayOfMonth", "*"),
            ("month", "*"),
            ("dayOfWeek", "?"),
        ],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["success"], true, "{body}");
    body["taskId"].as_str().expect("taskId").to_string()
}

/// Starts a run now and waits for its job.
fn run_now(host: &TestHost, task: &str) -> Value {
    let (code, run) = host.post(&format!("{TASKS}/{task}/run"), &[]);
    assert_eq!(code, 200, "{run}");
    let jobid = run["jobid"]
        .as_str()
        .unwrap_or_else(|| panic!("no job: {run}"));
    host.wait_job(jobid, Duration::from_secs(120))
}

#[test]
fn a_schedule_makes_named_scheduled_backups_and_keeps_its_passcode_hidden() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &config(&deployment));
    // A minute that is not now, so only run-now fires during the test.
    let task = create_task(
        &host,
        json!({"name": "nightly", "passcode": PASSCODE, "storeName": "default",
               "description": "scheduled", "metaData": {"retention": {"type": "day", "value": 14}}}),
        "0",
    );
    let (code, shown) = host.get(&format!("{TASKS}/{task}"));
    assert_eq!(code, 200, "{shown}");
    assert_eq!(shown["taskType"], "CreateBackup");
    assert_eq!(shown["taskState"], "active");
    assert_eq!(shown["cronExpression"], "0 0 * * * ?");
    assert!(!shown.to_string().contains(PASSCODE), "{shown}");
    let state = std::fs::read_to_string(deployment.state().join("tasks.json")).expect("tasks");
    assert!(!state.contains(PASSCODE), "the passcode is stored in clear");

    let job = run_now(&host, &task);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let (_, backups) = host.get("/system/disasterrecovery/stores/default/backups");
    let backup = &backups["backups"][0];
    let name = backup["backupName"].as_str().expect("name");
    assert!(
        name.starts_with("nightly-") && name.len() == "nightly-".len() + 19,
        "{name}"
    );
    assert_eq!(backup["scheduleType"], "SCHEDULED", "{backup}");
    let retention = backup["retentionDate"].as_i64().expect("retention");
    assert!(retention > 0, "{backup}");
    assert_eq!(host.status()["scheduleType"], "SCHEDULED");
    let (_, runs) = host.get(&format!("{TASKS}/{task}/runs"));
    assert_eq!(runs["runs"][0]["status"], "succeeded", "{runs}");

    // Disable, update, delete.
    let (code, _) = host.post(&format!("{TASKS}/{task}/disable"), &[]);
    assert_eq!(code, 200);
    assert_eq!(
        host.get(&format!("{TASKS}/{task}")).1["taskState"],
        "paused"
    );
    let (code, body) = host.post(&format!("{TASKS}/{task}/update"), &[("hour", "25")]);
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("hour"),
        "{body}"
    );
    let (code, _) = host.post(&format!("{TASKS}/{task}/delete"), &[]);
    assert_eq!(code, 200);
    assert_eq!(host.get(&format!("{TASKS}/{task}")).0, 404);
    // Bad input is refused with the field named.
    let (code, body) = host.post(
        &format!("{TASKS}/createTask"),
        &[
            ("type", "CreateBackup"),
            ("parameters", "{\"name\":\"x\"}"),
            ("minute", "0"),
            ("hour", "*"),
            ("dayOfMonth", "*"),
            ("month", "*"),
            ("dayOfWeek", "?"),
        ],
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("passcode"), "{body}");
}

#[test]
fn a_slot_missed_while_the_host_was_down_runs_once_at_start() {
    let deployment = Deployment::new();
    deployment.populate();
    let mut host = TestHost::start(&deployment, &config(&deployment));
    // Hourly, at a minute that passed half an hour ago.
    let now_min = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / 60) as i64;
    let minute = (now_min - 30).rem_euclid(60).to_string();
    let task = create_task(
        &host,
        json!({"name": "missed", "passcode": PASSCODE}),
        &minute,
    );
    host.kill();
    // The host was down for five hours: five slots passed.
    let path = deployment.state().join("tasks.json");
    let mut tasks: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("tasks")).expect("json");
    for t in tasks.as_array_mut().expect("array") {
        if t["id"] == task.as_str() {
            let checked = t["checkedUntil"].as_i64().expect("checkedUntil");
            t["checkedUntil"] = json!(checked - 5 * 3_600_000);
        }
    }
    std::fs::write(&path, serde_json::to_vec(&tasks).expect("json")).expect("write");
    host.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let (_, runs) = host.get(&format!("{TASKS}/{task}/runs"));
        let list = runs["runs"].as_array().cloned().unwrap_or_default();
        if list.iter().any(|r| r["status"] == "succeeded") {
            break list;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run at start: {runs}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(1));
    let (_, again) = host.get(&format!("{TASKS}/{task}/runs"));
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(again["runs"].as_array().map(Vec::len), Some(1), "{again}");
    assert_eq!(host.backup_names().len(), 1);
}

#[test]
fn the_retention_cleaner_removes_expired_backups_and_says_which() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &config(&deployment));
    host.backup_ok("kept");
    let soon = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 1500)
        .to_string();
    let (code, body) = host.post(
        "/system/disasterrecovery/stores/default/backups/create",
        &[
            ("name", "short-lived"),
            ("passcode", PASSCODE),
            ("retentionDate", &soon),
        ],
    );
    assert_eq!(code, 200, "{body}");
    host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(120),
    );
    // A schedule that keeps its newest two backups.
    let task = create_task(
        &host,
        json!({"name": "rolling", "passcode": PASSCODE, "metaData": {"retention": {"type": "count", "value": 2}}}),
        "0",
    );
    let mut rolling = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1100)); // names have one-second resolution
        let job = run_now(&host, &task);
        assert_eq!(job["status"], "COMPLETED", "{job}");
        rolling.push(
            job["result"]["backupName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    std::thread::sleep(Duration::from_millis(1600));
    let job = run_now(&host, CLEANER);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let messages = job["messages"].to_string();
    assert!(
        messages.contains("Removed backup 'short-lived'"),
        "{messages}"
    );
    assert!(
        messages.contains(&format!("Removed backup '{}'", rolling[0])),
        "{messages}"
    );
    assert!(messages.contains("removed 2 backup(s)"), "{messages}");
    let mut names = host.backup_names();
    names.sort();
    let mut expected = vec!["kept".to_string(), rolling[1].clone(), rolling[2].clone()];
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(host.restore_job("kept")["status"], "COMPLETED");
}

/// A schedule must name a registered store: `createTask` and `update` refuse
/// one that does not exist, rather than a task that fails at every run.
#[test]
fn a_schedule_for_a_store_that_does_not_exist_is_refused() {
    let deployment = Deployment::new();
    let host = TestHost::start(&deployment, &config(&deployment));
    let form = |parameters: &Value| {
        vec![
            ("type", "CreateBackup".to_string()),
            ("parameters", parameters.to_string()),
            ("minute", "0".to_string()),
            ("hour", "2".to_string()),
            ("dayOfMonth", "*".to_string()),
            ("month", "*".to_string()),
            ("dayOfWeek", "?".to_string()),
        ]
    };
    let post = |path: &str, parameters: &Value| {
        let fields = form(parameters);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        host.post(path, &fields)
    };
    let missing = json!({"name": "nightly", "passcode": PASSCODE, "storeName": "no-such-store"});
    let (code, body) = post(&format!("{TASKS}/createTask"), &missing);
    assert_ne!(code, 200, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'no-such-store' does not exist"),
        "{message}"
    );
    let (_, tasks) = host.get(TASKS);
    assert_eq!(
        tasks["result"].as_array().map(Vec::len),
        Some(1),
        "only the retention cleaner: {tasks}"
    );

    let task = create_task(
        &host,
        json!({"name": "nightly", "passcode": PASSCODE, "storeName": "default"}),
        "0",
    );
    let (code, body) = post(&format!("{TASKS}/{task}/update"), &missing);
    assert_ne!(code, 200, "{body}");
    let (_, shown) = host.get(&format!("{TASKS}/{task}"));
    assert_eq!(shown["parameters"]["storeName"], "default", "{shown}");
}
