//! Where plugin components come from: the ones built with the host are
//! embedded in the binary; others are `.wasm` files the configuration names.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Directory the build script put the plugin components in (test plugins are
/// only there, not embedded).
pub const PLUGIN_BUILD_DIR: &str = env!("DRHOST_PLUGIN_DIR");

/// Built-in plugins by name.
const BUILTIN: &[(&str, &[u8])] = &[
    (
        "object-store-fs",
        include_bytes!(concat!(env!("DRHOST_PLUGIN_DIR"), "/object_store_fs.wasm")),
    ),
    (
        "config-fs",
        include_bytes!(concat!(env!("DRHOST_PLUGIN_DIR"), "/config_fs.wasm")),
    ),
    (
        "relational-postgres",
        include_bytes!(concat!(
            env!("DRHOST_PLUGIN_DIR"),
            "/relational_postgres.wasm"
        )),
    ),
    (
        "object-store-s3",
        include_bytes!(concat!(env!("DRHOST_PLUGIN_DIR"), "/object_store_s3.wasm")),
    ),
    (
        "store-fs",
        include_bytes!(concat!(env!("DRHOST_PLUGIN_DIR"), "/store_fs.wasm")),
    ),
    (
        "store-s3",
        include_bytes!(concat!(env!("DRHOST_PLUGIN_DIR"), "/store_s3.wasm")),
    ),
];

/// Why a plugin's component could not be found.
#[derive(Debug, thiserror::Error)]
#[error(
    "plugin '{spec}' is neither a built-in plugin ({builtins}) nor a readable .wasm file: {reason}"
)]
pub struct PluginSourceError {
    spec: String,
    builtins: String,
    reason: String,
}

/// The component bytes of `spec`: a built-in name or a path to a `.wasm` file.
pub fn component_bytes(spec: &str) -> Result<Cow<'static, [u8]>, PluginSourceError> {
    if let Some((_, bytes)) = BUILTIN.iter().find(|(name, _)| *name == spec) {
        return Ok(Cow::Borrowed(bytes));
    }
    let error = |reason: String| PluginSourceError {
        spec: spec.to_string(),
        builtins: BUILTIN
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
        reason,
    };
    let path = Path::new(spec);
    if path.extension().is_none_or(|e| e != "wasm") {
        return Err(error("not a built-in name and no .wasm extension".into()));
    }
    std::fs::read(path)
        .map(Cow::Owned)
        .map_err(|e| error(e.to_string()))
}

/// Display name of a plugin spec: the built-in name or the file stem.
pub fn plugin_name(spec: &str) -> String {
    Path::new(spec)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| spec.to_string())
}

/// Path of a component the build produced (e.g. a test plugin).
pub fn built_component(file_stem: &str) -> PathBuf {
    Path::new(PLUGIN_BUILD_DIR).join(format!("{file_stem}.wasm"))
}
