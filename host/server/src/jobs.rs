//! Durable job records. Every job is a JSON file in `<state>/jobs/`, rewritten
//! atomically on each state change, so a host restart finds every job; jobs
//! that were still running are then resumed (backups with a journal) or
//! marked failed with the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::fsutil::write_atomic;

/// Most job records kept; older finished ones are removed.
const MAX_JOBS: usize = 500;
/// Most messages kept per job (plugins are rate-limited too).
const MAX_MESSAGES: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Submitted,
    Executing,
    Completed,
    Failed,
    /// Ended by the DR setting `timeoutInSeconds` (the reference's
    /// `TIMED OUT`, which clients such as Esri's CLI tell from `FAILED`).
    TimedOut,
}

impl JobStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::TimedOut)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    Backup,
    Restore,
    DeleteBackup,
    VerifyBackup,
    RetentionCleanup,
    /// `stores/register` with `async=true`.
    RegisterStore,
}

impl Operation {
    /// Backups and restores are what the DR status resource reports.
    pub fn is_dr(self) -> bool {
        matches!(self, Self::Backup | Self::Restore)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Pending,
    Running,
    Completed,
    Failed,
    Skipped,
}

/// One status message (`{"code":4014,"message":"...","when":ms}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub code: u32,
    pub message: String,
    pub when: i64,
}

/// Progress of one stage of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageProgress {
    pub name: String,
    pub state: StageState,
    pub started: i64,
    pub ended: i64,
    pub last_updated: i64,
    pub bytes: u64,
    pub items: u64,
    /// What the stage will have done when it ends, when known: recorded by
    /// the backup being restored, estimated from the store's previous backup
    /// on backup, exact once the stage has completed. Absent in records
    /// written before totals existed.
    #[serde(default)]
    pub bytes_total: Option<u64>,
    #[serde(default)]
    pub items_total: Option<u64>,
}

/// A job as persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    pub jobid: String,
    pub operation: Operation,
    pub status: JobStatus,
    pub starttime: i64,
    pub endtime: i64,
    pub updatedtime: i64,
    pub operation_uri: String,
    pub username: String,
    pub backup_name: String,
    pub backup_store: String,
    pub schedule_type: String,
    /// Why the job failed, for the status' `message`.
    pub failure: Option<String>,
    /// What a job that completed wants the operator to know; it makes the
    /// status `completed_with_warnings` instead of `success`.
    #[serde(default)]
    pub warnings: Vec<String>,
    pub stages: Vec<StageProgress>,
    pub messages: Vec<Message>,
}

/// Why the job store failed.
#[derive(Debug, thiserror::Error)]
pub enum JobStoreError {
    #[error("cannot use job directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a new job is about.
pub struct NewJob {
    pub operation: Operation,
    pub operation_uri: String,
    pub username: String,
    pub backup_name: String,
    pub backup_store: String,
    pub schedule_type: String,
    pub stage_names: Vec<String>,
}

struct Inner {
    dir: PathBuf,
    jobs: BTreeMap<String, JobRecord>,
    /// Creation order, oldest first.
    order: Vec<String>,
}

/// All jobs of this host.
#[derive(Clone)]
pub struct JobStore {
    inner: Arc<Mutex<Inner>>,
}

impl JobStore {
    /// Loads every job under `dir`. Returns the ids of the jobs that were
    /// running when the host stopped, oldest first; the caller settles each
    /// with [`fail_interrupted`](Self::fail_interrupted) or
    /// [`resume_interrupted`](Self::resume_interrupted).
    pub fn open(dir: &Path) -> Result<(Self, Vec<String>), JobStoreError> {
        let io = |source| JobStoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut jobs = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<JobRecord>(&b).ok())
            {
                Some(job) => {
                    jobs.insert(job.jobid.clone(), job);
                }
                None => tracing::warn!(path = %path.display(), "ignoring unreadable job record"),
            }
        }
        let mut order: Vec<String> = jobs.keys().cloned().collect();
        order.sort_by_key(|id| (jobs[id].starttime, id.clone()));
        let store = JobStore {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                jobs,
                order,
            })),
        };
        let interrupted = {
            let inner = store.lock();
            inner
                .order
                .iter()
                .filter(|id| inner.jobs.get(*id).is_some_and(|j| !j.status.is_finished()))
                .cloned()
                .collect()
        };
        Ok((store, interrupted))
    }

    /// Marks a job that was running when the host stopped as failed.
    pub fn fail_interrupted(&self, jobid: &str) {
        self.update(jobid, true, |job| {
            let now = now_ms();
            let reason = "The host stopped while this job was running; nothing it \
                          wrote was committed. Run it again.";
            for stage in &mut job.stages {
                if stage.state == StageState::Running {
                    stage.state = StageState::Failed;
                    stage.ended = now;
                    stage.last_updated = now;
                }
            }
            job.status = JobStatus::Failed;
            job.failure = Some(reason.into());
            job.endtime = now;
            job.messages.push(Message {
                code: codes::JOB_INTERRUPTED,
                message: reason.into(),
                when: now,
            });
        });
    }

    /// Ends a job that was running when the host stopped but whose work was
    /// done (a backup committed) before the stop: completed, or failed with
    /// `failure` (a partial backup).
    pub fn complete_interrupted(
        &self,
        jobid: &str,
        code: u32,
        message: &str,
        failure: Option<&str>,
    ) {
        self.update(jobid, true, |job| {
            let now = now_ms();
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
            push_message(job, code, message);
        });
    }

    /// Puts a job that was running when the host stopped back in line to run
    /// again under the same id: its stages start over, its messages stay.
    pub fn resume_interrupted(&self, jobid: &str, message: &str) -> Option<JobHandle> {
        let mut found = false;
        self.update(jobid, true, |job| {
            found = true;
            let now = now_ms();
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
            push_message(job, codes::JOB_RESUMED, message);
        });
        found.then(|| JobHandle {
            store: self.clone(),
            jobid: jobid.to_string(),
        })
    }

    /// Where this store keeps its job records (and backup journals).
    pub fn dir(&self) -> PathBuf {
        self.lock().dir.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn create(&self, new: NewJob) -> JobHandle {
        let now = now_ms();
        let jobid = format!("j{}", uuid::Uuid::new_v4());
        let record = JobRecord {
            jobid: jobid.clone(),
            operation: new.operation,
            status: JobStatus::Submitted,
            starttime: now,
            endtime: 0,
            updatedtime: now,
            operation_uri: new.operation_uri,
            username: new.username,
            backup_name: new.backup_name,
            backup_store: new.backup_store,
            schedule_type: new.schedule_type,
            failure: None,
            warnings: Vec::new(),
            stages: new
                .stage_names
                .into_iter()
                .map(|name| StageProgress {
                    name,
                    state: StageState::Pending,
                    started: 0,
                    ended: 0,
                    last_updated: now,
                    bytes: 0,
                    items: 0,
                    bytes_total: None,
                    items_total: None,
                })
                .collect(),
            messages: Vec::new(),
        };
        let mut inner = self.lock();
        inner.jobs.insert(jobid.clone(), record);
        inner.order.push(jobid.clone());
        inner.persist(&jobid);
        inner.prune();
        JobHandle {
            store: self.clone(),
            jobid,
        }
    }

    pub fn get(&self, jobid: &str) -> Option<JobRecord> {
        self.lock().jobs.get(jobid).cloned()
    }

    pub fn ids(&self) -> Vec<String> {
        self.lock().order.clone()
    }

    /// The most recent backup or restore job.
    pub fn last_dr_job(&self) -> Option<JobRecord> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .rev()
            .filter_map(|id| inner.jobs.get(id))
            .find(|j| j.operation.is_dr())
            .cloned()
    }

    fn update(&self, jobid: &str, persist: bool, change: impl FnOnce(&mut JobRecord)) {
        let mut inner = self.lock();
        if let Some(job) = inner.jobs.get_mut(jobid) {
            change(job);
            job.updatedtime = now_ms();
            if persist {
                inner.persist(jobid);
            }
        }
    }
}

impl Inner {
    fn path(&self, jobid: &str) -> PathBuf {
        self.dir.join(format!("{jobid}.json"))
    }

    /// Writes one job record; a failure is logged, not fatal: the job goes on
    /// and the next transition retries.
    fn persist(&self, jobid: &str) {
        let Some(job) = self.jobs.get(jobid) else {
            return;
        };
        let result = serde_json::to_vec(job)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomic(&self.path(jobid), &bytes));
        if let Err(e) = result {
            tracing::error!(jobid, error = %e, "could not persist job record");
        }
    }

    fn prune(&mut self) {
        while self.order.len() > MAX_JOBS {
            let Some(pos) = self
                .order
                .iter()
                .position(|id| self.jobs.get(id).is_none_or(|j| j.status.is_finished()))
            else {
                return;
            };
            let id = self.order.remove(pos);
            self.jobs.remove(&id);
            let _ = std::fs::remove_file(self.path(&id));
        }
    }
}

/// A running job: its methods record progress.
#[derive(Clone)]
pub struct JobHandle {
    store: JobStore,
    jobid: String,
}

impl JobHandle {
    pub fn id(&self) -> &str {
        &self.jobid
    }

    pub fn record(&self) -> Option<JobRecord> {
        self.store.get(&self.jobid)
    }

    pub fn executing(&self) {
        self.store
            .update(&self.jobid, true, |j| j.status = JobStatus::Executing);
    }

    pub fn message(&self, code: u32, text: &str) {
        tracing::info!(jobid = %self.jobid, code, "{text}");
        self.store
            .update(&self.jobid, true, |j| push_message(j, code, text));
    }

    /// A message that also marks the job's outcome as completed with warnings.
    pub fn warn(&self, code: u32, text: &str) {
        tracing::warn!(jobid = %self.jobid, code, "{text}");
        self.store.update(&self.jobid, true, |j| {
            push_message(j, code, text);
            j.warnings.push(text.to_string());
        });
    }

    pub fn stage_started(&self, index: usize) {
        self.set_stage(index, true, |s, now| {
            s.state = StageState::Running;
            s.started = now;
        });
    }

    /// Progress is kept in memory only; it is persisted with the next transition.
    pub fn stage_progress(&self, index: usize, bytes: u64, items: u64) {
        self.set_stage(index, false, |s, _| {
            s.bytes = bytes;
            s.items = items;
        });
    }

    /// Sets the expected totals of the stage named `name` (no-op for an
    /// unknown name: an estimate from an older configuration may name stages
    /// this job does not have).
    pub fn stage_totals(&self, name: &str, bytes: u64, items: u64) {
        self.store.update(&self.jobid, true, |j| {
            if let Some(stage) = j.stages.iter_mut().find(|s| s.name == name) {
                stage.bytes_total = Some(bytes);
                stage.items_total = Some(items);
            }
        });
    }

    pub fn stage_finished(&self, index: usize, state: StageState) {
        self.set_stage(index, true, |s, now| {
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

    fn set_stage(&self, index: usize, persist: bool, change: impl FnOnce(&mut StageProgress, i64)) {
        self.store.update(&self.jobid, persist, |j| {
            if let Some(stage) = j.stages.get_mut(index) {
                let now = now_ms();
                change(stage, now);
                stage.last_updated = now;
            }
        });
    }

    pub fn set_backup_name(&self, name: &str) {
        self.store
            .update(&self.jobid, true, |j| j.backup_name = name.to_string());
    }

    pub fn complete(&self) {
        self.finish(JobStatus::Completed, None);
    }

    pub fn fail(&self, reason: &str) {
        tracing::warn!(jobid = %self.jobid, "job failed: {reason}");
        self.finish(JobStatus::Failed, Some(reason.to_string()));
    }

    /// Ends the job as `TIMED OUT`, with the reason as its failure.
    pub fn time_out(&self, reason: &str) {
        tracing::warn!(jobid = %self.jobid, "job timed out: {reason}");
        self.finish(JobStatus::TimedOut, Some(reason.to_string()));
    }

    fn finish(&self, status: JobStatus, failure: Option<String>) {
        self.store.update(&self.jobid, true, |j| {
            let now = now_ms();
            for stage in &mut j.stages {
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
                j.messages.push(Message {
                    code: codes::JOB_FAILED,
                    message: reason.clone(),
                    when: now,
                });
            }
            j.status = status;
            j.failure = failure;
            j.endtime = now;
        });
    }
}

fn push_message(job: &mut JobRecord, code: u32, text: &str) {
    if job.messages.len() < MAX_MESSAGES {
        job.messages.push(Message {
            code,
            message: text.to_string(),
            when: now_ms(),
        });
    }
}

/// Host-side message codes (plugins report their own, e.g. 4019).
pub mod codes {
    pub const BACKUP_STARTED: u32 = 4014;
    pub const STAGE_PERSISTED: u32 = 4026;
    pub const BACKUP_PERSISTED: u32 = 4027;
    pub const BACKUP_COMPLETED: u32 = 4028;
    /// Some stages failed; the others were committed as a partial backup.
    pub const BACKUP_PARTIAL: u32 = 4029;
    pub const RESTORE_STARTED: u32 = 5014;
    pub const RESTORE_STAGE_COMPLETED: u32 = 5026;
    pub const RESTORE_COMPLETED: u32 = 5028;
    pub const DELETE_COMPLETED: u32 = 6001;
    pub const STORE_REGISTERED: u32 = 6006;
    pub const VERIFY_COMPLETED: u32 = 6002;
    pub const RETENTION_REMOVED: u32 = 6003;
    pub const RETENTION_COMPLETED: u32 = 6004;
    /// The store's catalog shows a backup deleted, replaced or rolled back
    /// behind the host's back (one message per finding, naming the backup).
    pub const CATALOG_TAMPERED: u32 = 6005;
    pub const STORE_CONFIG_DAMAGED: u32 = 5030;
    /// A partial backup is restored without its incomplete stages.
    pub const RESTORE_PARTIAL: u32 = 5031;
    pub const JOB_FAILED: u32 = 9001;
    pub const JOB_INTERRUPTED: u32 = 9002;
    /// A backup interrupted by a host stop runs again under the same job id.
    pub const JOB_RESUMED: u32 = 9003;
    /// How much of the interrupted run's data the resumed backup reuses.
    pub const BACKUP_RESUMED: u32 = 4015;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_job() -> NewJob {
        NewJob {
            operation: Operation::Backup,
            operation_uri: "/arcgis/admin/x".into(),
            username: "admin".into(),
            backup_name: "b1".into(),
            backup_store: "default".into(),
            schedule_type: "MANUAL".into(),
            stage_names: vec!["Validation".into(), "Stage Object store".into()],
        }
    }

    #[test]
    fn totals_are_set_by_name_and_become_exact_on_completion() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = JobStore::open(dir.path()).expect("open");
        let job = store.create(new_job());
        job.stage_totals("Stage Object store", 1_000, 10);
        job.stage_totals("No such stage", 5, 5);
        let record = job.record().expect("job");
        assert_eq!(record.stages[0].bytes_total, None);
        assert_eq!(record.stages[1].bytes_total, Some(1_000));
        assert_eq!(record.stages[1].items_total, Some(10));
        job.stage_started(1);
        job.stage_progress(1, 1_200, 12);
        job.stage_finished(1, StageState::Completed);
        let record = job.record().expect("job");
        assert_eq!(record.stages[1].bytes_total, Some(1_200));
        assert_eq!(record.stages[1].items_total, Some(12));
    }

    #[test]
    fn records_without_totals_still_load() {
        let old = r#"{"name":"s","state":"completed","started":1,"ended":2,
                      "last_updated":2,"bytes":3,"items":4}"#;
        let stage: StageProgress = serde_json::from_str(old).expect("old record");
        assert_eq!((stage.bytes_total, stage.items_total), (None, None));
    }

    #[test]
    fn running_jobs_are_failed_on_reopen_and_finished_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = JobStore::open(dir.path()).expect("open");
        let done = store.create(new_job());
        done.executing();
        done.complete();
        let running = store.create(new_job());
        running.executing();
        running.stage_started(1);
        drop(store);

        let (store, interrupted) = JobStore::open(dir.path()).expect("reopen");
        assert_eq!(interrupted, vec![running.id().to_string()]);
        store.fail_interrupted(running.id());
        let job = store.get(running.id()).expect("kept");
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.stages[1].state, StageState::Failed);
        assert!(
            job.failure
                .as_deref()
                .is_some_and(|m| m.contains("host stopped"))
        );
        assert_eq!(
            store.get(done.id()).map(|j| j.status),
            Some(JobStatus::Completed)
        );
        assert_eq!(store.ids().len(), 2);
        let (_, interrupted) = JobStore::open(dir.path()).expect("reopen again");
        assert!(interrupted.is_empty(), "a failed job is settled");
    }

    #[test]
    fn a_resumed_job_starts_over_under_its_id_and_keeps_its_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = JobStore::open(dir.path()).expect("open");
        let running = store.create(new_job());
        running.executing();
        running.message(codes::BACKUP_STARTED, "Started backup process.");
        running.stage_started(1);
        running.stage_progress(1, 500, 5);
        drop(store);

        let (store, interrupted) = JobStore::open(dir.path()).expect("reopen");
        assert_eq!(interrupted, vec![running.id().to_string()]);
        let handle = store
            .resume_interrupted(running.id(), "resuming")
            .expect("known job");
        assert_eq!(handle.id(), running.id());
        let job = store.get(running.id()).expect("kept");
        assert_eq!(job.status, JobStatus::Submitted);
        assert!(job.stages.iter().all(|s| s.state == StageState::Pending));
        assert_eq!(job.stages[1].bytes, 0);
        let codes: Vec<u32> = job.messages.iter().map(|m| m.code).collect();
        assert_eq!(codes, [codes::BACKUP_STARTED, codes::JOB_RESUMED]);
        assert!(store.resume_interrupted("no-such-job", "x").is_none());
    }

    #[test]
    fn a_job_whose_backup_was_committed_before_the_stop_ends_as_it_did() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = JobStore::open(dir.path()).expect("open");
        let whole = store.create(new_job());
        whole.stage_started(1);
        let partial = store.create(new_job());
        store.complete_interrupted(whole.id(), codes::BACKUP_COMPLETED, "committed", None);
        store.complete_interrupted(
            partial.id(),
            codes::BACKUP_COMPLETED,
            "committed",
            Some("partial"),
        );
        let job = store.get(whole.id()).expect("kept");
        assert_eq!(job.status, JobStatus::Completed);
        assert!(job.stages.iter().all(|s| s.state == StageState::Completed));
        let job = store.get(partial.id()).expect("kept");
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.failure.as_deref(), Some("partial"));
    }
}
