//! Installed plugins: `/admin/system/plugins[/<name>]` (a drhost addition).

use serde_json::{Value, json};

use super::Ctx;
use crate::error::ApiError;

/// `GET system/plugins` → `{"plugins": [...]}`.
pub(crate) async fn list(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    Ok(json!({"plugins": ctx.app.ops.list_plugins().await?}))
}

/// `GET system/plugins/<name>`.
pub(crate) async fn get(ctx: &Ctx<'_>, name: &str) -> Result<Value, ApiError> {
    Ok(ctx.app.ops.plugin(name).await?)
}
