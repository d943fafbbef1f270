//! The configured stages, loaded: each stage's plugin and the sandbox grants
//! it gets for backup (source read-only) and restore (target read-write).

use std::sync::Arc;

use drhost_runtime::{DirGrant, Grants, PluginContext, Runtime, StagePlugin};

use crate::config::StageConfig;
use crate::plugins::{component_bytes, plugin_name};

/// Guest path at which a stage sees its granted directory.
pub const STAGE_GUEST_DIR: &str = "/data";

/// One stage of the pipeline, ready to run.
#[derive(Clone)]
pub struct ConfiguredStage {
    pub config: StageConfig,
    pub plugin_name: String,
    pub plugin: Arc<StagePlugin>,
    /// `sha256:<hex>` of the component, for the plugins resource: what was
    /// loaded, not what the file holds now.
    pub digest: String,
}

/// Why the pipeline could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] crate::plugins::PluginSourceError),
    #[error("stage '{stage}': {source}")]
    Load {
        stage: String,
        source: drhost_runtime::PluginFailure,
    },
}

impl ConfiguredStage {
    pub async fn load(runtime: &Runtime, config: &StageConfig) -> Result<Self, PipelineError> {
        let bytes = component_bytes(&config.plugin)?;
        let name = plugin_name(&config.plugin);
        let plugin =
            runtime
                .load_stage(&name, &bytes)
                .await
                .map_err(|source| PipelineError::Load {
                    stage: config.name.clone(),
                    source,
                })?;
        Ok(Self {
            config: config.clone(),
            plugin_name: name,
            plugin,
            digest: crate::plugin_views::digest(&bytes),
        })
    }

    fn context(
        &self,
        dir: Option<&std::path::Path>,
        writable: bool,
    ) -> Result<PluginContext, String> {
        let (config_json, password) = self.config.plugin_config()?;
        Ok(PluginContext {
            config_json,
            secrets: password.into_iter().collect(),
            grants: Grants {
                dirs: dir
                    .map(|host| DirGrant {
                        host: host.to_path_buf(),
                        guest: STAGE_GUEST_DIR.to_string(),
                        writable,
                    })
                    .into_iter()
                    .collect(),
                tcp_connect: self.config.tcp_connect.clone(),
                http_connect: self.config.http_connect.clone(),
                fs_policy: self.config.fs_policy(),
                http_addresses: None,
            },
            limits: self.config.limits.to_plugin_limits(),
        })
    }

    /// Backup sees its source read-only.
    pub fn backup_context(&self) -> Result<PluginContext, String> {
        self.context(self.config.source.as_deref(), false)
    }

    /// Restore sees its target read-write.
    pub fn restore_context(&self) -> Result<PluginContext, String> {
        self.context(self.config.restore_target(), true)
    }
}
