//! Backups: `.../stores/<store>/backups[/create|/<backup>[/update|restore|verify|delete]]`.

use std::time::Instant;

use serde_json::{Value, json};

use super::{Ctx, success};
use crate::error::ApiError;
use crate::model::{self, Passcode};
use crate::names::{self, NameKind};
use crate::ops::{CreateBackup, DeleteBackup, JobRef, OpError, RestoreBackup, ValidateBackup};
use crate::throttle::retry_after_secs;

/// `GET backups` → `{"backups": [...]}`.
pub(crate) async fn list(ctx: &Ctx<'_>, store: &str) -> Result<Value, ApiError> {
    let backups = model::to_json(&ctx.app.ops.list_backups(store).await?)?;
    Ok(json!({ "backups": backups }))
}

/// `POST backups/create` with `name`, `passcode` (≥ 8 characters),
/// `description` (`None` = empty), `retentionDate` (epoch ms, -1 = never);
/// the legacy `storeName` is ignored (the store is in the path). Answers the
/// job envelope.
pub(crate) async fn create(ctx: &Ctx<'_>, store: &str) -> Result<Value, ApiError> {
    let name = ctx.params.required("name")?;
    names::check_new(NameKind::Backup, name)?;
    let passcode = Passcode::new(ctx.params.required("passcode")?)
        .map_err(|short| ApiError::BadRequest(short.to_string()))?;
    let request = CreateBackup {
        store: store.to_owned(),
        name: name.to_owned(),
        passcode,
        description: ctx.params.description("description"),
        retention_date: ctx.params.retention_date("retentionDate")?,
        username: ctx.identity.username.clone(),
        operation_uri: ctx.operation_uri(),
    };
    let job = ctx.app.ops.create_backup(request).await?;
    Ok(ctx.job_envelope(&job))
}

/// `GET backups/<backup>`.
pub(crate) async fn get(ctx: &Ctx<'_>, store: &str, backup: &str) -> Result<Value, ApiError> {
    Ok(model::to_json(&ctx.app.ops.backup(store, backup).await?)?)
}

/// `POST backups/<backup>/update` with `retentionDate` (required; -1 = never).
pub(crate) async fn update(ctx: &Ctx<'_>, store: &str, backup: &str) -> Result<Value, ApiError> {
    ctx.params.required("retentionDate")?;
    let retention_date = ctx.params.retention_date("retentionDate")?;
    ctx.app
        .ops
        .update_backup(store, backup, retention_date)
        .await?;
    Ok(success())
}

/// `POST backups/<backup>/restore` with `passcode`; the legacy `storeName` is
/// ignored. Answers the reference's `{"status": "success"}` (clients such as
/// the ArcGIS API for Python test for exactly that) once the restore job has
/// started, with `jobid` and `jobsUrl` to follow it.
pub(crate) async fn restore(ctx: &Ctx<'_>, store: &str, backup: &str) -> Result<Value, ApiError> {
    let request = opened_backup(ctx, store, backup)?;
    let job =
        with_passcode_throttle(ctx, store, backup, ctx.app.ops.restore_backup(request)).await?;
    Ok(ctx.started_job(&job))
}

/// `POST backups/<backup>/verify` with `passcode` (a drhost addition): a job
/// that checks every stored chunk of the backup without restoring it.
pub(crate) async fn verify(ctx: &Ctx<'_>, store: &str, backup: &str) -> Result<Value, ApiError> {
    let request = opened_backup(ctx, store, backup)?;
    let job =
        with_passcode_throttle(ctx, store, backup, ctx.app.ops.verify_backup(request)).await?;
    Ok(ctx.job_envelope(&job))
}

/// `POST backups/<backup>/validate` (`passcode` optional): a job, as
/// [`verify`] with the passcode; without one (the ArcGIS API for Python
/// sends none) it checks the store's catalog and that every object of the
/// backup is present and intact. Answers success with the job.
pub(crate) async fn validate(ctx: &Ctx<'_>, store: &str, backup: &str) -> Result<Value, ApiError> {
    let request = ValidateBackup {
        store: store.to_owned(),
        backup: backup.to_owned(),
        passcode: ctx.params.text("passcode").map(str::to_owned),
        username: ctx.identity.username.clone(),
        operation_uri: ctx.operation_uri(),
    };
    // With a passcode this is a verify: its guesses count as any other's.
    let job = match request.passcode.is_some() {
        true => {
            let validate = ctx.app.ops.validate_backup(request);
            with_passcode_throttle(ctx, store, backup, validate).await?
        }
        false => ctx.app.ops.validate_backup(request).await?,
    };
    Ok(ctx.started_job(&job))
}

/// Runs an operation that checks `backup`'s passcode, unless too many wrong
/// ones were tried lately (HTTP 429, see [`crate::throttle::passcodes`]).
async fn with_passcode_throttle(
    ctx: &Ctx<'_>,
    store: &str,
    backup: &str,
    operation: impl Future<Output = Result<JobRef, OpError>>,
) -> Result<JobRef, ApiError> {
    let attempt = ctx
        .app
        .passcodes
        .reserve(store, backup, Instant::now())
        .map_err(|wait| {
            tracing::warn!("passcode attempt refused: too many wrong passcodes for the backup");
            ApiError::TooManyPasscodes {
                retry_after: retry_after_secs(wait),
            }
        })?;
    let outcome = operation.await;
    attempt.settle(&outcome);
    Ok(outcome?)
}

fn opened_backup(ctx: &Ctx<'_>, store: &str, backup: &str) -> Result<RestoreBackup, ApiError> {
    Ok(RestoreBackup {
        store: store.to_owned(),
        backup: backup.to_owned(),
        passcode: ctx.params.required("passcode")?.to_owned(),
        partial: ctx.params.boolean("partial", false)?,
        username: ctx.identity.username.clone(),
        operation_uri: ctx.operation_uri(),
    })
}

/// `POST backups/<backup>/delete` with `async` (default false): synchronous
/// deletes wait for the job and answer success; asynchronous ones answer the
/// job envelope.
pub(crate) async fn delete(ctx: &Ctx<'_>, store: &str, backup: &str) -> Result<Value, ApiError> {
    let asynchronous = ctx.params.boolean("async", false)?;
    let request = DeleteBackup {
        store: store.to_owned(),
        backup: backup.to_owned(),
        username: ctx.identity.username.clone(),
        operation_uri: ctx.operation_uri(),
    };
    let job = ctx.app.ops.delete_backup(request, asynchronous).await?;
    Ok(if asynchronous {
        ctx.job_envelope(&job)
    } else {
        success()
    })
}
