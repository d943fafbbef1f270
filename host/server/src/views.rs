//! Builds the api's typed resources from the host's records: jobs and the
//! DR status (spec §6 and §7), backups and the rows of a backup list.

use drhost_api::model::{self, status_code};

use crate::clock::now_ms;
use crate::jobs::{JobRecord, JobStatus, Message, Operation, StageProgress, StageState};
use crate::progress;

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

impl From<StageState> for model::StageState {
    fn from(state: StageState) -> Self {
        match state {
            StageState::Pending => model::StageState::Pending,
            StageState::Running => model::StageState::Running,
            StageState::Completed => model::StageState::Completed,
            StageState::Failed => model::StageState::Failed,
            StageState::Skipped => model::StageState::Skipped,
        }
    }
}

impl From<Operation> for model::Operation {
    fn from(op: Operation) -> Self {
        match op {
            Operation::Backup => model::Operation::Backup,
            Operation::Restore => model::Operation::Restore,
            Operation::DeleteBackup => model::Operation::DeleteBackup,
            Operation::VerifyBackup => model::Operation::VerifyBackup,
            Operation::RetentionCleanup => model::Operation::RetentionCleanup,
            Operation::RegisterStore => model::Operation::RegisterStore,
        }
    }
}

impl From<JobStatus> for model::JobState {
    fn from(status: JobStatus) -> Self {
        match status {
            JobStatus::Submitted => model::JobState::Submitted,
            JobStatus::Executing => model::JobState::Executing,
            JobStatus::Completed => model::JobState::Completed,
            JobStatus::Failed => model::JobState::Failed,
            JobStatus::TimedOut => model::JobState::TimedOut,
        }
    }
}

impl From<&Message> for model::StatusMessage {
    fn from(message: &Message) -> Self {
        model::StatusMessage {
            code: message.code,
            message: message.message.clone(),
            when: message.when,
        }
    }
}

fn stage_view(stage: &StageProgress) -> model::Stage {
    let elapsed = match (stage.started, stage.ended) {
        (0, _) => 0,
        (started, 0) => now_ms() - started,
        (started, ended) => ended - started,
    };
    let finished = matches!(stage.state, StageState::Completed | StageState::Skipped);
    let rates = progress::rates(stage.bytes, stage.bytes_total, elapsed, finished);
    model::Stage {
        name: stage.name.clone(),
        state: stage.state.into(),
        duration: stage_duration(elapsed),
        last_updated: stage.last_updated,
        bytes_done: stage.bytes,
        items_done: stage.items,
        bytes_total: stage.bytes_total,
        items_total: stage.items_total,
        bytes_per_second: rates.bytes_per_second,
        eta_seconds: rates.eta_seconds,
    }
}

fn stage_views(job: &JobRecord) -> Vec<model::Stage> {
    job.stages.iter().map(stage_view).collect()
}

/// `state` of the status and of a finished job's `result`.
fn outcome(job: &JobRecord) -> model::Outcome {
    match job.status {
        JobStatus::Submitted | JobStatus::Executing => model::Outcome::InProgress,
        JobStatus::Completed if job.warnings.is_empty() => model::Outcome::Success,
        JobStatus::Completed => model::Outcome::CompletedWithWarnings,
        JobStatus::Failed | JobStatus::TimedOut => model::Outcome::Failed,
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
pub fn dr_status(last: Option<&JobRecord>) -> model::DrStatus {
    let Some(job) = last else {
        return model::DrStatus::no_op();
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
    model::DrStatus {
        code,
        state: outcome(job),
        last_job: Some(model::LastJob {
            operation: job.operation.into(),
            schedule_type: job.schedule_type.clone(),
            message: outcome_message(job),
            backup_name: job.backup_name.clone(),
            backup_store: job.backup_store.clone(),
            jobid: job.jobid.clone(),
            start_time: job.starttime,
            complete_time: job.endtime,
            overall_duration: overall_duration(end - job.starttime),
            stages: stage_views(job),
        }),
        messages: job
            .messages
            .iter()
            .map(model::StatusMessage::from)
            .collect(),
    }
}

/// The `jobs/<id>` object.
pub fn job(job: &JobRecord) -> model::Job {
    let result = job.status.is_finished().then(|| model::JobResult {
        backup_name: job.backup_name.clone(),
        backup_store: job.backup_store.clone(),
        state: outcome(job),
        message: outcome_message(job),
        stages: stage_views(job),
    });
    model::Job {
        jobid: job.jobid.clone(),
        status: job.status.into(),
        operation: job.operation.into(),
        start_time: job.starttime,
        end_time: job.endtime,
        updated_time: job.updatedtime,
        operation_uri: job.operation_uri.clone(),
        username: job.username.clone(),
        messages: job.messages.iter().map(|m| m.message.clone()).collect(),
        progress: model::JobProgress {
            stages: stage_views(job),
        },
        result,
    }
}

/// A row of the backup list for a catalog finding: a backup deleted,
/// replaced or rolled back behind the host's back, or one that lost its
/// manifest.
pub fn catalog_finding(
    finding: &drhost_repo::CatalogFinding,
    store: &str,
) -> model::CatalogFinding {
    model::CatalogFinding {
        backup_name: finding.backup.clone(),
        name: finding.backup.clone(),
        backup_store: store.to_owned(),
        status: model::BackupStatus::Tampered,
        problem: finding.kind.as_str().to_owned(),
        object: finding.object.clone(),
        message: finding.reason.clone(),
    }
}

/// A backup as `backups/<backup>` shows it.
pub fn backup(info: &drhost_repo::BackupInfo, store: &str) -> model::Backup {
    let complete = info.stages.iter().map(|s| model::BackupStage {
        name: s.name.clone(),
        plugin: s.plugin.clone(),
        done: Some(model::StageTotals {
            items: s.items,
            bytes: s.bytes,
            start_time: s.start_time,
            end_time: s.end_time,
        }),
        status: "completed".to_owned(),
    });
    let incomplete = info.incomplete_stages.iter().map(|s| model::BackupStage {
        name: s.name.clone(),
        plugin: s.plugin.clone(),
        done: None,
        status: "failed".to_owned(),
    });
    model::Backup {
        backup_name: info.name.clone(),
        name: info.name.clone(),
        description: info.description.clone(),
        backup_store: store.to_owned(),
        backup_type: "FULL".to_owned(),
        schedule_type: info.schedule_type.clone(),
        release: info.release.clone(),
        site_name: "arcgis".to_owned(),
        status: if info.is_partial() {
            model::BackupStatus::Partial
        } else {
            model::BackupStatus::Completed
        },
        start_time: info.start_time,
        complete_time: info.complete_time,
        retention_date: info.retention_date,
        stored_bytes: info.stored_bytes,
        total_bytes: info.total_bytes,
        stages: complete.chain(incomplete).collect(),
    }
}

/// A row of the backup list for a backup whose record cannot be read.
pub fn damaged_backup(name: &str, object: &str, reason: &str, store: &str) -> model::DamagedBackup {
    model::DamagedBackup {
        backup_name: name.to_owned(),
        name: name.to_owned(),
        backup_store: store.to_owned(),
        status: model::BackupStatus::Damaged,
        message: format!("backup record {object} is damaged: {reason}"),
    }
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
        assert_eq!(running.bytes_done, 4_000);
        assert_eq!(running.bytes_total, Some(16_000));
        assert_eq!(running.items_total, Some(16));
        // 4 kB in ~2 s (a little more by the time the view is made).
        let rate = running.bytes_per_second.expect("rate");
        assert!((1_500..=2_000).contains(&rate), "{running:?}");
        let eta = running.eta_seconds.expect("eta");
        assert!((6..=8).contains(&eta), "{running:?}");

        let unknown = stage_view(&stage(StageState::Running, now - 2_000, 0, None));
        assert!(unknown.bytes_total.is_none() && unknown.eta_seconds.is_none());

        let done = stage_view(&stage(StageState::Completed, 1_000, 3_000, Some(4_000)));
        assert_eq!(done.bytes_per_second, Some(2_000));
        assert_eq!(done.eta_seconds, Some(0));

        let pending = stage_view(&stage(StageState::Pending, 0, 0, None));
        assert!(pending.bytes_per_second.is_none() && pending.eta_seconds.is_none());

        // Unknown totals and rates are `null` on the wire, not left out.
        let json = serde_json::to_value(&pending).expect("json");
        assert!(json["bytesTotal"].is_null() && json["etaSeconds"].is_null());
        assert_eq!(json["state"], "pending");
    }

    #[test]
    fn no_job_is_no_op() {
        assert_eq!(
            serde_json::to_value(dr_status(None)).expect("json"),
            serde_json::json!({"code": 0, "messages": [], "state": "no_op"})
        );
    }
}
