//! Runs backup, restore and delete jobs: the configured stages in order, each
//! a sandboxed plugin streaming entries into (or out of) the repository.

use std::sync::Arc;

use drhost_repo::{BackupInfo, BackupListing, BackupReader, RepoError, Repository, UploadedPack};
use drhost_runtime::{ArchiveBatch, ArchiveEvent, PluginGone, Reporter, RestoreFeed};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::clock::now_ms;
use crate::jobs::{JobHandle, JobStep, StageState, codes};
use crate::journal::JobJournal;
use crate::pipeline::ConfiguredStage;
use crate::progress;

/// Batches of events in flight between a plugin and the repository; a batch
/// holds at most about 5 MiB (1 MiB, then one data event of ≤ 4 MiB), which
/// bounds the memory of a stage's stream.
const CHANNEL_DEPTH: usize = 4;
/// Bytes handed to a restoring plugin per event.
const RESTORE_READ: usize = 1 << 20;

pub const VALIDATION: &str = "Validation";
pub const BACKUP_CLEANUP: &str = "Post backup operation cleanup";
pub const RESTORE_CLEANUP: &str = "Post restore operation cleanup";

/// A job's failure, as the operator reads it in `status.message`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JobFailure(pub String);

impl From<RepoError> for JobFailure {
    fn from(e: RepoError) -> Self {
        JobFailure(e.to_string())
    }
}

/// Forwards a plugin's progress and messages to its job.
struct StageReporter {
    job: JobHandle,
    step: JobStep,
}

impl Reporter for StageReporter {
    fn progress(&self, bytes: u64, items: u64) {
        self.job.stage_progress(self.step, bytes, items);
    }
    fn message(&self, code: u32, text: &str) {
        self.job.message(code, text);
    }
    fn warning(&self, code: u32, text: &str) {
        self.job.warn(code, text);
    }
}

/// Stage list of a backup job: validation, the pipeline, cleanup.
pub fn backup_stage_names(stages: &[ConfiguredStage]) -> Vec<String> {
    std::iter::once(VALIDATION.to_string())
        .chain(stages.iter().map(|s| s.config.name.clone()))
        .chain(std::iter::once(BACKUP_CLEANUP.to_string()))
        .collect()
}

/// Runs one stage step, recording its state in the job.
pub(crate) async fn step<T>(
    job: &JobHandle,
    job_step: JobStep,
    name: &str,
    work: impl Future<Output = Result<T, JobFailure>>,
) -> Result<T, JobFailure> {
    job.stage_started(job_step);
    let result = work
        .instrument(tracing::info_span!("stage", stage = name))
        .await;
    job.stage_finished(
        job_step,
        if result.is_ok() {
            StageState::Completed
        } else {
            StageState::Failed
        },
    );
    result.map_err(|e| JobFailure(format!("{name}: {e}")))
}

/// Everything a backup job needs.
pub struct BackupJob {
    pub repo: Repository,
    pub stages: Vec<ConfiguredStage>,
    pub passcode: String,
    pub info: BackupInfo,
    /// Packs an interrupted run of this job uploaded (from its journal).
    pub resume: Vec<UploadedPack>,
    /// Where each uploaded pack is recorded, if the job is resumable.
    pub journal: Option<Arc<JobJournal>>,
}

pub async fn run_backup(job: &JobHandle, work: BackupJob) -> Result<(), JobFailure> {
    job.message(codes::BACKUP_STARTED, "Started backup process.");
    let BackupJob {
        repo,
        stages,
        passcode,
        info,
        resume,
        journal,
    } = work;
    estimate_totals(job, &repo).await;

    let mut writer = step(job, JobStep::Validation, VALIDATION, async {
        // A disabled stage fails at its turn, as a stage that fails.
        for (stage, plugin) in runnable(&stages) {
            let context = stage.backup_context().map_err(JobFailure)?;
            plugin
                .validate(&context)
                .await
                .map_err(|e| JobFailure(format!("{}: {e}", stage.config.name)))?;
        }
        let resuming = !resume.is_empty();
        let (mut writer, resumed) = repo.resume_backup(&passcode, info, resume).await?;
        if resuming {
            let missing = match resumed.packs_missing {
                0 => String::new(),
                n => format!("; {n} journaled packs are no longer in the store"),
            };
            job.message(
                codes::BACKUP_RESUMED,
                &format!(
                    "Resumed: {} packs ({} bytes) stored before the host stopped are reused{missing}.",
                    resumed.packs, resumed.bytes
                ),
            );
        }
        if let Some(journal) = journal {
            writer.on_pack_uploaded(Arc::new(move |pack: &UploadedPack| {
                journal.record_pack(pack).map_err(|e| e.to_string())
            }));
        }
        Ok(writer)
    })
    .await?;

    let mut failed: Vec<(String, JobFailure)> = Vec::new();
    for (position, stage) in stages.iter().enumerate() {
        let this_step = JobStep::Stage(position);
        let name = stage.config.name.clone();
        let result = step(job, this_step, &name, async {
            let plugin = stage.plugin().map_err(|e| JobFailure(e.to_string()))?;
            let started = now_ms();
            let mut stage_writer = writer
                .begin_stage_of(&name, &stage.plugin_name, stage.build())
                .await?;
            let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
            let reporter = Arc::new(StageReporter {
                job: job.clone(),
                step: this_step,
            });
            let context = stage.backup_context().map_err(JobFailure)?;
            let unchanged = stage_writer.unchanged_files()?;
            let produce = plugin.backup(&context, tx, Some(unchanged), reporter);
            let consume = async {
                // Owned here, so a repository failure drops the receiver and
                // the plugin's next send fails instead of waiting forever.
                let mut rx = rx;
                while let Some(batch) = rx.recv().await {
                    for event in batch {
                        match event {
                            ArchiveEvent::Begin(meta) => stage_writer.begin_entry(meta).await?,
                            ArchiveEvent::Data(bytes) => stage_writer.write(&bytes).await?,
                            ArchiveEvent::End => stage_writer.end_entry().await?,
                            ArchiveEvent::Unchanged { meta, file } => {
                                stage_writer.add_unchanged(meta, file)?;
                            }
                        }
                    }
                }
                Ok::<_, RepoError>(())
            };
            let (produced, consumed) = tokio::join!(produce, consume);
            // A repository failure closes the channel, so the plugin fails too;
            // the repository's error is the cause worth reporting.
            consumed?;
            let summary = produced.map_err(|e| JobFailure(e.to_string()))?;
            let public = stage_writer
                .finish(summary.metadata, started, now_ms())
                .await?;
            job.stage_progress(this_step, public.bytes, public.items);
            job.message(
                codes::STAGE_PERSISTED,
                &format!(
                    "Persisted {name} results: {} items, {} bytes{}.",
                    public.items,
                    public.bytes,
                    rate_text(public.bytes, started)
                ),
            );
            Ok(())
        })
        .await;
        if let Err(failure) = result {
            // The other stages are kept unless the writer itself failed (the
            // store, not this stage): then nothing can be committed.
            if let Err(e) = writer.stage_failed(&name, &stage.plugin_name).await {
                tracing::debug!(error = %e, "the backup cannot be kept in part");
                return Err(failure);
            }
            failed.push((name, failure));
        }
    }
    if !failed.is_empty() && failed.len() == stages.len() {
        let (_, first) = failed.swap_remove(0);
        return Err(first);
    }

    let cleanup = JobStep::Cleanup;
    let committed = step(job, cleanup, BACKUP_CLEANUP, async {
        let stats = writer.stats();
        // The stages' buffers are freed: the manifest is assembled in their
        // place rather than on top of pages the arenas kept.
        crate::malloc::release_free_memory();
        let committed = writer.commit(now_ms()).await?;
        job.message(
            codes::BACKUP_PERSISTED,
            &format!(
                "Persisted backup results: {} bytes read ({} of them cut where the previous \
                 backup cut them), {} bytes of {} unchanged files taken over from the previous \
                 backup, {} new bytes stored.",
                // What the store grew by: chunks, pack padding and the manifest.
                stats.bytes_in,
                stats.bytes_cut_as_before,
                stats.bytes_reused,
                stats.files_reused,
                committed.stored_bytes
            ),
        );
        if !committed.is_partial() {
            job.message(
                codes::BACKUP_COMPLETED,
                &format!("Completed backup {}.", committed.name),
            );
        }
        Ok(committed)
    })
    .await?;
    if committed.is_partial() {
        return Err(partial_failure(job, &committed.name, &failed));
    }
    Ok(())
}

/// The failure of a backup committed without its failed stages: the job
/// fails (a stage did), and says what was kept and how to restore it.
fn partial_failure(job: &JobHandle, backup: &str, failed: &[(String, JobFailure)]) -> JobFailure {
    let names: Vec<&str> = failed.iter().map(|(name, _)| name.as_str()).collect();
    job.message(
        codes::BACKUP_PARTIAL,
        &format!(
            "Committed partial backup {backup} without the stages that failed: {}.",
            names.join(", ")
        ),
    );
    let causes: Vec<String> = failed.iter().map(|(_, f)| f.0.clone()).collect();
    JobFailure(format!(
        "{} The stages that completed were committed as partial backup '{backup}'; \
         restoring it needs partial=true and restores only those stages.",
        causes.join(" ")
    ))
}

/// Sets each stage's expected totals to what it held in the store's newest
/// backup: data grows slowly, so that is the best estimate there is. Without
/// a previous backup (or when the store cannot be listed) totals stay unknown.
async fn estimate_totals(job: &JobHandle, repo: &Repository) {
    let listings = match repo.list_backups().await {
        Ok(listings) => listings,
        Err(e) => {
            tracing::debug!(error = %e, "no size estimate: cannot list the store's backups");
            return;
        }
    };
    let newest = listings
        .into_iter()
        .filter_map(|listing| match listing {
            BackupListing::Ok(info) => Some(info),
            BackupListing::Damaged { .. } | BackupListing::Tampered(_) => None,
        })
        .max_by_key(|info| (info.complete_time, info.start_time));
    for stage in newest.iter().flat_map(|info| &info.stages) {
        job.stage_totals(&stage.name, stage.bytes, stage.items);
    }
}

/// `" in 2.1 s (1048576 bytes/s)"` for a stage that started at `started`.
fn rate_text(bytes: u64, started: i64) -> String {
    let elapsed = now_ms() - started;
    match progress::rates(bytes, None, elapsed, true).bytes_per_second {
        Some(rate) => format!(" in {:.1} s ({rate} bytes/s)", elapsed as f64 / 1000.0),
        None => String::new(),
    }
}

/// Stage list of a restore job.
pub fn restore_stage_names(backup_stages: &[String]) -> Vec<String> {
    std::iter::once(VALIDATION.to_string())
        .chain(backup_stages.iter().cloned())
        .chain(std::iter::once(RESTORE_CLEANUP.to_string()))
        .collect()
}

/// Everything a restore job needs; the backup was opened (passcode checked)
/// before the job was submitted.
pub struct RestoreJob {
    pub backup: BackupReader,
    /// The configured stage for each of the backup's stages, in backup order.
    pub stages: Vec<ConfiguredStage>,
}

pub async fn run_restore(job: &JobHandle, work: RestoreJob) -> Result<(), JobFailure> {
    job.message(
        codes::RESTORE_STARTED,
        &format!("Started restore of backup {}.", work.backup.info().name),
    );
    // The backup records what each stage holds: exact totals for the restore.
    for stage in &work.backup.info().stages {
        job.stage_totals(&stage.name, stage.bytes, stage.items);
    }
    warn_changed_components(job, &work);
    step(job, JobStep::Validation, VALIDATION, async {
        for (stage, plugin) in runnable(&work.stages) {
            let context = stage.restore_context().map_err(JobFailure)?;
            plugin
                .validate(&context)
                .await
                .map_err(|e| JobFailure(format!("{}: {e}", stage.config.name)))?;
        }
        Ok(())
    })
    .await?;

    for (position, stage) in work.stages.iter().enumerate() {
        let this_step = JobStep::Stage(position);
        let name = stage.config.name.clone();
        step(job, this_step, &name, async {
            let plugin = stage.plugin().map_err(|e| JobFailure(e.to_string()))?;
            let started = now_ms();
            let reader = work.backup.stage_reader(&name)?;
            let metadata = work.backup.stage_metadata(&name).unwrap_or_default();
            let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
            let reporter = Arc::new(StageReporter {
                job: job.clone(),
                step: this_step,
            });
            let context = stage.restore_context().map_err(JobFailure)?;
            let feed = feed_entries(reader, tx);
            let consume = plugin.restore(&context, rx, metadata, reporter);
            let (fed, consumed) = tokio::join!(feed, consume);
            // Damaged data is the root cause even though the plugin fails too.
            fed?;
            let summary = consumed.map_err(|e| JobFailure(e.to_string()))?;
            job.stage_progress(this_step, summary.bytes, summary.items);
            job.message(
                codes::RESTORE_STAGE_COMPLETED,
                &format!(
                    "Restored {name}: {} items, {} bytes{}.",
                    summary.items,
                    summary.bytes,
                    rate_text(summary.bytes, started)
                ),
            );
            Ok(())
        })
        .await?;
    }

    let cleanup = JobStep::Cleanup;
    step(job, cleanup, RESTORE_CLEANUP, async {
        job.message(codes::RESTORE_COMPLETED, "Completed restore.");
        Ok(())
    })
    .await
}

/// The stages that can run, with their plugins (disabled ones left out).
fn runnable(
    stages: &[ConfiguredStage],
) -> impl Iterator<Item = (&ConfiguredStage, &Arc<drhost_runtime::StagePlugin>)> {
    stages
        .iter()
        .filter_map(|stage| stage.plugin().ok().map(|plugin| (stage, plugin)))
}

/// Warns, per stage, when the component that restores it is not the one
/// that backed it up (its digest differs). Allowed, since a fixed or updated
/// plugin must be able to restore older backups, but the operator should
/// know which build wrote the data and which read it. Backups older than the
/// recorded digest are not compared; disabled stages fail on their own.
fn warn_changed_components(job: &JobHandle, work: &RestoreJob) {
    for stage in &work.stages {
        let Some(recorded) = work.backup.stage_plugin_build(&stage.config.name) else {
            continue;
        };
        let loaded = stage.build();
        if recorded.digest.is_empty()
            || stage.disabled_reason().is_some()
            || recorded.digest == loaded.digest
        {
            continue;
        }
        let recorded_plugin = work
            .backup
            .info()
            .stages
            .iter()
            .find(|s| s.name == stage.config.name)
            .map_or("?", |s| s.plugin.as_str());
        job.warn(
            codes::RESTORE_COMPONENT_CHANGED,
            &format!(
                "{}: backed up by plugin {recorded_plugin} version {} ({}), restored by another \
                 component, plugin {} version {} ({}).",
                stage.config.name,
                version_text(&recorded.version),
                recorded.digest,
                stage.plugin_name,
                version_text(&loaded.version),
                loaded.digest
            ),
        );
    }
}

fn version_text(version: &str) -> &str {
    if version.is_empty() {
        "(unknown)"
    } else {
        version
    }
}

/// Streams a stage's verified entries to the restoring plugin, in batches. A
/// repository error is sent to the plugin (so it stops) and returned (so the
/// job names it).
async fn feed_entries(
    mut reader: drhost_repo::StageReader,
    tx: mpsc::Sender<Result<ArchiveBatch, String>>,
) -> Result<(), JobFailure> {
    let mut feed = RestoreFeed::new(tx);
    let result = async {
        while let Some(meta) = reader.next_entry().await? {
            feed.push(ArchiveEvent::Begin(meta)).await?;
            loop {
                let data = reader.read(RESTORE_READ).await?;
                if data.is_empty() {
                    break;
                }
                feed.push(ArchiveEvent::Data(data)).await?;
            }
            feed.push(ArchiveEvent::End).await?;
        }
        feed.flush().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) | Err(FeedStop::PluginGone) => Ok(()),
        Err(FeedStop::Repo(e)) => {
            feed.fail(e.to_string()).await;
            Err(e.into())
        }
    }
}

/// Why feeding a restore stopped early.
enum FeedStop {
    Repo(RepoError),
    /// The plugin stopped reading; its own result says why.
    PluginGone,
}

impl From<RepoError> for FeedStop {
    fn from(e: RepoError) -> Self {
        FeedStop::Repo(e)
    }
}

impl From<PluginGone> for FeedStop {
    fn from(_: PluginGone) -> Self {
        FeedStop::PluginGone
    }
}

/// Checks the store's catalog (every backup's record is where the chain says,
/// unaltered, with its manifest; with the passcode, the MACs along the chain)
/// and reads every pack of the backup, checking every chunk in it. Fails,
/// naming the backups concerned, if either finds a problem.
pub async fn run_verify(
    job: &JobHandle,
    repo: &Repository,
    name: &str,
    opened: Result<BackupReader, RepoError>,
) -> Result<(), JobFailure> {
    step(job, JobStep::Single, "Verify backup", async {
        let findings = repo.check_catalog(opened.as_ref().ok()).await?;
        for finding in &findings {
            job.warn(codes::CATALOG_TAMPERED, &finding.reason);
        }
        let data = match &opened {
            Ok(backup) => backup.verify().await.map_err(|e| e.to_string()),
            Err(e) => Err(format!("backup {name} cannot be opened: {e}")),
        };
        let mut problems = Vec::new();
        match data {
            Ok(report) => job.message(
                codes::VERIFY_COMPLETED,
                &format!(
                    "Verified backup {name}: {} packs, {} chunks, {} bytes; every chunk is \
                     present and authentic.",
                    report.packs, report.chunks, report.bytes
                ),
            ),
            Err(e) => problems.push(e),
        }
        if !findings.is_empty() {
            let reasons: Vec<&str> = findings.iter().map(|f| f.reason.as_str()).collect();
            problems.push(format!(
                "the store's catalog shows tampering: {}",
                reasons.join(" ")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(JobFailure(problems.join("; ")))
        }
    })
    .await
}

/// Deletes a backup and the data no other backup references.
pub async fn run_delete(job: &JobHandle, repo: Repository, name: &str) -> Result<(), JobFailure> {
    step(job, JobStep::Single, "Delete backup", async {
        let report = repo.delete_backup(name).await?;
        job.message(
            codes::DELETE_COMPLETED,
            &format!("Deleted backup {name}; freed {report}."),
        );
        Ok(())
    })
    .await
}
