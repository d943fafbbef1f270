//! `/admin`, disaster-recovery status and settings, and jobs.

use serde_json::{Number, Value, json};

use super::{Ctx, success};
use crate::error::ApiError;
use crate::model;

/// `GET /admin`.
pub(crate) fn admin_root(ctx: &Ctx<'_>) -> Value {
    let version = ctx.app.config.current_version;
    let current = Number::from_f64(version).map_or(Value::Null, Value::Number);
    json!({
        "resources": ["system", "jobs"],
        "currentVersion": current,
        "fullVersion": version.to_string(),
        "drhostVersion": env!("CARGO_PKG_VERSION"),
    })
}

/// `GET .../disasterrecovery/status` → `{"status": {...}}`.
pub(crate) async fn status(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let status = model::to_json(&ctx.app.ops.status().await?)?;
    Ok(json!({ "status": status }))
}

/// `GET .../disasterrecovery/settings`.
pub(crate) async fn settings(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    Ok(model::to_json(&ctx.app.ops.settings().await?)?)
}

/// `POST .../disasterrecovery/settings/update` with `settings` (JSON object).
pub(crate) async fn update_settings(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let settings = ctx.params.json_object("settings")?;
    ctx.app.ops.update_settings(settings).await?;
    Ok(success())
}

/// `GET /admin/jobs` → `{"jobs": [ids...]}`.
pub(crate) async fn jobs(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    Ok(json!({"jobs": ctx.app.ops.list_jobs().await?}))
}

/// `GET /admin/jobs/<jobid>`.
pub(crate) async fn job(ctx: &Ctx<'_>, jobid: &str) -> Result<Value, ApiError> {
    Ok(model::to_json(&ctx.app.ops.job(jobid).await?)?)
}
