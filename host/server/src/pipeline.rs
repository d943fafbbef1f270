//! The configured stages, loaded: each stage's plugin and the sandbox grants
//! it gets for backup (source read-only) and restore (target read-write).

use std::sync::Arc;

use drhost_repo::PluginBuild;
use drhost_runtime::{DirGrant, Grants, PluginContext, Runtime, StagePlugin};

use crate::config::StageConfig;
use crate::plugins::{component_bytes, plugin_name};

/// Guest path at which a stage sees its granted directory.
pub const STAGE_GUEST_DIR: &str = "/data";

/// One stage of the pipeline: ready to run, or disabled because its plugin
/// could not be loaded.
#[derive(Clone)]
pub struct ConfiguredStage {
    pub config: StageConfig,
    pub plugin_name: String,
    /// `sha256:<hex>` of the component, for the plugins resource and the
    /// backup manifest: what was loaded, not what the file holds now. Empty
    /// when the component could not be read.
    pub digest: String,
    /// The loaded plugin, or why the stage is disabled.
    plugin: Result<Arc<StagePlugin>, String>,
}

/// A stage that cannot run: its plugin failed to load when the host started.
/// Jobs report it under the stage's name, which the message leaves out.
#[derive(Debug, thiserror::Error)]
#[error(
    "the stage is disabled because its plugin could not be loaded when the host started: \
     {reason}. Fix the stage's plugin and restart the host."
)]
pub struct StageDisabled {
    pub reason: String,
}

impl ConfiguredStage {
    /// Loads the stage's plugin, its `describe` under the stage's own limits.
    /// A plugin that cannot be loaded leaves the stage disabled (logged once
    /// here), so one broken stage does not keep the host from starting.
    pub async fn load(runtime: &Runtime, config: &StageConfig) -> Self {
        let name = plugin_name(&config.plugin);
        let (digest, plugin) = Self::load_plugin(runtime, config, &name).await;
        if let Err(reason) = &plugin {
            tracing::error!(
                stage = %config.name,
                plugin = %name,
                %reason,
                "stage disabled: its plugin could not be loaded"
            );
        }
        Self {
            config: config.clone(),
            plugin_name: name,
            digest,
            plugin,
        }
    }

    async fn load_plugin(
        runtime: &Runtime,
        config: &StageConfig,
        name: &str,
    ) -> (String, Result<Arc<StagePlugin>, String>) {
        let bytes = match component_bytes(&config.plugin) {
            Ok(bytes) => bytes,
            Err(e) => return (String::new(), Err(e.to_string())),
        };
        let digest = crate::plugin_views::digest(&bytes);
        let plugin = runtime
            .load_stage_limited(name, &bytes, config.describe_limits())
            .await
            .map_err(|e| e.to_string());
        (digest, plugin)
    }

    /// The stage's plugin, or why the stage cannot run.
    pub fn plugin(&self) -> Result<&Arc<StagePlugin>, StageDisabled> {
        self.plugin.as_ref().map_err(|reason| StageDisabled {
            reason: reason.clone(),
        })
    }

    /// Why the stage is disabled; `None` when it runs.
    pub fn disabled_reason(&self) -> Option<&str> {
        self.plugin.as_ref().err().map(String::as_str)
    }

    /// The build a backup records for this stage: the component's digest and
    /// the version its `describe` returned.
    pub fn build(&self) -> PluginBuild {
        PluginBuild {
            digest: self.digest.clone(),
            version: self
                .plugin
                .as_ref()
                .map(|p| recordable_version(&p.info().version))
                .unwrap_or_default(),
        }
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
            limits: self.config.limits().to_plugin_limits(),
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

/// A plugin's self-declared version as a manifest may hold it (at most 128
/// bytes, no control characters): a plugin cannot fail every backup of its
/// stage with an odd version string.
fn recordable_version(version: &str) -> String {
    let mut kept = String::new();
    for c in version.chars().filter(|c| !c.is_control()) {
        if kept.len() + c.len_utf8() > drhost_repo::limits::MAX_STAGE_NAME {
            break;
        }
        kept.push(c);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::recordable_version;

    #[test]
    fn versions_are_recorded_without_control_characters_and_bounded() {
        assert_eq!(recordable_version("1.2.3"), "1.2.3");
        assert_eq!(recordable_version("1.0\n\u{7}"), "1.0");
        let long = "é".repeat(100);
        let kept = recordable_version(&long);
        assert_eq!(kept.len(), 128);
        assert!(long.starts_with(&kept));
    }
}
