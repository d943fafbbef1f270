//! The stage's configuration (`config` of its `[[stage]]` entry, as JSON):
//! `{"root": "/data"}`, where `root` defaults to `/data`.

use guest_sdk::PluginError;

/// The guest directory to back up or restore into.
pub fn root(config: &str) -> Result<String, PluginError> {
    guest_sdk::plugin_util::config::root(config, "/data").map_err(PluginError::InvalidConfig)
}
