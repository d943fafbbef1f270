//! What `createTask` and `<task>/update` send, checked and turned into a
//! [`Task`]: the CRON fields, and for `CreateBackup` the `parameters` JSON
//! (name prefix, passcode, store, description, retention).

use drhost_api::model::Passcode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::cron::{Cron, CronFields, name_suffix};
use super::sealed::Sealer;
use super::{Task, TaskError, TaskType};

const DAY_MS: i64 = 86_400_000;

/// How long a schedule's backups are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Retention {
    /// Each backup gets `retentionDate = start + ms` (the spec's
    /// `retentionOffset`, or `metaData.retention` in days, weeks, months).
    Offset { ms: i64 },
    /// The cleaner keeps the newest `count` backups of the schedule (drhost's
    /// `metaData.retention.type = "count"`).
    KeepLast { count: u32 },
}

/// The backup a `CreateBackup` task makes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSchedule {
    /// Backups are named `<prefix>-YYYY-MM-DD-HH-MM-SS` (UTC).
    pub name_prefix: String,
    pub sealed_passcode: String,
    /// `None`: the default store at the time of the run.
    pub store: Option<String>,
    pub description: String,
    pub retention: Option<Retention>,
    /// `parameters` as sent, without the passcode, for views.
    pub parameters: Value,
}

/// How views show a schedule's passcode.
pub const MASKED_PASSCODE: &str = "********";

impl BackupSchedule {
    pub fn view(&self) -> Value {
        let mut shown = self.parameters.clone();
        if let Some(map) = shown.as_object_mut() {
            map.insert("passcode".into(), json!(MASKED_PASSCODE));
        }
        shown
    }

    /// The name of a backup this schedule starts at `now`.
    pub fn backup_name(&self, now: i64) -> String {
        format!("{}-{}", self.name_prefix, name_suffix(now))
    }

    /// `retentionDate` of a backup started at `now`; -1 keeps it.
    pub fn retention_date(&self, now: i64) -> i64 {
        match self.retention {
            Some(Retention::Offset { ms }) => now.saturating_add(ms),
            _ => -1,
        }
    }
}

/// The parameters of `createTask` or `<task>/update`, as received.
pub type TaskInput = drhost_api::TaskParams;

/// Checking and applying what the API received.
pub(super) trait TaskInputExt {
    fn into_new_task(self, id: String, now: i64, sealer: &Sealer) -> Result<Task, TaskError>;
    fn apply_to(self, task: &mut Task, sealer: &Sealer) -> Result<(), TaskError>;
}

impl TaskInputExt for TaskInput {
    fn into_new_task(self, id: String, now: i64, sealer: &Sealer) -> Result<Task, TaskError> {
        match self.task_type.as_deref() {
            Some("CreateBackup") => {}
            Some(other) => {
                return Err(TaskError::Invalid(format!(
                    "type '{other}' cannot be created here; use CreateBackup"
                )));
            }
            None => return Err(TaskError::Invalid("type is required (CreateBackup)".into())),
        }
        let parameters = self
            .parameters
            .clone()
            .ok_or_else(|| TaskError::Invalid("parameters is required".into()))?;
        let cron = CronFields {
            minute: self.minute.clone().unwrap_or_default(),
            hour: self.hour.clone().unwrap_or_default(),
            day_of_month: self.day_of_month.clone().unwrap_or_default(),
            month: self.month.clone().unwrap_or_default(),
            day_of_week: self.day_of_week.clone().unwrap_or_default(),
        };
        Cron::parse(&cron).map_err(TaskError::Invalid)?;
        let backup = parse_schedule(&parameters, None, sealer)?;
        check_dates(self.start_date, self.end_date)?;
        Ok(Task {
            id,
            title: self
                .title
                .unwrap_or_else(|| format!("Backup {}", backup.name_prefix)),
            task_type: TaskType::CreateBackup,
            active: true,
            cron,
            start_date: self.start_date,
            end_date: self.end_date,
            max_occurrences: self.max_occurrences.unwrap_or(-1).max(-1),
            occurrences: 0,
            backup: Some(backup),
            created: now,
            updated: now,
            last_start: None,
            checked_until: now,
            runs: Vec::new(),
        })
    }

    /// Changes what was sent; fields not sent stay. The passcode may be
    /// left out of new `parameters` to keep the current one.
    fn apply_to(self, task: &mut Task, sealer: &Sealer) -> Result<(), TaskError> {
        // `type` may be the public name (`CreateBackup`) or the internal one
        // a task's view shows as `type` (`CREATE_BACKUP_TASK_TYPE`), which
        // clients send back when they update from the view.
        if let Some(kind) = &self.task_type
            && serde_json::to_value(task.task_type).ok() != Some(json!(kind))
            && task.task_type.internal_name() != kind
        {
            return Err(TaskError::Invalid(format!(
                "a task's type cannot change (it is {:?})",
                task.task_type
            )));
        }
        let mut cron = task.cron.clone();
        for (field, value) in [
            (&mut cron.minute, self.minute),
            (&mut cron.hour, self.hour),
            (&mut cron.day_of_month, self.day_of_month),
            (&mut cron.month, self.month),
            (&mut cron.day_of_week, self.day_of_week),
        ] {
            if let Some(value) = value {
                *field = value;
            }
        }
        Cron::parse(&cron).map_err(TaskError::Invalid)?;
        let start_date = self.start_date.or(task.start_date);
        let end_date = self.end_date.or(task.end_date);
        check_dates(start_date, end_date)?;
        if let Some(parameters) = &self.parameters {
            if task.task_type != TaskType::CreateBackup {
                return Err(TaskError::Invalid(
                    "the retention cleaner takes no parameters".into(),
                ));
            }
            task.backup = Some(parse_schedule(parameters, task.backup.as_ref(), sealer)?);
        }
        task.cron = cron;
        task.start_date = start_date;
        task.end_date = end_date;
        if let Some(title) = self.title {
            task.title = title;
        }
        if let Some(max) = self.max_occurrences {
            task.max_occurrences = max.max(-1);
        }
        if let Some(active) = self.is_active {
            task.set_active(active, crate::clock::now_ms());
        }
        Ok(())
    }
}

fn check_dates(start: Option<i64>, end: Option<i64>) -> Result<(), TaskError> {
    if let (Some(start), Some(end)) = (start, end)
        && end < start
    {
        return Err(TaskError::Invalid("endDate is before startDate".into()));
    }
    Ok(())
}

fn parse_schedule(
    parameters: &Value,
    current: Option<&BackupSchedule>,
    sealer: &Sealer,
) -> Result<BackupSchedule, TaskError> {
    let invalid = |m: &str| TaskError::Invalid(format!("parameters: {m}"));
    let map = parameters
        .as_object()
        .ok_or_else(|| invalid("must be a JSON object"))?;
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::trim);
    let name_prefix = text("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("name (the backup name prefix) is required"))?
        .to_string();
    drhost_repo::validate_backup_name(&format!("{name_prefix}-2000-01-01-00-00-00")).map_err(
        |e| {
            invalid(&format!(
                "name prefix '{name_prefix}' gives invalid backup names: {e}"
            ))
        },
    )?;
    let sealed_passcode = match (text("passcode"), current) {
        // The mask a view shows, sent back by a client that updates a task
        // from its properties (the ArcGIS API for Python's `Task.update`):
        // the passcode stays.
        (Some(MASKED_PASSCODE), Some(current)) => current.sealed_passcode.clone(),
        (Some(p), _) => match Passcode::new(p) {
            Ok(passcode) => sealer.seal(passcode.expose())?,
            Err(_) => return Err(invalid("passcode must be at least eight characters")),
        },
        (None, Some(current)) => current.sealed_passcode.clone(),
        (None, None) => return Err(invalid("passcode is required")),
    };
    let retention = match parameters.pointer("/metaData/retention") {
        Some(r) if r.get("type").and_then(Value::as_str) == Some("count") => {
            let count = r
                .get("value")
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v >= 1)
                .ok_or_else(|| invalid("metaData.retention.value must be a count of at least 1"))?;
            Some(Retention::KeepLast { count })
        }
        r => match map.get("retentionOffset").and_then(Value::as_i64) {
            Some(ms) if ms > 0 => Some(Retention::Offset { ms }),
            Some(_) => return Err(invalid("retentionOffset must be positive milliseconds")),
            None => match r {
                Some(r) => {
                    let value = r
                        .get("value")
                        .and_then(Value::as_i64)
                        .filter(|v| *v > 0)
                        .ok_or_else(|| invalid("metaData.retention.value must be positive"))?;
                    let unit = match r.get("type").and_then(Value::as_str) {
                        Some("day") => DAY_MS,
                        Some("week") => 7 * DAY_MS,
                        Some("month") => 30 * DAY_MS,
                        other => {
                            return Err(invalid(&format!(
                                "metaData.retention.type {other:?} must be day, week, month or count"
                            )));
                        }
                    };
                    Some(Retention::Offset {
                        ms: value.saturating_mul(unit),
                    })
                }
                None => None,
            },
        },
    };
    let mut shown = parameters.clone();
    if let Some(map) = shown.as_object_mut() {
        map.remove("passcode");
    }
    Ok(BackupSchedule {
        name_prefix,
        sealed_passcode,
        store: text("storeName")
            .filter(|s| !s.is_empty())
            .map(String::from),
        description: text("description").unwrap_or_default().to_string(),
        retention,
        parameters: shown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> (tempfile::TempDir, Sealer) {
        let dir = tempfile::tempdir().expect("tempdir");
        let sealer = Sealer::open(&dir.path().join("k")).expect("key");
        (dir, sealer)
    }

    #[test]
    fn retention_forms() {
        let (_dir, s) = sealer();
        let parse = |p: Value| parse_schedule(&p, None, &s).map(|b| b.retention);
        let base = json!({"name": "nightly", "passcode": "long-passcode"});
        assert_eq!(parse(base.clone()).expect("none"), None);
        let mut p = base.clone();
        p["retentionOffset"] = json!(1_209_600_000i64);
        assert_eq!(
            parse(p).expect("offset"),
            Some(Retention::Offset { ms: 1_209_600_000 })
        );
        let mut p = base.clone();
        p["metaData"] = json!({"retention": {"type": "week", "value": 2}});
        assert_eq!(
            parse(p).expect("weeks"),
            Some(Retention::Offset { ms: 14 * DAY_MS })
        );
        let mut p = base.clone();
        p["metaData"] = json!({"retention": {"type": "count", "value": 3}});
        assert_eq!(
            parse(p).expect("count"),
            Some(Retention::KeepLast { count: 3 })
        );
        let mut p = base;
        p["metaData"] = json!({"retention": {"type": "year", "value": 1}});
        assert!(parse(p).is_err());
    }

    #[test]
    fn bad_parameters_are_named_and_the_passcode_is_never_shown() {
        let (_dir, s) = sealer();
        for (p, word) in [
            (json!([]), "object"),
            (json!({"passcode": "long-passcode"}), "name"),
            (
                json!({"name": "a/b", "passcode": "long-passcode"}),
                "name prefix",
            ),
            (json!({"name": "n"}), "passcode"),
            (json!({"name": "n", "passcode": "short"}), "eight"),
        ] {
            let error = parse_schedule(&p, None, &s).expect_err("bad").to_string();
            assert!(error.contains(word), "{error}");
        }
        let schedule = parse_schedule(
            &json!({"name": "n", "passcode": "long-passcode", "storeName": "s"}),
            None,
            &s,
        )
        .expect("ok");
        let shown = serde_json::to_string(&schedule).expect("json") + &schedule.view().to_string();
        assert!(!shown.contains("long-passcode"), "{shown}");
        assert_eq!(schedule.store.as_deref(), Some("s"));
        assert_eq!(schedule.backup_name(0), "n-1970-01-01-00-00-00");
    }
}
