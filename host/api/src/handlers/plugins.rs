//! Installed plugins: `/admin/system/plugins[/<name>]` (a drhost addition).

use serde_json::{Value, json};

use super::Ctx;
use crate::error::ApiError;
use crate::model;

/// `GET system/plugins` → `{"plugins": [...]}`.
pub(crate) async fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let plugins = model::to_json(&ctx.app.ops.list_plugins().await?)?;
    Ok(json!({ "plugins": plugins }))
}

/// `GET system/plugins/<name>`.
pub(crate) async fn get(ctx: &Ctx<'_>, name: &str) -> Result<Value, ApiError> {
    Ok(model::to_json(&ctx.app.ops.plugin(name).await?)?)
}
