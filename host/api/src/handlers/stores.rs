//! Backup stores: `.../disasterrecovery/stores[/<store>[/update|unregister|validate]]`
//! and `stores/register`.

use serde_json::{Value, json};

use super::{Ctx, success};
use crate::error::ApiError;
use crate::names::{self, NameKind};

/// `GET stores` → `{"backupStores": [...]}`.
pub(crate) async fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    Ok(json!({"backupStores": ctx.app.ops.list_stores().await?}))
}

/// `POST stores/register` with `storeName`, `settings` (JSON object),
/// `isDefault` and `async` (booleans, default false). Registration is quick,
/// so `async=true` is served synchronously too and answers success.
pub(crate) async fn register(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let store = ctx.params.required("storeName")?;
    names::check_new(NameKind::Store, store)?;
    let settings = ctx.params.json_object("settings")?;
    let is_default = ctx.params.boolean("isDefault", false)?;
    // Validated for the client's sake, then ignored (see above).
    let _asynchronous = ctx.params.boolean("async", false)?;
    ctx.app
        .ops
        .register_store(store, settings, is_default)
        .await?;
    Ok(success())
}

/// `GET stores/<store>`.
pub(crate) async fn get(ctx: &Ctx<'_>, store: &str) -> Result<Value, ApiError> {
    Ok(ctx.app.ops.store(store).await?)
}

/// `POST stores/<store>/update` with `settings` (JSON object).
pub(crate) async fn update(ctx: &Ctx<'_>, store: &str) -> Result<Value, ApiError> {
    let settings = ctx.params.json_object("settings")?;
    ctx.app.ops.update_store(store, settings).await?;
    Ok(success())
}

/// `POST stores/<store>/unregister`.
pub(crate) async fn unregister(ctx: &Ctx<'_>, store: &str) -> Result<Value, ApiError> {
    ctx.app.ops.unregister_store(store).await?;
    Ok(success())
}

/// `POST stores/<store>/validate` → `{"isReady": bool, "status": "success"}`.
pub(crate) async fn validate(ctx: &Ctx<'_>, store: &str) -> Result<Value, ApiError> {
    let ready = ctx.app.ops.validate_store(store).await?;
    Ok(json!({"isReady": ready, "status": "success"}))
}
