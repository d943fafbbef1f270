//! The 10.9 layout, `.../disasterrecovery/backuprestore/...` (spec §4,
//! "Legacy 10.9 layout"). The ArcGIS API for Python still posts to it. The
//! store comes from the `storeName` parameter, or is the default store; each
//! handler then does exactly what its 10.9.1 twin in [`super::backups`] does.

use serde_json::{Value, json};

use super::{Ctx, backups};
use crate::error::ApiError;
use crate::names::{self, NameKind};
use crate::ops::OpError;

/// The `backuprestore` root: links to its children (an HTML page in the
/// reference API; other formats get the same listing as JSON).
pub(crate) fn root() -> Value {
    json!({"resources": ["backups", "status"], "operations": ["backup"]})
}

/// The store a legacy request addresses: `storeName` when given, else the
/// store registered as default.
pub(crate) async fn store(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    if let Some(store) = ctx.params.text("storeName") {
        names::check(NameKind::Store, store)?;
        return Ok(store.to_owned());
    }
    let stores = ctx.app.ops.list_stores().await?;
    stores
        .into_iter()
        .find(|store| store.default)
        .map(|store| store.name)
        .ok_or_else(|| {
            ApiError::from(OpError::NotFound(
                "No default backup store is registered; pass storeName.".to_owned(),
            ))
        })
}

/// `POST backuprestore/backup` with `name`, `passcode`, `description`,
/// `retentionDate` and `storeName`.
pub(crate) async fn create(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    backups::create(ctx, &store(ctx).await?).await
}

/// `GET backuprestore/backups` → the backups of the store.
pub(crate) async fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    backups::list(ctx, &store(ctx).await?).await
}

/// `GET backuprestore/backups/<backup>`.
pub(crate) async fn get(ctx: &Ctx<'_>, backup: &str) -> Result<Value, ApiError> {
    backups::get(ctx, &store(ctx).await?, backup).await
}

/// `POST backuprestore/backups/<backup>/restore` with `passcode`, `storeName`.
pub(crate) async fn restore(ctx: &Ctx<'_>, backup: &str) -> Result<Value, ApiError> {
    backups::restore(ctx, &store(ctx).await?, backup).await
}

/// `POST backuprestore/backups/<backup>/validate` with `storeName`: the
/// path of the ArcGIS API for Python's `Backup.validate()`.
pub(crate) async fn validate(ctx: &Ctx<'_>, backup: &str) -> Result<Value, ApiError> {
    backups::validate(ctx, &store(ctx).await?, backup).await
}

/// `POST backuprestore/backups/<backup>/delete` with `storeName`.
pub(crate) async fn delete(ctx: &Ctx<'_>, backup: &str) -> Result<Value, ApiError> {
    backups::delete(ctx, &store(ctx).await?, backup).await
}
