//! Backup stores: `.../disasterrecovery/stores[/<store>[/update|unregister|validate]]`
//! and `stores/register`.

use serde_json::{Value, json};

use super::{Ctx, success};
use crate::error::ApiError;
use crate::model;
use crate::names::{self, NameKind};
use crate::ops::RegisterStore;

/// `GET stores` → `{"backupStores": [...]}`.
pub(crate) async fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let stores = model::to_json(&ctx.app.ops.list_stores().await?)?;
    Ok(json!({ "backupStores": stores }))
}

/// `POST stores/register` with `storeName`, `settings` (JSON object),
/// `isDefault` and `async` (booleans, default false). Synchronous
/// registrations answer success once the store is registered; `async=true`
/// answers the job envelope at once, and the job registers the store (it may
/// probe a remote bucket) and fails with the reason it could not.
pub(crate) async fn register(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let store = ctx.params.required("storeName")?;
    names::check_new(NameKind::Store, store)?;
    let settings = ctx.params.json_object("settings")?;
    let is_default = ctx.params.boolean("isDefault", false)?;
    if ctx.params.boolean("async", false)? {
        let request = RegisterStore {
            store: store.to_owned(),
            settings,
            is_default,
            username: ctx.identity.username.clone(),
            operation_uri: ctx.operation_uri(),
        };
        let job = ctx.app.ops.register_store_async(request).await?;
        return Ok(ctx.job_envelope(&job));
    }
    ctx.app
        .ops
        .register_store(store, settings, is_default)
        .await?;
    Ok(success())
}

/// `GET stores/<store>`.
pub(crate) async fn get(ctx: &Ctx<'_>, store: &str) -> Result<Value, ApiError> {
    Ok(model::to_json(&ctx.app.ops.store(store).await?)?)
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
