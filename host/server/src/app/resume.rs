//! Jobs a host stop interrupted: a backup with a journal resumes under its
//! job id, reusing the packs its interrupted run stored; every other job is
//! marked failed and what it left in its store is collected.

use std::collections::BTreeSet;
use std::sync::Arc;

use drhost_api::CreateBackup;

use super::Host;
use crate::jobs::{JobRecord, Operation, codes};
use crate::journal::{self, JobJournal, JournalHeader};
use crate::orchestrator::BackupJob;

impl Host {
    /// Whether backups interrupted by a host stop resume: the configuration
    /// file and the DR setting must both allow it.
    pub(super) fn resume_enabled(&self) -> bool {
        self.config.resume_interrupted_backups && self.settings.resume_interrupted_backups()
    }

    /// Starts the journal of a new backup job, if resumption is on. Without
    /// one (off, or the state directory refuses it) the job simply cannot
    /// resume; it runs all the same.
    pub(super) fn start_journal(
        &self,
        jobid: &str,
        request: &CreateBackup,
        schedule_type: &str,
        start_time: i64,
    ) -> Option<Arc<JobJournal>> {
        if !self.resume_enabled() {
            return None;
        }
        let sealed_passcode = match self.sealer.seal(request.passcode.expose()) {
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::warn!(jobid, error = %e, "cannot seal the passcode; the backup will not resume after a host stop");
                return None;
            }
        };
        let header = JournalHeader {
            store: request.store.clone(),
            backup_name: request.name.clone(),
            description: request.description.clone(),
            schedule_type: schedule_type.to_string(),
            retention_date: request.retention_date,
            start_time,
            stages: self.stage_plan(),
            sealed_passcode,
            ..JournalHeader::new(jobid)
        };
        match JobJournal::create(&self.jobs.dir(), &header) {
            Ok(journal) => Some(Arc::new(journal)),
            Err(e) => {
                tracing::warn!(jobid, error = %e, "cannot start the job journal; the backup will not resume after a host stop");
                None
            }
        }
    }

    fn stage_plan(&self) -> Vec<String> {
        self.stages.iter().map(|s| s.config.name.clone()).collect()
    }

    /// Settles the jobs that were running when the host stopped. Stores a
    /// resumed backup writes to are not collected: its journaled packs are
    /// referenced by no commit record yet, and collection would delete them.
    pub(super) async fn settle_interrupted(&self, interrupted: &[String]) {
        let mut resumed_stores = BTreeSet::new();
        let mut failed_stores = BTreeSet::new();
        for jobid in interrupted {
            let Some(job) = self.jobs.get(jobid) else {
                continue;
            };
            match self.resume_backup_job(&job).await {
                Ok(Settled::Resumed) => {
                    tracing::info!(jobid, store = %job.backup_store, "backup interrupted by a host stop resumes");
                    resumed_stores.insert(job.backup_store.clone());
                }
                Ok(Settled::CommittedBeforeStop { partial }) => {
                    tracing::info!(jobid, store = %job.backup_store, "backup was committed before the host stopped");
                    let failure = partial.then(|| {
                        format!(
                            "Some stages failed; the others were committed as partial backup \
                             '{}'; restoring it needs partial=true.",
                            job.backup_name
                        )
                    });
                    self.jobs.complete_interrupted(
                        jobid,
                        codes::BACKUP_COMPLETED,
                        &format!(
                            "The host stopped after backup {} was committed.",
                            job.backup_name
                        ),
                        failure.as_deref(),
                    );
                }
                Err(why) => {
                    tracing::warn!(jobid, store = %job.backup_store, reason = %why, "job was interrupted by a host stop; marked failed");
                    self.jobs.fail_interrupted(jobid);
                    if job.operation != Operation::Restore {
                        failed_stores.insert(job.backup_store.clone());
                    }
                }
            }
        }
        self.remove_stale_journals();
        for store in failed_stores.difference(&resumed_stores) {
            let Ok(repo) = self.repository(store).await else {
                continue;
            };
            match repo.collect_garbage().await {
                Ok(report) => tracing::info!(%store, "garbage collected: {report}"),
                Err(e) => tracing::warn!(%store, error = %e, "garbage collection failed"),
            }
        }
    }

    /// Journals of jobs that are not running: left by a job that failed to
    /// resume, or by a stop between a job's end and its journal's removal.
    fn remove_stale_journals(&self) {
        let dir = self.jobs.dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "journal") {
                continue;
            }
            let running = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|id| self.jobs.get(id))
                .is_some_and(|job| !job.status.is_finished());
            if !running {
                journal::remove_journal(&path);
            }
        }
    }

    /// Runs an interrupted backup again from its journal, or says why not.
    async fn resume_backup_job(&self, job: &JobRecord) -> Result<Settled, String> {
        if job.operation != Operation::Backup {
            return Err("only backups resume".into());
        }
        if !self.resume_enabled() {
            return Err("resuming interrupted backups is turned off".into());
        }
        let (journal, recovered) = JobJournal::reopen(&self.jobs.dir(), &job.jobid)
            .map_err(|e| e.to_string())?
            .ok_or("the job has no journal")?;
        if recovered.dropped_bytes > 0 {
            tracing::info!(jobid = %job.jobid, bytes = recovered.dropped_bytes, "dropped the torn end of the job journal");
        }
        let header = recovered.header;
        if header.stages != self.stage_plan() {
            return Err("the configured stages changed since the backup started".into());
        }
        let passcode = self
            .sealer
            .open_sealed(&header.sealed_passcode)
            .map_err(|e| format!("the journaled passcode cannot be opened: {e}"))?;
        let repo = self
            .repository(&header.store)
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(info) = repo.backup_info(&header.backup_name).await {
            // The name was free when the job started and one DR job runs at
            // a time: a record of that name with the job's start time is the
            // job's own commit, written just before the stop.
            if info.start_time == header.start_time {
                return Ok(Settled::CommittedBeforeStop {
                    partial: info.is_partial(),
                });
            }
            return Err("another backup of the same name was committed meanwhile".into());
        }
        let guard = self.claim_dr_lock().map_err(|e| e.to_string())?;
        let packs = recovered.packs.len();
        let bytes: u64 = recovered.packs.iter().map(|p| p.bytes()).sum();
        let handle = self
            .jobs
            .resume_interrupted(
                &job.jobid,
                &format!(
                    "The host stopped while this backup was running. It resumes where it \
                     stopped: {packs} packs ({bytes} bytes) it had stored are not written again."
                ),
            )
            .ok_or("the job record is gone")?;
        let info = drhost_repo::BackupInfo::new(
            header.backup_name,
            header.description,
            header.schedule_type,
            header.start_time,
            header.retention_date,
            env!("CARGO_PKG_VERSION"),
        );
        let work = BackupJob {
            repo,
            stages: self.stages.clone(),
            passcode,
            info,
            resume: recovered.packs,
            journal: Some(Arc::new(journal)),
        };
        self.spawn_backup(handle, guard, work);
        Ok(Settled::Resumed)
    }
}

/// What became of an interrupted backup that had a journal.
enum Settled {
    /// It runs again.
    Resumed,
    /// It had committed its backup (`partial` or not); only the job's end
    /// was lost.
    CommittedBeforeStop { partial: bool },
}
