//! The registry of job records: one JSON file per job, the handle a running
//! job reports through, and pruning of old finished jobs.
//!
//! Each change but byte counters is written (atomically, fsynced) by the
//! [`writer`](super::writer) thread, behind the call that made it: a job
//! never waits for the disk, except once, when it is created, so that a
//! crash at any later point finds its record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::lifecycle;
use super::record::{JobRecord, JobStatus, JobStep, NewJob, StageState};
use super::writer::{self, RecordWriter, Snapshot};
use crate::clock::now_ms;

/// Most job records kept; older finished ones are removed.
const MAX_JOBS: usize = 500;

/// Why the job store failed.
#[derive(Debug, thiserror::Error)]
pub enum JobStoreError {
    #[error("cannot use job directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

struct Inner {
    dir: PathBuf,
    jobs: BTreeMap<String, JobRecord>,
    /// Creation order, oldest first.
    order: Vec<String>,
}

/// Whether a change is written to disk or only kept until the next one that is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    Persist,
    /// Byte counters change too often to rewrite the record for each.
    InMemory,
}

/// All jobs of this host.
#[derive(Clone)]
pub struct JobStore {
    inner: Arc<Mutex<Inner>>,
    writer: Arc<RecordWriter>,
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
        order.sort_by_key(|id| (jobs.get(id).map_or(0, |j| j.starttime), id.clone()));
        let interrupted = order
            .iter()
            .filter(|id| jobs.get(*id).is_some_and(|j| !j.status.is_finished()))
            .cloned()
            .collect();
        let inner = Arc::new(Mutex::new(Inner {
            dir: dir.to_path_buf(),
            jobs,
            order,
        }));
        let registry = Arc::clone(&inner);
        let writer = RecordWriter::start(dir.to_path_buf(), move |jobid| {
            let inner = registry.lock().unwrap_or_else(|e| e.into_inner());
            inner
                .jobs
                .get(jobid)
                .map_or(Snapshot::Removed, writer::encode)
        })
        .map_err(io)?;
        let store = JobStore {
            inner,
            writer: Arc::new(writer),
        };
        Ok((store, interrupted))
    }

    /// Marks a job that was running when the host stopped as failed.
    pub fn fail_interrupted(&self, jobid: &str) {
        self.update(jobid, Durability::Persist, lifecycle::fail_interrupted);
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
        self.update(jobid, Durability::Persist, |job, now| {
            lifecycle::complete_interrupted(job, code, message, failure, now)
        });
    }

    /// Puts a job that was running when the host stopped back in line to run
    /// again under the same id: its stages start over, its messages stay.
    pub fn resume_interrupted(&self, jobid: &str, message: &str) -> Option<JobHandle> {
        let found = self.update(jobid, Durability::Persist, |job, now| {
            lifecycle::resume_interrupted(job, message, now)
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

    /// Registers a new job and returns once its record is on disk.
    pub fn create(&self, new: NewJob) -> JobHandle {
        let jobid = format!("j{}", uuid::Uuid::new_v4());
        let record = JobRecord::submitted(jobid.clone(), new, now_ms());
        let pruned = {
            let mut inner = self.lock();
            inner.jobs.insert(jobid.clone(), record);
            inner.order.push(jobid.clone());
            inner.prune()
        };
        for id in &pruned {
            self.writer.mark(id);
        }
        self.writer.wait(self.writer.mark(&jobid));
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

    /// Applies one transition to a job; false when there is no such job.
    fn update(
        &self,
        jobid: &str,
        durability: Durability,
        change: impl FnOnce(&mut JobRecord, i64),
    ) -> bool {
        {
            let mut inner = self.lock();
            let Some(job) = inner.jobs.get_mut(jobid) else {
                return false;
            };
            let now = now_ms();
            change(job, now);
            job.updatedtime = now;
        }
        if durability == Durability::Persist {
            self.writer.mark(jobid);
        }
        true
    }

    /// Waits until every change made so far is on disk (at shutdown, and
    /// for tests that read the files).
    pub fn flush(&self) {
        self.writer.flush();
    }
}

impl Inner {
    /// Drops the oldest finished jobs beyond the cap and returns their ids,
    /// whose files the writer then removes.
    fn prune(&mut self) -> Vec<String> {
        let mut pruned = Vec::new();
        while self.order.len() > MAX_JOBS {
            let Some(pos) = self
                .order
                .iter()
                .position(|id| self.jobs.get(id).is_none_or(|j| j.status.is_finished()))
            else {
                break;
            };
            let id = self.order.remove(pos);
            self.jobs.remove(&id);
            pruned.push(id);
        }
        pruned
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

    /// Waits until every change to the job made so far is on disk.
    pub fn wait_on_disk(&self) {
        self.store.flush();
    }

    fn apply(&self, change: impl FnOnce(&mut JobRecord, i64)) {
        self.store.update(&self.jobid, Durability::Persist, change);
    }

    pub fn executing(&self) {
        self.apply(|j, _| lifecycle::executing(j));
    }

    pub fn message(&self, code: u32, text: &str) {
        tracing::info!(jobid = %self.jobid, code, "{text}");
        self.apply(|j, now| lifecycle::push_message(j, code, text, now));
    }

    /// A message that also marks the job's outcome as completed with warnings.
    pub fn warn(&self, code: u32, text: &str) {
        tracing::warn!(jobid = %self.jobid, code, "{text}");
        self.apply(|j, now| lifecycle::warn(j, code, text, now));
    }

    pub fn stage_started(&self, step: JobStep) {
        self.apply(|j, now| lifecycle::stage_started(j, step, now));
    }

    /// Progress is kept in memory only; it is persisted with the next transition.
    pub fn stage_progress(&self, step: JobStep, bytes: u64, items: u64) {
        self.store
            .update(&self.jobid, Durability::InMemory, |j, now| {
                lifecycle::stage_progress(j, step, bytes, items, now)
            });
    }

    /// Sets the expected totals of the stage named `name` (no-op for an
    /// unknown name).
    pub fn stage_totals(&self, name: &str, bytes: u64, items: u64) {
        self.apply(|j, _| lifecycle::stage_totals(j, name, bytes, items));
    }

    pub fn stage_finished(&self, step: JobStep, state: StageState) {
        self.apply(|j, now| lifecycle::stage_finished(j, step, state, now));
    }

    pub fn set_backup_name(&self, name: &str) {
        self.apply(|j, _| lifecycle::set_backup_name(j, name));
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
        self.apply(|j, now| lifecycle::finish(j, status, failure, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Operation;
    use crate::jobs::codes;

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
        job.stage_started(JobStep::Stage(0));
        job.stage_progress(JobStep::Stage(0), 1_200, 12);
        job.stage_finished(JobStep::Stage(0), StageState::Completed);
        let record = job.record().expect("job");
        assert_eq!(record.stages[1].bytes_total, Some(1_200));
        assert_eq!(record.stages[1].items_total, Some(12));
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
        running.stage_started(JobStep::Stage(0));
        store.flush();
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
        store.flush();
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
        running.stage_started(JobStep::Stage(0));
        running.stage_progress(JobStep::Stage(0), 500, 5);
        store.flush();
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
        whole.stage_started(JobStep::Stage(0));
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

    fn on_disk(dir: &Path, jobid: &str) -> Option<JobRecord> {
        let bytes = std::fs::read(writer::record_path(dir, jobid)).ok()?;
        Some(serde_json::from_slice(&bytes).expect("a whole record"))
    }

    #[test]
    fn a_created_job_is_on_disk_when_create_returns_and_later_changes_after_a_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = JobStore::open(dir.path()).expect("open");
        let job = store.create(new_job());
        let written = on_disk(dir.path(), job.id()).expect("written by create");
        assert_eq!(written.status, JobStatus::Submitted);
        for n in 0..50 {
            job.message(codes::BACKUP_STARTED, &format!("message {n}"));
        }
        job.complete();
        store.flush();
        let written = on_disk(dir.path(), job.id()).expect("still there");
        assert_eq!(written.status, JobStatus::Completed);
        assert_eq!(written.messages.len(), 50);
    }

    #[test]
    fn pruned_jobs_lose_their_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = JobStore::open(dir.path()).expect("open");
        let first = store.create(new_job());
        first.complete();
        for _ in 0..MAX_JOBS {
            store.create(new_job()).complete();
        }
        store.flush();
        assert!(on_disk(dir.path(), first.id()).is_none());
        let files = std::fs::read_dir(dir.path()).expect("ls").count();
        assert_eq!(files, MAX_JOBS);
        assert_eq!(store.ids().len(), MAX_JOBS);
    }

    #[test]
    fn the_last_clone_of_the_store_going_writes_what_is_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = JobStore::open(dir.path()).expect("open");
        let job = store.create(new_job());
        let jobid = job.id().to_string();
        job.executing();
        job.message(codes::BACKUP_STARTED, "Started backup process.");
        drop((job, store));
        let written = on_disk(dir.path(), &jobid).expect("written");
        assert_eq!(written.status, JobStatus::Executing);
        assert_eq!(written.messages.len(), 1);
    }
}
