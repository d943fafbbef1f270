//! Renders job records as the reference API's `jobs/<id>` and
//! `disasterrecovery/status` objects (spec §6 and §7).

use serde_json::{Value, json};

use crate::clock::now_ms;
use crate::jobs::{JobRecord, JobStatus, Operation, StageProgress, StageState};
use crate::progress;

/// `status.code` values. Only 0 (`no_op`) and 3 (finished) are documented;
/// the others are drhost's choice.
mod status_code {
    pub const NO_OP: u32 = 0;
    pub const IN_PROGRESS: u32 = 1;
    pub const FINISHED: u32 = 3;
    pub const FAILED: u32 = 4;
}

/// `"3096 millis (~ 0 minutes)"`.
pub fn stage_duration(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{ms} millis (~ {} minutes)", ms / 60_000)
}

/// `"00hr:01min:04sec:221millisec"`.
pub fn overall_duration(ms: i64) -> String {
    let ms = ms.max(0);
    format!(
        "{:02}hr:{:02}min:{:02}sec:{:03}millisec",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn stage_state(state: StageState) -> &'static str {
    match state {
        StageState::Pending => "pending",
        StageState::Running => "running",
        StageState::Completed => "completed",
        StageState::Failed => "failed",
        StageState::Skipped => "skipped",
    }
}

fn stage_view(stage: &StageProgress) -> Value {
    let elapsed = match (stage.started, stage.ended) {
        (0, _) => 0,
        (started, 0) => now_ms() - started,
        (started, ended) => ended - started,
    };
    let finished = matches!(stage.state, StageState::Completed | StageState::Skipped);
    let rates = progress::rates(stage.bytes, stage.bytes_total, elapsed, finished);
    json!({
        "name": stage.name,
        "state": stage_state(stage.state),
        "duration": stage_duration(elapsed),
        "lastUpdated": stage.last_updated,
        "bytesDone": stage.bytes,
        "itemsDone": stage.items,
        "bytesTotal": stage.bytes_total,
        "itemsTotal": stage.items_total,
        "bytesPerSecond": rates.bytes_per_second,
        "etaSeconds": rates.eta_seconds,
    })
}

fn operation_name(op: Operation) -> &'static str {
    match op {
        Operation::Backup => "Backup",
        Operation::Restore => "Restore",
        Operation::DeleteBackup => "DeleteBackup",
        Operation::VerifyBackup => "VerifyBackup",
        Operation::RetentionCleanup => "RetentionCleanup",
        Operation::RegisterStore => "RegisterStore",
    }
}

/// `state` of the status and of a finished job's `result`.
fn outcome(job: &JobRecord) -> &'static str {
    match job.status {
        JobStatus::Submitted | JobStatus::Executing => "in_progress",
        JobStatus::Completed if job.warnings.is_empty() => "success",
        JobStatus::Completed => "completed_with_warnings",
        JobStatus::Failed | JobStatus::TimedOut => "failed",
    }
}

/// The failure, or the warnings of a job that completed with warnings.
fn outcome_message(job: &JobRecord) -> String {
    match &job.failure {
        Some(failure) => failure.clone(),
        None => job.warnings.join(" "),
    }
}

/// The `status` object (without the `{"status": ...}` wrapper).
pub fn dr_status(last: Option<&JobRecord>) -> Value {
    let Some(job) = last else {
        return json!({"code": status_code::NO_OP, "messages": [], "state": "no_op"});
    };
    let code = match job.status {
        JobStatus::Submitted | JobStatus::Executing => status_code::IN_PROGRESS,
        JobStatus::Completed => status_code::FINISHED,
        JobStatus::Failed | JobStatus::TimedOut => status_code::FAILED,
    };
    let end = if job.endtime > 0 {
        job.endtime
    } else {
        now_ms()
    };
    json!({
        "code": code,
        "state": outcome(job),
        "operation": operation_name(job.operation),
        "scheduleType": job.schedule_type,
        "message": outcome_message(job),
        "backupName": job.backup_name,
        "backupStore": job.backup_store,
        "jobid": job.jobid,
        "startTime": job.starttime,
        "completeTime": job.endtime,
        "overallDuration": overall_duration(end - job.starttime),
        "stages": job.stages.iter().map(stage_view).collect::<Vec<_>>(),
        "messages": job.messages,
    })
}

/// The `jobs/<id>` object.
pub fn job(job: &JobRecord) -> Value {
    let status = match job.status {
        JobStatus::Submitted => "SUBMITTED",
        JobStatus::Executing => "EXECUTING",
        JobStatus::Completed => "COMPLETED",
        JobStatus::Failed => "FAILED",
        JobStatus::TimedOut => "TIMED OUT",
    };
    let mut view = json!({
        "jobid": job.jobid,
        "status": status,
        "operation": operation_name(job.operation),
        "starttime": job.starttime,
        "endtime": job.endtime,
        "updatedtime": job.updatedtime,
        "operationURI": job.operation_uri,
        "username": job.username,
        "messages": job.messages.iter().map(|m| m.message.clone()).collect::<Vec<_>>(),
        "progress": {
            "stages": job.stages.iter().map(stage_view).collect::<Vec<_>>(),
        },
    });
    if job.status.is_finished() {
        view["result"] = json!({
            "backupName": job.backup_name,
            "backupStore": job.backup_store,
            "state": outcome(job),
            "message": outcome_message(job),
            "stages": job.stages.iter().map(stage_view).collect::<Vec<_>>(),
        });
    }
    view
}

/// A row of the backup list for a catalog finding: a backup deleted,
/// replaced or rolled back behind the host's back, or one that lost its
/// manifest. `backupName` is null when the catalog cannot tell whose entry is
/// missing (a catalog event), the message says what is known.
pub fn catalog_finding(finding: &drhost_repo::CatalogFinding, store: &str) -> Value {
    json!({
        "backupName": finding.backup,
        "name": finding.backup,
        "backupStore": store,
        "status": "tampered",
        "problem": finding.kind.as_str(),
        "object": finding.object,
        "message": finding.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_the_reference_format() {
        assert_eq!(stage_duration(3096), "3096 millis (~ 0 minutes)");
        assert_eq!(stage_duration(125_000), "125000 millis (~ 2 minutes)");
        assert_eq!(overall_duration(64_221), "00hr:01min:04sec:221millisec");
        assert_eq!(overall_duration(3_723_004), "01hr:02min:03sec:004millisec");
    }

    fn stage(state: StageState, started: i64, ended: i64, total: Option<u64>) -> StageProgress {
        StageProgress {
            name: "Stage Object store".into(),
            state,
            started,
            ended,
            last_updated: ended,
            bytes: 4_000,
            items: 4,
            bytes_total: total,
            items_total: total.map(|_| 16),
        }
    }

    #[test]
    fn stage_views_carry_totals_throughput_and_eta() {
        let now = now_ms();
        let running = stage_view(&stage(StageState::Running, now - 2_000, 0, Some(16_000)));
        assert_eq!(running["bytesDone"], 4_000);
        assert_eq!(running["bytesTotal"], 16_000);
        assert_eq!(running["itemsTotal"], 16);
        // 4 kB in ~2 s (a little more by the time the view is made).
        let rate = running["bytesPerSecond"].as_u64().expect("rate");
        assert!((1_500..=2_000).contains(&rate), "{running}");
        let eta = running["etaSeconds"].as_u64().expect("eta");
        assert!((6..=8).contains(&eta), "{running}");

        let unknown = stage_view(&stage(StageState::Running, now - 2_000, 0, None));
        assert!(unknown["bytesTotal"].is_null() && unknown["etaSeconds"].is_null());

        let done = stage_view(&stage(StageState::Completed, 1_000, 3_000, Some(4_000)));
        assert_eq!(done["bytesPerSecond"], 2_000);
        assert_eq!(done["etaSeconds"], 0);

        let pending = stage_view(&stage(StageState::Pending, 0, 0, None));
        assert!(pending["bytesPerSecond"].is_null() && pending["etaSeconds"].is_null());
    }

    #[test]
    fn no_job_is_no_op() {
        assert_eq!(
            dr_status(None),
            json!({"code": 0, "messages": [], "state": "no_op"})
        );
    }
}
