//! Installed plugins (`system/plugins`, a drhost addition). Never secrets:
//! no password, key or plugin configuration values.

use serde::{Deserialize, Serialize};

/// A pipeline stage or a store adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugin {
    /// Unique among the plugins.
    pub name: String,
    pub plugin: String,
    /// `built-in` or `file`.
    pub component: String,
    /// `stage` or `store-adapter`.
    pub kind: String,
    /// The `type` of `stores/register` it serves; store adapters only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_type: Option<String>,
    /// A stage's kind, e.g. `object-store`; stages only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_kind: Option<String>,
    pub described_name: String,
    /// The plugin's own version.
    pub version: String,
    /// Store adapters only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_only: Option<bool>,
    /// The WIT package it implements.
    pub wit_package: String,
    /// `sha256:<hex>` of the component; empty when it could not be read.
    pub digest: String,
    /// `enabled`, or `disabled` for a plugin that could not be loaded when
    /// the host started (it then has no `describedName`, `stageKind` or
    /// `version`; a disabled stage fails its part of every backup and
    /// restore, a disabled store adapter every use of its stores).
    pub status: String,
    /// Why the plugin is disabled; only with `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub capabilities: Capabilities,
    pub load: Load,
}

/// [`Plugin::status`] of a plugin that runs.
pub const PLUGIN_ENABLED: &str = "enabled";
/// [`Plugin::status`] of a plugin that could not be loaded.
pub const PLUGIN_DISABLED: &str = "disabled";

/// What a plugin may touch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    pub directories: Vec<Directory>,
    pub tcp_connect: Vec<String>,
    /// Authorities only: grants given as URLs may hold credentials.
    pub http_connect: Vec<String>,
    /// Where a stage's password comes from (a file or an environment
    /// variable, not which one); `null` without one.
    pub password: Option<String>,
    pub limits: Limits,
}

/// A directory a plugin may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Directory {
    pub host: String,
    pub guest: String,
    /// `ro` or `rw`.
    pub access: String,
    /// When the grant applies, e.g. `backup`.
    pub during: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    #[serde(rename = "memoryMiB")]
    pub memory_mib: u64,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
}

/// How the component was loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// `memory`, `disk cache` or `compiled`; `failed` for a disabled stage.
    pub source: String,
    pub millis: u64,
}
