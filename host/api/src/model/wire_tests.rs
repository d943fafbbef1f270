//! The names on the wire that the Rust names do not spell out: a rename here
//! breaks clients, so each is pinned.

use serde_json::{Value, json};

use super::*;

fn json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("json")
}

#[test]
fn job_states_and_timestamps_use_the_reference_names() {
    assert_eq!(json(&JobState::TimedOut), "TIMED OUT");
    assert_eq!(json(&JobState::Submitted), "SUBMITTED");
    assert_eq!(
        json(&Outcome::CompletedWithWarnings),
        "completed_with_warnings"
    );
    assert_eq!(json(&Operation::DeleteBackup), "DeleteBackup");
    let job = Job {
        jobid: "j1".into(),
        status: JobState::Executing,
        operation: Operation::Backup,
        start_time: 1,
        end_time: 0,
        updated_time: 2,
        operation_uri: "/arcgis/admin".into(),
        username: "admin".into(),
        messages: vec![],
        progress: JobProgress { stages: vec![] },
        result: None,
    };
    let view = json(&job);
    for field in ["starttime", "endtime", "updatedtime", "operationURI"] {
        assert!(view.get(field).is_some(), "{field} missing from {view}");
    }
    // An unfinished job has no `result` at all.
    assert!(view.get("result").is_none());
}

#[test]
fn the_idle_status_is_no_op() {
    assert_eq!(
        json(&DrStatus::no_op()),
        json!({"code": 0, "messages": [], "state": "no_op"})
    );
}

#[test]
fn incomplete_stages_show_no_totals() {
    let stage = BackupStage {
        name: "s".into(),
        plugin: "p".into(),
        done: None,
        status: "failed".into(),
    };
    assert_eq!(
        json(&stage),
        json!({"name": "s", "plugin": "p", "status": "failed"})
    );
    let row: BackupRow = serde_json::from_value(json!({
        "backupName": null, "name": null, "backupStore": "s", "status": "tampered",
        "problem": "missing", "object": "o", "message": "m"}))
    .expect("row");
    assert!(matches!(row, BackupRow::Tampered(_)));
}

#[test]
fn settings_leave_out_an_unset_staging_volume() {
    let settings = DrSettings {
        timeout_in_seconds: 60,
        resume_interrupted_backups: true,
        staging_volume_config: None,
    };
    assert_eq!(
        json(&settings),
        json!({"timeoutInSeconds": 60, "resumeInterruptedBackups": true})
    );
}
