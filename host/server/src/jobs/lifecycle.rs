//! Every change a job goes through, as a pure function on its record: the
//! time is passed in and nothing is persisted here, so each transition is
//! tested on its own and the store decides when a change reaches the disk.
//!
//! Every message a transition adds goes through [`push_message`], so no
//! transition can grow a record past [`MAX_MESSAGES`].

use super::codes;
use super::record::{JobRecord, JobStatus, JobStep, Message, StageProgress, StageState};

/// Most messages kept per job (plugins are rate-limited too).
pub const MAX_MESSAGES: usize = 2000;

/// Why a job that was running when the host stopped is failed.
const INTERRUPTED: &str = "The host stopped while this job was running; nothing it \
                           wrote was committed. Run it again.";

/// Adds a status message unless the job already holds [`MAX_MESSAGES`]: a
/// chatty plugin must not grow a record (rewritten per message) without bound.
pub fn push_message(job: &mut JobRecord, code: u32, text: &str, now: i64) {
    if job.messages.len() < MAX_MESSAGES {
        job.messages.push(Message {
            code,
            message: text.to_string(),
            when: now,
        });
    }
}

pub fn executing(job: &mut JobRecord) {
    job.status = JobStatus::Executing;
}

/// A message that also marks the job's outcome as completed with warnings.
pub fn warn(job: &mut JobRecord, code: u32, text: &str, now: i64) {
    push_message(job, code, text, now);
    job.warnings.push(text.to_string());
}

pub fn set_backup_name(job: &mut JobRecord, name: &str) {
    job.backup_name = name.to_string();
}

/// Changes the stage of `step` (no-op for a step the job does not have) and
/// stamps it.
fn update_stage(
    job: &mut JobRecord,
    step: JobStep,
    now: i64,
    change: impl FnOnce(&mut StageProgress),
) {
    let position = step.position(job.stages.len());
    if let Some(stage) = position.and_then(|p| job.stages.get_mut(p)) {
        change(stage);
        stage.last_updated = now;
    }
}

pub fn stage_started(job: &mut JobRecord, step: JobStep, now: i64) {
    update_stage(job, step, now, |s| {
        s.state = StageState::Running;
        s.started = now;
    });
}

pub fn stage_progress(job: &mut JobRecord, step: JobStep, bytes: u64, items: u64, now: i64) {
    update_stage(job, step, now, |s| {
        s.bytes = bytes;
        s.items = items;
    });
}

/// Sets the expected totals of the stage named `name` (no-op for an unknown
/// name: an estimate from an older configuration may name stages this job
/// does not have).
pub fn stage_totals(job: &mut JobRecord, name: &str, bytes: u64, items: u64) {
    if let Some(stage) = job.stages.iter_mut().find(|s| s.name == name) {
        stage.bytes_total = Some(bytes);
        stage.items_total = Some(items);
    }
}

pub fn stage_finished(job: &mut JobRecord, step: JobStep, state: StageState, now: i64) {
    update_stage(job, step, now, |s| {
        if s.started == 0 {
            s.started = now;
        }
        s.state = state;
        s.ended = now;
        if state == StageState::Completed {
            // What a completed stage did is its total, whatever was estimated.
            s.bytes_total = Some(s.bytes);
            s.items_total = Some(s.items);
        }
    });
}

/// Ends a job: a running stage failed, a pending one was skipped; a failure
/// is also reported as a [`codes::JOB_FAILED`] message.
pub fn finish(job: &mut JobRecord, status: JobStatus, failure: Option<String>, now: i64) {
    for stage in &mut job.stages {
        match stage.state {
            StageState::Running => {
                stage.state = StageState::Failed;
                stage.ended = now;
            }
            StageState::Pending => stage.state = StageState::Skipped,
            _ => {}
        }
    }
    if let Some(reason) = &failure {
        push_message(job, codes::JOB_FAILED, reason, now);
    }
    job.status = status;
    job.failure = failure;
    job.endtime = now;
}

/// Fails a job that was running when the host stopped.
pub fn fail_interrupted(job: &mut JobRecord, now: i64) {
    for stage in &mut job.stages {
        if stage.state == StageState::Running {
            stage.state = StageState::Failed;
            stage.ended = now;
            stage.last_updated = now;
        }
    }
    job.status = JobStatus::Failed;
    job.failure = Some(INTERRUPTED.into());
    job.endtime = now;
    push_message(job, codes::JOB_INTERRUPTED, INTERRUPTED, now);
}

/// Ends a job that was running when the host stopped but whose work was done
/// (a backup committed) before the stop: completed, or failed with `failure`
/// (a partial backup).
pub fn complete_interrupted(
    job: &mut JobRecord,
    code: u32,
    message: &str,
    failure: Option<&str>,
    now: i64,
) {
    for stage in &mut job.stages {
        if matches!(stage.state, StageState::Pending | StageState::Running) {
            stage.state = StageState::Completed;
            stage.ended = now;
            stage.last_updated = now;
        }
    }
    job.status = match failure {
        Some(_) => JobStatus::Failed,
        None => JobStatus::Completed,
    };
    job.failure = failure.map(str::to_string);
    job.endtime = now;
    push_message(job, code, message, now);
}

/// Puts a job that was running when the host stopped back in line under the
/// same id: its stages start over, its messages stay.
pub fn resume_interrupted(job: &mut JobRecord, message: &str, now: i64) {
    for stage in &mut job.stages {
        stage.state = StageState::Pending;
        stage.started = 0;
        stage.ended = 0;
        stage.last_updated = now;
        stage.bytes = 0;
        stage.items = 0;
    }
    job.status = JobStatus::Submitted;
    job.failure = None;
    job.warnings.clear();
    job.endtime = 0;
    push_message(job, codes::JOB_RESUMED, message, now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::record::{NewJob, Operation};
    use JobStep::{Stage, Validation};

    fn job() -> JobRecord {
        JobRecord::submitted(
            "j1".into(),
            NewJob {
                operation: Operation::Backup,
                operation_uri: "/arcgis/admin/x".into(),
                username: "admin".into(),
                backup_name: "b1".into(),
                backup_store: "default".into(),
                schedule_type: "MANUAL".into(),
                stage_names: vec!["Validation".into(), "Stage Object store".into()],
            },
            1,
        )
    }

    type Transition = fn(&mut JobRecord);

    /// A job whose message list is already at the cap.
    fn full_job() -> JobRecord {
        let mut job = job();
        for _ in 0..MAX_MESSAGES {
            push_message(&mut job, 1, "x", 2);
        }
        assert_eq!(job.messages.len(), MAX_MESSAGES);
        job
    }

    fn stage_states(job: &JobRecord) -> Vec<StageState> {
        job.stages.iter().map(|s| s.state).collect()
    }

    #[test]
    fn every_transition_that_adds_a_message_respects_the_cap() {
        let transitions: [(&str, Transition); 5] = [
            ("warn", |j| warn(j, 7, "careful", 3)),
            ("finish", |j| {
                finish(j, JobStatus::Failed, Some("broke".into()), 3)
            }),
            ("fail_interrupted", |j| fail_interrupted(j, 3)),
            ("complete_interrupted", |j| {
                complete_interrupted(j, codes::BACKUP_COMPLETED, "done", None, 3)
            }),
            ("resume_interrupted", |j| resume_interrupted(j, "again", 3)),
        ];
        for (name, transition) in transitions {
            let mut job = full_job();
            transition(&mut job);
            assert_eq!(job.messages.len(), MAX_MESSAGES, "{name} passed the cap");
        }
    }

    #[test]
    fn a_capped_job_still_records_its_outcome() {
        let mut job = full_job();
        finish(&mut job, JobStatus::Failed, Some("broke".into()), 3);
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.failure.as_deref(), Some("broke"));
        let mut job = full_job();
        warn(&mut job, 7, "careful", 3);
        assert_eq!(job.warnings, ["careful"]);
    }

    #[test]
    fn finishing_fails_running_stages_and_skips_pending_ones() {
        let mut job = job();
        stage_started(&mut job, Validation, 5);
        finish(&mut job, JobStatus::TimedOut, Some("too slow".into()), 9);
        assert_eq!(
            stage_states(&job),
            [StageState::Failed, StageState::Skipped]
        );
        assert_eq!(job.stages[0].ended, 9);
        assert_eq!(job.endtime, 9);
        assert_eq!(job.messages.last().map(|m| m.code), Some(codes::JOB_FAILED));
    }

    #[test]
    fn completing_adds_no_failure_message() {
        let mut job = job();
        finish(&mut job, JobStatus::Completed, None, 9);
        assert!(job.messages.is_empty());
        assert_eq!(job.failure, None);
    }

    #[test]
    fn totals_are_set_by_name_and_become_exact_on_completion() {
        let mut job = job();
        stage_totals(&mut job, "Stage Object store", 1_000, 10);
        stage_totals(&mut job, "No such stage", 5, 5);
        assert_eq!(job.stages[0].bytes_total, None);
        assert_eq!(job.stages[1].bytes_total, Some(1_000));
        stage_started(&mut job, Stage(0), 2);
        stage_progress(&mut job, Stage(0), 1_200, 12, 3);
        stage_finished(&mut job, Stage(0), StageState::Completed, 4);
        assert_eq!(job.stages[1].bytes_total, Some(1_200));
        assert_eq!(job.stages[1].items_total, Some(12));
        assert_eq!(job.stages[1].last_updated, 4);
    }

    #[test]
    fn a_stage_past_the_last_is_ignored() {
        let mut job = job();
        stage_started(&mut job, Stage(5), 2);
        stage_finished(&mut job, Stage(5), StageState::Failed, 3);
        assert_eq!(
            stage_states(&job),
            [StageState::Pending, StageState::Pending]
        );
    }

    #[test]
    fn a_stage_finished_without_starting_gets_a_start_time() {
        let mut job = job();
        stage_finished(&mut job, Validation, StageState::Skipped, 7);
        assert_eq!((job.stages[0].started, job.stages[0].ended), (7, 7));
    }

    #[test]
    fn an_interrupted_job_fails_with_the_reason() {
        let mut job = job();
        executing(&mut job);
        stage_started(&mut job, Stage(0), 2);
        fail_interrupted(&mut job, 8);
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(
            stage_states(&job),
            [StageState::Pending, StageState::Failed]
        );
        assert!(
            job.failure
                .as_deref()
                .is_some_and(|m| m.contains("host stopped"))
        );
        assert_eq!(
            job.messages.last().map(|m| m.code),
            Some(codes::JOB_INTERRUPTED)
        );
    }

    #[test]
    fn a_resumed_job_starts_over_and_keeps_its_messages() {
        let mut job = job();
        push_message(&mut job, codes::BACKUP_STARTED, "Started", 2);
        stage_started(&mut job, Stage(0), 2);
        stage_progress(&mut job, Stage(0), 500, 5, 3);
        warn(&mut job, 7, "careful", 3);
        resume_interrupted(&mut job, "resuming", 4);
        assert_eq!(job.status, JobStatus::Submitted);
        assert!(job.warnings.is_empty());
        assert_eq!(
            stage_states(&job),
            [StageState::Pending, StageState::Pending]
        );
        assert_eq!(job.stages[1].bytes, 0);
        let codes: Vec<u32> = job.messages.iter().map(|m| m.code).collect();
        assert_eq!(codes, [codes::BACKUP_STARTED, 7, codes::JOB_RESUMED]);
    }

    #[test]
    fn a_committed_interrupted_job_ends_as_it_did() {
        let mut whole = job();
        stage_started(&mut whole, Stage(0), 2);
        complete_interrupted(&mut whole, codes::BACKUP_COMPLETED, "committed", None, 5);
        assert_eq!(whole.status, JobStatus::Completed);
        assert_eq!(stage_states(&whole), [StageState::Completed; 2]);
        let mut partial = job();
        complete_interrupted(
            &mut partial,
            codes::BACKUP_COMPLETED,
            "committed",
            Some("partial"),
            5,
        );
        assert_eq!(partial.status, JobStatus::Failed);
        assert_eq!(partial.failure.as_deref(), Some("partial"));
    }
}
