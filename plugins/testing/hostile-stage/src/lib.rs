//! Hostile stage for the host's tests: tries one attack, named by `attack`
//! in `/data/attack.json` if that file exists (so a test can arm and disarm
//! it between jobs without restarting the host), else in its configuration.
//! Without an attack (`"none"`) it backs up one small file and restores by
//! reading everything, so the same host can then run a good job.
//!
//! Attacks that the host (or WASI) should refuse end with the refusal as the
//! stage's error; anything that got through is reported as `ESCAPED ...` so a
//! test cannot mistake a hole for a refusal.

// Natively (`cargo test` of the workspace) only the export is left out.
#![cfg_attr(not(target_os = "wasi"), allow(dead_code, unused_imports))]

mod attacks;
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "stage-plugin",
        // The WASI interfaces the world includes are generated here too;
        // the component imports only those the plugin uses.
        generate_all,
    });
}

use bindings::drhost::plugin::archive::{ArchiveReader, ArchiveWriter};
use bindings::drhost::plugin::host;
use bindings::drhost::plugin::types::{Attribute, PluginError};
use bindings::exports::drhost::plugin::stage::{Guest, StageInfo, StageKind, StageSummary};
use serde_json::{Map, Value};

/// Where a test arms the plugin without changing the host's configuration.
const ATTACK_FILE: &str = "/data/attack.json";

struct HostileStage;

impl Guest for HostileStage {
    fn describe() -> StageInfo {
        StageInfo {
            name: "testing-hostile-stage".into(),
            kind: StageKind::Other,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn validate(_config: String) -> Result<(), PluginError> {
        Ok(())
    }

    fn backup(out: &ArchiveWriter) -> Result<StageSummary, PluginError> {
        let settings = settings()?;
        attacks::backup(attack(&settings), &settings, out)
    }

    fn restore(input: &ArchiveReader, _: Vec<Attribute>) -> Result<StageSummary, PluginError> {
        let settings = settings()?;
        attacks::restore(attack(&settings), &settings, input)
    }
}

/// The attack file's object, else the configuration's.
fn settings() -> Result<Map<String, Value>, PluginError> {
    let text = match std::fs::read_to_string(ATTACK_FILE) {
        Ok(text) => text,
        Err(_) => host::config(),
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(PluginError::InvalidConfig(
            "settings must be a JSON object".into(),
        )),
    }
}

fn attack(settings: &Map<String, Value>) -> &str {
    settings
        .get("attack")
        .and_then(Value::as_str)
        .unwrap_or("none")
}

#[cfg(target_os = "wasi")]
bindings::export!(HostileStage with_types_in bindings);
