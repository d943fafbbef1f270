//! Scheduled tasks (`/system/tasks`, spec §8): backup schedules
//! (`CreateBackup`) and the retention cleaner (`BackupRetentionCleaner`),
//! kept in `<state>/tasks.json` with their run history.

pub mod cron;
pub mod retention;
pub mod scheduler;
mod sealed;
mod spec;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::now_ms;
use crate::fsutil::write_atomic;
use cron::{Cron, CronFields};
pub use sealed::{SealError, Sealer};
use spec::TaskInputExt;
pub use spec::{BackupSchedule, Retention, TaskInput};

/// Runs kept per task; older ones are dropped.
const MAX_RUNS: usize = 100;
/// Id of the built-in retention cleaner.
pub const CLEANER_ID: &str = "00000000000000000000000000000001";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskType {
    CreateBackup,
    BackupRetentionCleaner,
}

impl TaskType {
    pub(crate) fn internal_name(self) -> &'static str {
        match self {
            TaskType::CreateBackup => "CREATE_BACKUP_TASK_TYPE",
            TaskType::BackupRetentionCleaner => "BACKUP_RETENTION_CLEANER_TASK_TYPE",
        }
    }
}

/// Outcome of one run (spec §8.3's statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Only set by a client through `runs/<id>/update`.
    Scheduled,
    Executing,
    Succeeded,
    Skipped,
    Failed,
    Submitfailed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRun {
    pub run_id: String,
    pub created: i64,
    pub status: RunStatus,
    pub result: String,
    pub jobid: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    pub title: String,
    pub task_type: TaskType,
    pub active: bool,
    pub cron: CronFields,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    /// -1: unlimited.
    pub max_occurrences: i64,
    pub occurrences: i64,
    pub backup: Option<BackupSchedule>,
    pub created: i64,
    pub updated: i64,
    pub last_start: Option<i64>,
    /// Every slot up to here has been handled: missed slots collapse into
    /// one run instead of one run each.
    pub checked_until: i64,
    pub runs: Vec<TaskRun>,
}

/// Why a task operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("task '{0}' does not exist")]
    NotFound(String),
    #[error("run '{0}' does not exist")]
    RunNotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the retention cleaner is built in and cannot be deleted")]
    BuiltIn,
    #[error("cannot save {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Seal(#[from] SealError),
}

pub struct TaskStore {
    path: PathBuf,
    tasks: Mutex<Vec<Task>>,
    sealer: Sealer,
}

impl TaskStore {
    /// Loads the tasks, adding the retention cleaner (hourly) when missing.
    pub fn open(state_dir: &Path) -> Result<Self, TaskError> {
        let path = state_dir.join("tasks.json");
        let tasks: Vec<Task> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                TaskError::Invalid(format!("{} is not a task file: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(TaskError::Io { path, source }),
        };
        let store = Self {
            sealer: Sealer::open(&state_dir.join("tasks.key"))?,
            path,
            tasks: Mutex::new(tasks),
        };
        let mut tasks = store.lock();
        if !tasks.iter().any(|t| t.id == CLEANER_ID) {
            let now = now_ms();
            tasks.push(Task {
                id: CLEANER_ID.into(),
                title: "Backup retention cleaner".into(),
                task_type: TaskType::BackupRetentionCleaner,
                active: true,
                cron: CronFields {
                    minute: "0".into(),
                    hour: "*".into(),
                    day_of_month: "*".into(),
                    month: "*".into(),
                    day_of_week: "?".into(),
                },
                start_date: None,
                end_date: None,
                max_occurrences: -1,
                occurrences: 0,
                backup: None,
                created: now,
                updated: now,
                last_start: None,
                checked_until: now,
                runs: Vec::new(),
            });
            store.save(&tasks)?;
        }
        drop(tasks);
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Task>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, tasks: &[Task]) -> Result<(), TaskError> {
        let bytes = serde_json::to_vec_pretty(tasks).map_err(|e| TaskError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&self.path, &bytes).map_err(|source| TaskError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Applies `change` to the task `id` and saves.
    fn modify<T>(
        &self,
        id: &str,
        change: impl FnOnce(&mut Task) -> Result<T, TaskError>,
    ) -> Result<T, TaskError> {
        let mut tasks = self.lock();
        let mut updated = tasks.clone();
        let task = updated
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| TaskError::NotFound(id.to_string()))?;
        let out = change(task)?;
        task.updated = now_ms();
        self.save(&updated)?;
        *tasks = updated;
        Ok(out)
    }

    pub fn list(&self) -> Vec<Task> {
        self.lock().clone()
    }

    pub fn get(&self, id: &str) -> Result<Task, TaskError> {
        self.lock()
            .iter()
            .find(|t| t.id == id)
            .cloned()
            .ok_or_else(|| TaskError::NotFound(id.to_string()))
    }

    pub fn create(&self, input: TaskInput) -> Result<Task, TaskError> {
        self.create_checked(input, |_| Ok(()))
    }

    /// [`create`](Self::create), keeping the task only if `check` (the
    /// host's view of it, e.g. that its store exists) accepts it.
    pub fn create_checked(
        &self,
        input: TaskInput,
        check: impl FnOnce(&Task) -> Result<(), TaskError>,
    ) -> Result<Task, TaskError> {
        let now = now_ms();
        let task = input.into_new_task(random_id(), now, &self.sealer)?;
        check(&task)?;
        let mut tasks = self.lock();
        let mut updated = tasks.clone();
        updated.push(task.clone());
        self.save(&updated)?;
        *tasks = updated;
        Ok(task)
    }

    pub fn update(&self, id: &str, input: TaskInput) -> Result<Task, TaskError> {
        self.update_checked(id, input, |_| Ok(()))
    }

    /// [`update`](Self::update), keeping the change only if `check` accepts
    /// the updated task.
    pub fn update_checked(
        &self,
        id: &str,
        input: TaskInput,
        check: impl FnOnce(&Task) -> Result<(), TaskError>,
    ) -> Result<Task, TaskError> {
        let sealer = &self.sealer;
        self.modify(id, |task| {
            input.apply_to(task, sealer)?;
            check(task)?;
            Ok(task.clone())
        })
    }

    pub fn delete(&self, id: &str) -> Result<(), TaskError> {
        if id == CLEANER_ID {
            return Err(TaskError::BuiltIn);
        }
        let mut tasks = self.lock();
        let mut updated = tasks.clone();
        let before = updated.len();
        updated.retain(|t| t.id != id);
        if updated.len() == before {
            return Err(TaskError::NotFound(id.to_string()));
        }
        self.save(&updated)?;
        *tasks = updated;
        Ok(())
    }

    pub fn set_active(&self, id: &str, active: bool) -> Result<(), TaskError> {
        self.modify(id, |task| {
            task.set_active(active, now_ms());
            Ok(())
        })
    }

    /// `runs/<run>/update`: sets a run's status and result text (spec §8.3).
    pub fn update_run(
        &self,
        id: &str,
        run_id: &str,
        status: Option<RunStatus>,
        result: Option<String>,
    ) -> Result<TaskRun, TaskError> {
        self.modify(id, |task| {
            let run = task
                .runs
                .iter_mut()
                .find(|r| r.run_id == run_id)
                .ok_or_else(|| TaskError::RunNotFound(run_id.to_string()))?;
            if let Some(status) = status {
                run.status = status;
                // A status set by hand no longer follows the run's job.
                run.jobid = None;
            }
            if let Some(result) = result {
                run.result = result;
            }
            Ok(run.clone())
        })
    }

    /// `runs/<run>/delete`: forgets a run.
    pub fn delete_run(&self, id: &str, run_id: &str) -> Result<(), TaskError> {
        self.modify(id, |task| {
            let before = task.runs.len();
            task.runs.retain(|r| r.run_id != run_id);
            if task.runs.len() == before {
                return Err(TaskError::RunNotFound(run_id.to_string()));
            }
            Ok(())
        })
    }

    /// Tasks with a slot in `(checked_until, now]`; marks them handled up to
    /// `now` (so the slots a host downtime missed make one run, not many).
    pub fn take_due(&self, now: i64) -> Result<Vec<Task>, TaskError> {
        let mut tasks = self.lock();
        let mut updated = tasks.clone();
        let mut due = Vec::new();
        let mut checked = false;
        for task in updated.iter_mut().filter(|t| t.active) {
            let Ok(cron) = Cron::parse(&task.cron) else {
                continue;
            };
            let from = task
                .checked_until
                .max(task.start_date.map_or(i64::MIN, |s| s.saturating_sub(1)));
            let Some(slot) = cron.next_after(from) else {
                continue;
            };
            if slot > now {
                continue;
            }
            task.checked_until = now;
            checked = true;
            let ended = task.end_date.is_some_and(|end| slot > end);
            let used_up = task.max_occurrences >= 0 && task.occurrences >= task.max_occurrences;
            if !ended && !used_up {
                due.push(task.clone());
            }
        }
        // Most ticks find no slot: they leave the file alone rather than
        // fsync it (on a tokio worker) every tick.
        if checked {
            self.save(&updated)?;
            *tasks = updated;
        }
        Ok(due)
    }

    /// Records a run of `id` (counting it as an occurrence).
    pub fn record_run(
        &self,
        id: &str,
        status: RunStatus,
        result: String,
        jobid: Option<String>,
    ) -> Result<TaskRun, TaskError> {
        self.modify(id, |task| {
            let now = now_ms();
            let run = TaskRun {
                run_id: random_id(),
                created: now,
                status,
                result,
                jobid,
            };
            task.last_start = Some(now);
            task.occurrences += 1;
            task.runs.push(run.clone());
            let excess = task.runs.len().saturating_sub(MAX_RUNS);
            task.runs.drain(..excess);
            Ok(run)
        })
    }

    /// The schedule's passcode, unsealed, for a run.
    pub fn passcode(&self, schedule: &BackupSchedule) -> Result<String, TaskError> {
        Ok(self.sealer.open_sealed(&schedule.sealed_passcode)?)
    }
}

impl Task {
    /// Enables or disables the task at `now`.
    fn set_active(&mut self, active: bool, now: i64) {
        if active && !self.active {
            // Slots that passed while disabled are not owed.
            self.checked_until = now;
        }
        self.active = active;
    }

    /// The task object of spec §8.2. The passcode is never shown.
    pub fn view(&self, run_status: impl Fn(&TaskRun) -> RunStatus) -> Value {
        let next = Cron::parse(&self.cron)
            .ok()
            .and_then(|c| c.next_after(self.checked_until.max(now_ms())));
        json!({
            "id": self.id,
            "taskId": self.id,
            "taskTitle": self.title,
            "title": self.title,
            // Backup schedules act on no portal item; clients read the key.
            "itemId": null,
            "taskType": self.task_type,
            "type": self.task_type.internal_name(),
            "taskState": if self.active { "active" } else { "paused" },
            "active": self.active,
            "cronSchedule": self.cron,
            "cronExpression": Cron::quartz_expression(&self.cron),
            "maxOccurrences": self.max_occurrences,
            "occurrences": self.occurrences,
            "startDate": self.start_date,
            "endDate": self.end_date,
            "lastStart": self.last_start,
            "nextStart": if self.active { next } else { None },
            "created": self.created,
            "updated": self.updated,
            "parameters": self.backup.as_ref().map(BackupSchedule::view),
            "runs": self.runs.len(),
            "lastRun": self.runs.last().map(|r| run_view(r, run_status(r))),
        })
    }
}

pub fn run_view(run: &TaskRun, status: RunStatus) -> Value {
    json!({
        "runId": run.run_id,
        "created": run.created,
        "status": status,
        "result": run.result,
        "jobid": run.jobid,
    })
}

fn random_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_hour_at(minute: u32) -> TaskInput {
        TaskInput {
            task_type: Some("CreateBackup".into()),
            parameters: Some(json!({"name": "hourly", "passcode": "long-passcode"})),
            minute: Some(minute.to_string()),
            hour: Some("*".into()),
            day_of_month: Some("*".into()),
            month: Some("*".into()),
            day_of_week: Some("?".into()),
            ..TaskInput::default()
        }
    }

    #[test]
    fn missed_slots_make_one_run_and_disabled_tasks_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TaskStore::open(dir.path()).expect("open");
        let task = store.create(every_hour_at(0)).expect("create");
        let created = task.created;
        // Nothing is due before the next slot.
        let next = Cron::parse(&task.cron)
            .expect("cron")
            .next_after(created)
            .expect("next");
        assert!(
            store
                .take_due(next - 1)
                .expect("due")
                .iter()
                .all(|t| t.id != task.id)
        );
        // A tick without a slot leaves the file as it was.
        let file = |store: &TaskStore| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&store.path).expect("saved").ino()
        };
        let before = file(&store);
        store.take_due(next - 1).expect("due");
        assert_eq!(file(&store), before, "not rewritten");
        // Five hours of slots missed (a host that was down): one run.
        let later = next + 5 * 3_600_000;
        let due = store.take_due(later).expect("due");
        assert_eq!(due.iter().filter(|t| t.id == task.id).count(), 1);
        assert!(
            store
                .take_due(later + 1000)
                .expect("due")
                .iter()
                .all(|t| t.id != task.id)
        );
        // Survives a restart.
        let reopened = TaskStore::open(dir.path()).expect("reopen");
        assert_eq!(reopened.get(&task.id).expect("task").checked_until, later);
        reopened.set_active(&task.id, false).expect("disable");
        assert!(
            reopened
                .take_due(later + 10 * 3_600_000)
                .expect("due")
                .iter()
                .all(|t| t.id != task.id)
        );
        // The cleaner exists once and cannot be deleted.
        assert_eq!(
            reopened
                .list()
                .iter()
                .filter(|t| t.id == CLEANER_ID)
                .count(),
            1
        );
        assert!(matches!(
            reopened.delete(CLEANER_ID),
            Err(TaskError::BuiltIn)
        ));
        let shown = serde_json::to_string(&reopened.list()).expect("json")
            + &std::fs::read_to_string(dir.path().join("tasks.json")).expect("file");
        assert!(
            !shown.contains("long-passcode"),
            "a passcode at rest in clear"
        );
    }

    #[test]
    fn max_occurrences_stop_a_schedule() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TaskStore::open(dir.path()).expect("open");
        let mut input = every_hour_at(30);
        input.max_occurrences = Some(1);
        let task = store.create(input).expect("create");
        let hour = 3_600_000;
        assert_eq!(
            store
                .take_due(task.created + 2 * hour)
                .expect("due")
                .iter()
                .filter(|t| t.id == task.id)
                .count(),
            1
        );
        store
            .record_run(&task.id, RunStatus::Executing, "started".into(), None)
            .expect("run");
        assert!(
            store
                .take_due(task.created + 4 * hour)
                .expect("due")
                .iter()
                .all(|t| t.id != task.id)
        );
    }

    /// What the ArcGIS API for Python's `Task.update` sends back from a
    /// task's view: the internal type name, the masked passcode, `isActive`.
    #[test]
    fn an_update_made_from_the_view_keeps_the_passcode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TaskStore::open(dir.path()).expect("open");
        let task = store.create(every_hour_at(5)).expect("create");
        let view = task.view(|run| run.status);
        assert_eq!(view["type"], "CREATE_BACKUP_TASK_TYPE");
        assert_eq!(view["title"], view["taskTitle"]);
        assert!(view["itemId"].is_null());
        let update = TaskInput {
            task_type: Some("CREATE_BACKUP_TASK_TYPE".into()),
            title: Some("renamed".into()),
            parameters: Some(view["parameters"].clone()),
            is_active: Some(false),
            ..TaskInput::default()
        };
        let updated = store.update(&task.id, update).expect("update");
        assert_eq!(updated.title, "renamed");
        assert!(!updated.active);
        let schedule = updated.backup.as_ref().expect("schedule");
        assert_eq!(store.passcode(schedule).expect("passcode"), "long-passcode");
        let other = TaskInput {
            task_type: Some("BACKUP_RETENTION_CLEANER_TASK_TYPE".into()),
            ..TaskInput::default()
        };
        assert!(store.update(&task.id, other).is_err());
    }

    #[test]
    fn runs_are_updated_and_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TaskStore::open(dir.path()).expect("open");
        let task = store.create(every_hour_at(5)).expect("create");
        let run = store
            .record_run(
                &task.id,
                RunStatus::Executing,
                "started".into(),
                Some("j1".into()),
            )
            .expect("run");
        let updated = store
            .update_run(
                &task.id,
                &run.run_id,
                Some(RunStatus::Failed),
                Some("by hand".into()),
            )
            .expect("update");
        assert_eq!(updated.status, RunStatus::Failed);
        assert_eq!(updated.result, "by hand");
        assert_eq!(updated.jobid, None, "no longer follows its job");
        let kept = store
            .update_run(&task.id, &run.run_id, None, Some("again".into()))
            .expect("update");
        assert_eq!(kept.status, RunStatus::Failed);
        assert!(matches!(
            store.update_run(&task.id, "nope", None, None),
            Err(TaskError::RunNotFound(_))
        ));
        store.delete_run(&task.id, &run.run_id).expect("delete");
        assert!(store.get(&task.id).expect("task").runs.is_empty());
        assert!(matches!(
            store.delete_run(&task.id, &run.run_id),
            Err(TaskError::RunNotFound(_))
        ));
    }
}
