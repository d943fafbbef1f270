//! The operator's configuration (`drhost.toml`), with embedded defaults that
//! back up a demo deployment under the state directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole host configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Address the admin API listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// First path segment of every URL (`/<context>/admin/...`).
    #[serde(default = "default_context")]
    pub context: String,
    /// Where jobs, stores, users and the compiled-plugin cache are kept.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Compiled-plugin cache; defaults to `<state_dir>/cache`. Safe to share
    /// between hosts: entries are keyed by component and engine hash.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Create the demo deployment (under `<state_dir>/demo`) when it is missing.
    #[serde(default)]
    pub demo: bool,
    /// Directories under which API clients may place filesystem (`HOSTED`)
    /// stores. Defaults to `<state_dir>/stores`.
    #[serde(default)]
    pub store_roots: Vec<PathBuf>,
    /// Limits for store adapter plugins.
    #[serde(default)]
    pub store_limits: LimitsConfig,
    /// The backup pipeline, in order. Each entry becomes a stage of every
    /// backup and restore.
    #[serde(default, rename = "stage")]
    pub stages: Vec<StageConfig>,
}

/// One stage of the pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Display name, e.g. "Stage Object store"; also the key under which the
    /// stage's data is kept in a backup.
    pub name: String,
    /// A built-in plugin name (`object-store-fs`, `config-fs`) or a path to a
    /// `.wasm` component.
    pub plugin: String,
    /// Host directory granted read-only to the plugin at `/data` during backup.
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// Host directory granted read-write at `/data` during restore (defaults to `source`).
    #[serde(default)]
    pub target: Option<PathBuf>,
    /// Addresses the plugin may open TCP connections to.
    #[serde(default)]
    pub tcp_connect: Vec<SocketAddr>,
    /// Handed to the plugin as JSON (`host.config()`).
    #[serde(default = "empty_table")]
    pub config: toml::Table,
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// Sandbox limits of one plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    /// Guest CPU time, enforced with epoch interruption.
    #[serde(default = "default_cpu_seconds")]
    pub cpu_seconds: f64,
    /// Wall time of one plugin call, including time blocked in host calls.
    #[serde(default = "default_wall_seconds")]
    pub wall_seconds: f64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            memory_mib: default_memory_mib(),
            cpu_seconds: default_cpu_seconds(),
            wall_seconds: default_wall_seconds(),
        }
    }
}

impl LimitsConfig {
    pub fn to_plugin_limits(&self) -> drhost_runtime::PluginLimits {
        drhost_runtime::PluginLimits {
            memory_bytes: self.memory_mib.saturating_mul(1 << 20),
            cpu_time: Duration::from_secs_f64(self.cpu_seconds),
            wall_time: Duration::from_secs_f64(self.wall_seconds),
            ..drhost_runtime::PluginLimits::default()
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6443))
}
fn default_context() -> String {
    "arcgis".into()
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("drhost-state")
}
fn default_memory_mib() -> u64 {
    256
}
fn default_cpu_seconds() -> f64 {
    3600.0
}
fn default_wall_seconds() -> f64 {
    7200.0
}
fn empty_table() -> toml::Table {
    toml::Table::new()
}

/// The configuration used when none is given: a demo deployment with an
/// object store and a system-configuration directory under the state dir.
pub const EMBEDDED_DEFAULTS: &str = r#"
demo = true

[[stage]]
name = "Stage Object store"
plugin = "object-store-fs"
source = "@state/demo/objectstore"

[[stage]]
name = "Stage system configuration"
plugin = "config-fs"
source = "@state/demo/config"
"#;

impl HostConfig {
    /// Loads `path`, or the embedded defaults when `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let (text, origin) = match path {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?,
                path.to_path_buf(),
            ),
            None => (
                EMBEDDED_DEFAULTS.to_string(),
                PathBuf::from("<embedded defaults>"),
            ),
        };
        Self::parse(&text, &origin)
    }

    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            message,
        };
        let config: HostConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        config.check().map_err(invalid)?;
        Ok(config)
    }

    /// Replaces the `@state` prefix in stage directories by the state dir, so
    /// the embedded defaults work wherever the state lives.
    pub fn resolve_paths(&mut self) {
        let state = self.state_dir.clone();
        let resolve = |p: &mut PathBuf| {
            if let Ok(rest) = p.strip_prefix("@state") {
                *p = state.join(rest);
            }
        };
        for stage in &mut self.stages {
            stage.source.as_mut().map(resolve);
            stage.target.as_mut().map(resolve);
        }
        for root in &mut self.store_roots {
            resolve(root);
        }
        if self.store_roots.is_empty() {
            self.store_roots.push(self.state_dir.join("stores"));
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.context.is_empty()
            || !self
                .context
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!("context {:?} must be [A-Za-z0-9_-]+", self.context));
        }
        let mut names = std::collections::HashSet::new();
        for stage in &self.stages {
            if stage.name.trim().is_empty() || stage.name.len() > 128 {
                return Err("a stage name must be 1 to 128 characters".into());
            }
            if !names.insert(stage.name.as_str()) {
                return Err(format!("stage name {:?} is used twice", stage.name));
            }
            check_limits(&stage.name, &stage.limits)?;
        }
        check_limits("store adapters", &self.store_limits)
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("cache"))
    }
}

impl StageConfig {
    /// The directory a restore writes into.
    pub fn restore_target(&self) -> Option<&Path> {
        self.target.as_deref().or(self.source.as_deref())
    }

    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".into())
    }
}

fn check_limits(owner: &str, limits: &LimitsConfig) -> Result<(), String> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if limits.memory_mib == 0 || limits.memory_mib > 4096 {
        return Err(format!("{owner}: memory_mib must be 1..=4096"));
    }
    if !positive(limits.cpu_seconds) || !positive(limits.wall_seconds) {
        return Err(format!("{owner}: cpu_seconds and wall_seconds must be > 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_and_resolve_under_the_state_dir() {
        let mut config = HostConfig::load(None).expect("defaults parse");
        config.state_dir = PathBuf::from("/var/lib/drhost");
        config.resolve_paths();
        assert_eq!(config.stages.len(), 2);
        assert_eq!(
            config.stages[0].source.as_deref(),
            Some(Path::new("/var/lib/drhost/demo/objectstore"))
        );
        assert_eq!(
            config.store_roots,
            vec![PathBuf::from("/var/lib/drhost/stores")]
        );
    }

    #[test]
    fn duplicate_stage_names_and_bad_limits_are_refused() {
        let twice = "[[stage]]\nname='a'\nplugin='x'\n[[stage]]\nname='a'\nplugin='y'\n";
        assert!(HostConfig::parse(twice, Path::new("t")).is_err());
        let zero = "[[stage]]\nname='a'\nplugin='x'\nlimits={memory_mib=0}\n";
        assert!(HostConfig::parse(zero, Path::new("t")).is_err());
        let unknown = "lisen='127.0.0.1:1'\n";
        assert!(HostConfig::parse(unknown, Path::new("t")).is_err());
    }
}
