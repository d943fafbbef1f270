//! Renders the loaded plugins as the `system/plugins` objects: what each is
//! (name, kind, version, WIT package, digest), and what it may touch
//! (directories, network, limits).
//!
//! Secrets never appear: a stage's password is shown only as where it comes
//! from (a file or an environment variable, not which one), its
//! configuration table is left out (operators may put credentials there),
//! and S3 stores appear only as the authorities the adapter may reach.

use std::path::Path;

use drhost_runtime::{LoadSource, LoadStats, StageKind, WIT_PACKAGE, normalize_authority};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::LimitsConfig;
use crate::pipeline::{ConfiguredStage, STAGE_GUEST_DIR};

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

fn dir_view(dir: &DirView<'_>) -> Value {
    json!({
        "host": dir.host.display().to_string(),
        "guest": dir.guest,
        "access": if dir.writable { "rw" } else { "ro" },
        "during": dir.during,
    })
}

fn limits_view(limits: &LimitsConfig) -> Value {
    json!({
        "memoryMiB": limits.memory_mib,
        "cpuSeconds": limits.cpu_seconds,
        "wallSeconds": limits.wall_seconds,
    })
}

fn load_view(stats: LoadStats) -> Value {
    let source = match stats.source {
        LoadSource::Memory => "memory",
        LoadSource::Disk => "disk cache",
        LoadSource::Compiled => "compiled",
    };
    json!({
        "source": source,
        "millis": u64::try_from(stats.elapsed.as_millis()).unwrap_or(u64::MAX),
    })
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

/// A stage of the pipeline.
pub fn stage(stage: &ConfiguredStage) -> Value {
    let config = &stage.config;
    let info = stage.plugin.info();
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
        (Some(_), _) => Value::from("from a file"),
        (None, Some(_)) => Value::from("from an environment variable"),
        (None, None) => Value::Null,
    };
    json!({
        "name": config.name,
        "plugin": stage.plugin_name,
        "component": component_source(&config.plugin),
        "kind": "stage",
        "stageKind": stage_kind(info.kind),
        "describedName": info.name,
        "version": info.version,
        "witPackage": WIT_PACKAGE,
        "digest": stage.digest,
        "capabilities": {
            "directories": dirs.iter().map(dir_view).collect::<Vec<_>>(),
            "tcpConnect": config.tcp_connect.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "httpConnect": authorities(&config.http_connect),
            "password": password,
            "limits": limits_view(&config.limits),
        },
        "load": load_view(stage.plugin.load_stats()),
    })
}

/// What a store adapter is and may use (over all stores it serves).
pub struct AdapterView<'a> {
    pub adapter: &'a drhost_runtime::StoreAdapter,
    pub digest: &'a str,
    pub dirs: Vec<DirView<'a>>,
    /// Authorities of the S3 endpoints it may reach.
    pub http_connect: Vec<String>,
    pub limits: &'a LimitsConfig,
}

/// A store adapter.
pub fn adapter(view: &AdapterView<'_>) -> Value {
    let info = view.adapter.info();
    json!({
        "name": view.adapter.name(),
        "plugin": view.adapter.name(),
        "component": "built-in",
        "kind": "store-adapter",
        "describedName": info.name,
        "version": info.version,
        "appendOnly": info.append_only,
        "witPackage": WIT_PACKAGE,
        "digest": view.digest,
        "capabilities": {
            "directories": view.dirs.iter().map(dir_view).collect::<Vec<_>>(),
            "tcpConnect": [],
            "httpConnect": view.http_connect,
            "password": Value::Null,
            "limits": limits_view(view.limits),
        },
        "load": load_view(view.adapter.load_stats()),
    })
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
