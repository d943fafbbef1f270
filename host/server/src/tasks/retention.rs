//! The retention cleaner: which backups have expired (their
//! `retentionDate` passed, or they fall beyond a schedule's "keep the newest
//! N"), and the job that deletes them and frees their chunks.

use drhost_repo::{BackupInfo, Repository};

use crate::jobs::{JobHandle, codes};
use crate::orchestrator::JobFailure;

/// A schedule that keeps only its newest `count` backups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepLast {
    /// `None`: the schedule backs up into whichever store is the default.
    pub store: Option<String>,
    pub prefix: String,
    pub count: u32,
}

/// Backups of `store` to delete at `now`, with the reason for each.
pub fn expired(
    store: &str,
    default_store: &str,
    backups: &[BackupInfo],
    keep_last: &[KeepLast],
    now: i64,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = backups
        .iter()
        .filter(|b| b.retention_date >= 0 && b.retention_date <= now)
        .map(|b| {
            (
                b.name.clone(),
                format!("its retention date ({} ms) has passed", b.retention_date),
            )
        })
        .collect();
    for rule in keep_last {
        if rule.store.as_deref().unwrap_or(default_store) != store {
            continue;
        }
        let mut scheduled: Vec<&BackupInfo> = backups
            .iter()
            .filter(|b| {
                b.schedule_type.eq_ignore_ascii_case("scheduled")
                    && b.name
                        .strip_prefix(&rule.prefix)
                        .is_some_and(|rest| rest.len() == 20 && rest.starts_with('-'))
            })
            .collect();
        scheduled.sort_by(|a, b| b.start_time.cmp(&a.start_time).then(b.name.cmp(&a.name)));
        // Only complete backups count toward N, so failed runs cannot push
        // the last good backups out; a partial one is kept while it is newer
        // than the Nth newest complete one.
        let mut complete_newer = 0u32;
        for old in scheduled {
            let kept = complete_newer < rule.count;
            if !old.is_partial() {
                complete_newer += 1;
            }
            if kept {
                continue;
            }
            if !out.iter().any(|(name, _)| *name == old.name) {
                out.push((
                    old.name.clone(),
                    format!(
                        "schedule '{}' keeps only its newest {} backups",
                        rule.prefix, rule.count
                    ),
                ));
            }
        }
    }
    out
}

/// Deletes what has expired in every store, one message per backup removed.
pub async fn run_cleanup(
    job: &JobHandle,
    stores: Vec<(String, Repository)>,
    default_store: String,
    keep_last: Vec<KeepLast>,
    now: i64,
) -> Result<(), JobFailure> {
    let mut removed = 0usize;
    let mut freed = 0u64;
    let mut failures = Vec::new();
    for (store, repo) in stores {
        let listings = match repo.list_backups().await {
            Ok(listings) => listings,
            Err(e) => {
                failures.push(format!("store '{store}': {e}"));
                continue;
            }
        };
        let infos: Vec<BackupInfo> = listings
            .into_iter()
            .filter_map(|l| match l {
                drhost_repo::BackupListing::Ok(info) => Some(info),
                // Damaged or tampered backups are evidence: never removed automatically.
                _ => None,
            })
            .collect();
        for (name, reason) in expired(&store, &default_store, &infos, &keep_last, now) {
            match repo.delete_backup(&name).await {
                Ok(report) => {
                    removed += 1;
                    if !report.dry_run {
                        freed += report.bytes_freed;
                    }
                    job.message(
                        codes::RETENTION_REMOVED,
                        &format!("Removed backup '{name}' from store '{store}': {reason}; freed {report}."),
                    );
                }
                Err(e) => failures.push(format!("backup '{name}' in store '{store}': {e}")),
            }
        }
        // Packs no backup references (a cancelled or crashed backup's) go too;
        // an append-only store only says what it would free (nothing changes).
        match repo.collect_garbage().await {
            Ok(report) if report.bytes_freed > 0 && !report.dry_run => {
                freed += report.bytes_freed;
                job.message(
                    codes::RETENTION_REMOVED,
                    &format!("Collected unreferenced data in store '{store}': {report}."),
                );
            }
            Ok(_) => {}
            Err(e) => failures.push(format!("garbage collection of store '{store}': {e}")),
        }
    }
    job.message(
        codes::RETENTION_COMPLETED,
        &format!(
            "Retention cleanup removed {removed} backup(s) and freed {:.1} MiB.",
            freed as f64 / (1024.0 * 1024.0)
        ),
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(JobFailure(format!(
            "Retention cleanup could not finish: {}",
            failures.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(name: &str, kind: &str, start: i64, retention: i64) -> BackupInfo {
        BackupInfo {
            complete_time: start,
            ..BackupInfo::new(name, "", kind, start, retention, "")
        }
    }

    #[test]
    fn dates_and_counts_expire_backups() {
        let backups = vec![
            backup("manual", "MANUAL", 1, 50),
            backup("keep", "MANUAL", 2, -1),
            backup("future", "MANUAL", 3, 500),
            backup("n-2026-01-01-00-00-01", "SCHEDULED", 10, -1),
            backup("n-2026-01-01-00-00-02", "SCHEDULED", 20, -1),
            backup("n-2026-01-01-00-00-03", "SCHEDULED", 30, -1),
            // Same prefix, but not this schedule's naming.
            backup("n-other", "SCHEDULED", 5, -1),
        ];
        let rules = [KeepLast {
            store: None,
            prefix: "n".into(),
            count: 2,
        }];
        let names: Vec<String> = expired("default", "default", &backups, &rules, 100)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["manual", "n-2026-01-01-00-00-01"]);
        // The rule names another store.
        let elsewhere = [KeepLast {
            store: Some("other".into()),
            ..rules[0].clone()
        }];
        assert_eq!(
            expired("default", "default", &backups, &elsewhere, 100).len(),
            1
        );
    }

    #[test]
    fn partial_backups_do_not_count_toward_keep_last() {
        let partial = |name: &str, start: i64| BackupInfo {
            incomplete_stages: vec![drhost_repo::IncompleteStage {
                name: "Stage hostile".into(),
                plugin: "p".into(),
            }],
            ..backup(name, "SCHEDULED", start, -1)
        };
        let backups = vec![
            partial("n-2026-01-01-00-00-00", 5),
            backup("n-2026-01-01-00-00-01", "SCHEDULED", 10, -1),
            partial("n-2026-01-01-00-00-02", 15),
            backup("n-2026-01-01-00-00-03", "SCHEDULED", 20, -1),
            partial("n-2026-01-01-00-00-04", 30),
            partial("n-2026-01-01-00-00-05", 40),
        ];
        let rules = [KeepLast {
            store: None,
            prefix: "n".into(),
            count: 2,
        }];
        let names: Vec<String> = expired("default", "default", &backups, &rules, 100)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        // The two newest complete backups stay, and the partial ones newer
        // than the older of them; the partial one before it goes.
        assert_eq!(names, ["n-2026-01-01-00-00-00"]);
    }
}
