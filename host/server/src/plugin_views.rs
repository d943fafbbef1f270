//! Renders the loaded plugins as the `system/plugins` objects: what each is
//! (name, kind, version, WIT package, digest), and what it may touch
//! (directories, network, limits).
//!
//! Secrets never appear: a stage's password is shown only as where it comes
//! from (a file or an environment variable, not which one), its
//! configuration table is left out (operators may put credentials there),
//! and S3 stores appear only as the authorities the adapter may reach.

use std::path::Path;

use drhost_api::model::{
    Capabilities, Directory, Limits, Load, PLUGIN_DISABLED, PLUGIN_ENABLED, Plugin,
};
use drhost_runtime::{LoadSource, LoadStats, StageKind, WIT_PACKAGE, normalize_authority};
use sha2::{Digest, Sha256};

use crate::config::LimitsConfig;
use crate::pipeline::{ConfiguredStage, STAGE_GUEST_DIR};
use crate::plugins::plugin_name;
use crate::stores::AdapterEntry;

/// `sha256:<hex>` of a component's bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One directory a plugin may use.
pub struct DirView<'a> {
    pub host: &'a Path,
    pub guest: &'a str,
    pub writable: bool,
    /// When the grant applies, e.g. `backup`.
    pub during: &'a str,
}

impl From<&DirView<'_>> for Directory {
    fn from(dir: &DirView<'_>) -> Self {
        Directory {
            host: dir.host.display().to_string(),
            guest: dir.guest.to_owned(),
            access: if dir.writable { "rw" } else { "ro" }.to_owned(),
            during: dir.during.to_owned(),
        }
    }
}

impl From<&LimitsConfig> for Limits {
    fn from(limits: &LimitsConfig) -> Self {
        Limits {
            memory_mib: limits.memory_mib,
            cpu_seconds: limits.cpu_seconds,
            wall_seconds: limits.wall_seconds,
        }
    }
}

/// Limits as they are enforced.
pub fn limits_view(limits: &drhost_runtime::PluginLimits) -> Limits {
    Limits {
        memory_mib: limits.memory_bytes >> 20,
        cpu_seconds: limits.cpu_time.as_secs_f64(),
        wall_seconds: limits.wall_time.as_secs_f64(),
    }
}
/// How the plugin was loaded; `None`: its load failed.
fn load_view(stats: Option<LoadStats>) -> Load {
    let Some(stats) = stats else {
        return Load {
            source: "failed".to_owned(),
            millis: 0,
        };
    };
    let source = match stats.source {
        LoadSource::Memory => "memory",
        LoadSource::Disk => "disk cache",
        LoadSource::Compiled => "compiled",
    };
    Load {
        source: source.to_owned(),
        millis: u64::try_from(stats.elapsed.as_millis()).unwrap_or(u64::MAX),
    }
}

/// `status`, and `reason` when the plugin is disabled.
fn status_view(disabled: Option<&str>) -> (String, Option<String>) {
    let status = if disabled.is_some() {
        PLUGIN_DISABLED
    } else {
        PLUGIN_ENABLED
    };
    (status.to_owned(), disabled.map(str::to_owned))
}

fn stage_kind(kind: StageKind) -> &'static str {
    match kind {
        StageKind::Relational => "relational",
        StageKind::ObjectStore => "object-store",
        StageKind::SystemConfiguration => "system-configuration",
        StageKind::Other => "other",
    }
}

/// Where a plugin's component came from: a built-in name, or a file.
fn component_source(spec: &str) -> &'static str {
    if spec.ends_with(".wasm") {
        "file"
    } else {
        "built-in"
    }
}

/// Grants given as URLs may hold credentials (`https://user:pw@host`):
/// only the authority the grant amounts to is shown.
fn authorities(grants: &[String]) -> Vec<String> {
    grants
        .iter()
        .map(|grant| normalize_authority(grant, None).unwrap_or_else(|| "(invalid)".into()))
        .collect()
}

/// A stage of the pipeline; a disabled one shows why, and nothing its
/// plugin would have said about itself.
pub fn stage(stage: &ConfiguredStage) -> Plugin {
    let config = &stage.config;
    let plugin = stage.plugin().ok();
    let info = plugin.map(|p| p.info());
    let mut dirs = Vec::new();
    if let Some(source) = config.source.as_deref() {
        dirs.push(DirView {
            host: source,
            guest: STAGE_GUEST_DIR,
            writable: false,
            during: "backup",
        });
    }
    if let Some(target) = config.restore_target() {
        dirs.push(DirView {
            host: target,
            guest: STAGE_GUEST_DIR,
            writable: true,
            during: "restore",
        });
    }
    let password = match (&config.password_file, &config.password_env) {
        (Some(_), _) => Some("from a file"),
        (None, Some(_)) => Some("from an environment variable"),
        (None, None) => None,
    };
    let (status, reason) = status_view(stage.disabled_reason());
    Plugin {
        name: config.name.clone(),
        plugin: stage.plugin_name.clone(),
        component: component_source(&config.plugin).to_owned(),
        kind: "stage".to_owned(),
        store_type: None,
        stage_kind: info.map(|i| stage_kind(i.kind).to_owned()),
        described_name: info.map(|i| i.name.clone()).unwrap_or_default(),
        version: info.map(|i| i.version.clone()).unwrap_or_default(),
        append_only: None,
        wit_package: WIT_PACKAGE.to_owned(),
        digest: stage.digest.clone(),
        status,
        reason,
        capabilities: Capabilities {
            directories: dirs.iter().map(Directory::from).collect(),
            tcp_connect: config.tcp_connect.iter().map(ToString::to_string).collect(),
            http_connect: authorities(&config.http_connect),
            password: password.map(str::to_owned),
            limits: Limits::from(&config.limits()),
        },
        load: load_view(plugin.map(|p| p.load_stats())),
    }
}

/// What a store adapter is and may use (over all stores it serves).
pub struct AdapterView<'a> {
    pub entry: &'a AdapterEntry,
    pub dirs: Vec<DirView<'a>>,
    /// Authorities of the store endpoints it may reach.
    pub http_connect: Vec<String>,
    pub limits: Limits,
}

/// A store adapter; a disabled one with the reason and no description.
pub fn adapter(view: AdapterView<'_>) -> Plugin {
    let config = &view.entry.config;
    let loaded = view.entry.state.as_ref().ok();
    let info = loaded.map(|l| l.adapter.info());
    let (status, reason) = status_view(view.entry.state.as_ref().err().map(String::as_str));
    Plugin {
        name: config.name.clone(),
        plugin: plugin_name(&config.plugin),
        component: component_source(&config.plugin).to_owned(),
        kind: "store-adapter".to_owned(),
        status,
        reason,
        store_type: Some(config.store_type.clone()),
        stage_kind: None,
        described_name: info.map(|i| i.name.clone()).unwrap_or_default(),
        version: info.map(|i| i.version.clone()).unwrap_or_default(),
        append_only: info.map(|i| i.append_only),
        wit_package: WIT_PACKAGE.to_owned(),
        digest: loaded.map(|l| l.digest.clone()).unwrap_or_default(),
        capabilities: Capabilities {
            directories: view.dirs.iter().map(Directory::from).collect(),
            tcp_connect: Vec::new(),
            http_connect: view.http_connect,
            password: None,
            limits: view.limits,
        },
        load: load_view(loaded.map(|l| l.adapter.load_stats())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256() {
        assert_eq!(
            digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn url_grants_lose_their_credentials() {
        let shown = authorities(&[
            "https://key:secret@s3.example.com/bucket".to_owned(),
            "db:5432".to_owned(),
        ]);
        assert_eq!(shown, ["s3.example.com:443", "db:5432"]);
    }
}
