//! Each backup records, per stage, which build of the stage's plugin wrote
//! it (component digest and version). A restore by another build of the same
//! plugin goes on, with a warning naming the stage and both builds; a
//! restore whose stage is disabled (its plugin cannot be loaded) fails that
//! stage, naming the reason.

use crate::support;

use std::path::{Path, PathBuf};

use drhost::plugins::built_component;
use support::tree::assert_same_tree;
use support::{Deployment, TestHost, message_codes};

/// Message code of a stage restored by another component.
const COMPONENT_CHANGED: u64 = 5034;

/// `wasm` with a custom section appended: still a valid component of the
/// same plugin (custom sections carry no semantics), with another digest.
fn with_custom_section(wasm: &[u8]) -> Vec<u8> {
    let name = b"drhost-test-rebuild";
    let payload = b"another build of the same plugin";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(payload);
    // One LEB128 byte suffices for a section this small.
    assert!(section.len() < 0x80);
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8);
    out.extend_from_slice(&section);
    out
}

fn sha256_of(path: &Path) -> String {
    drhost::plugin_views::digest(&std::fs::read(path).expect("component"))
}

/// The standard configuration with the config stage's plugin replaced.
fn config_with_config_plugin(deployment: &Deployment, plugin: &str) -> String {
    let config = deployment.config_toml("");
    let replaced = config.replace("plugin = \"config-fs\"", &format!("plugin = \"{plugin}\""));
    assert_ne!(config, replaced, "the standard config names config-fs");
    replaced
}

fn write_config(deployment: &Deployment, config: &str) {
    std::fs::write(deployment.path().join("drhost.toml"), config).expect("write config");
}

#[test]
fn a_restore_by_another_build_warns_and_a_restore_by_a_broken_one_fails_the_stage() {
    let deployment = Deployment::new();
    deployment.populate();
    let original: PathBuf = built_component("config_fs");
    let rebuilt = deployment.path().join("config_fs_rebuilt.wasm");
    std::fs::write(
        &rebuilt,
        with_custom_section(&std::fs::read(&original).expect("config_fs.wasm")),
    )
    .expect("write rebuilt component");
    let original_digest = sha256_of(&original);
    let rebuilt_digest = sha256_of(&rebuilt);
    assert_ne!(original_digest, rebuilt_digest);

    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));
    let version = host.plugin("Stage system configuration")["version"]
        .as_str()
        .expect("version")
        .to_string();
    assert_eq!(
        host.plugin("Stage system configuration")["digest"],
        original_digest.as_str()
    );
    host.backup_ok("built");

    // The same plugin, another component.
    write_config(
        &deployment,
        &config_with_config_plugin(&deployment, &rebuilt.display().to_string()),
    );
    host.restart();
    let row = host.plugin("Stage system configuration");
    assert_eq!(row["status"], "enabled", "{row}");
    assert_eq!(row["digest"], rebuilt_digest.as_str(), "{row}");

    let job = host.restore_job("built");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["result"]["state"], "completed_with_warnings", "{job}");
    let warning = job["result"]["message"].as_str().unwrap_or_default();
    for part in [
        "Stage system configuration",
        "plugin config-fs",
        "plugin config_fs_rebuilt",
        &original_digest,
        &rebuilt_digest,
        &version,
    ] {
        assert!(warning.contains(part), "{part:?} missing from: {warning}");
    }
    // Only the stage whose component changed is named.
    assert!(!warning.contains("Stage Object store"), "{warning}");
    assert!(message_codes(&host.status()).contains(&COMPONENT_CHANGED));
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    assert_same_tree(&deployment.config_dir(), &deployment.restored_config());

    // Back on the built-in: the same component, no warning.
    std::fs::remove_dir_all(deployment.restored_config()).expect("clear target");
    std::fs::remove_dir_all(deployment.restored_objects()).expect("clear target");
    write_config(&deployment, &deployment.config_toml(""));
    host.restart();
    let job = host.restore_job("built");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["result"]["state"], "success", "{job}");
    assert!(!message_codes(&host.status()).contains(&COMPONENT_CHANGED));

    // A broken plugin: the host starts, the stage is disabled, and the
    // restore fails at that stage, saying why.
    let missing = deployment.path().join("gone/config_fs.wasm");
    write_config(
        &deployment,
        &config_with_config_plugin(&deployment, &missing.display().to_string()),
    );
    host.restart();
    let row = host.plugin("Stage system configuration");
    assert_eq!(row["status"], "disabled", "{row}");
    let job = host.restore_job("built");
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Stage system configuration"), "{message}");
    assert!(message.contains("disabled"), "{message}");
    assert!(message.contains("gone/config_fs.wasm"), "{message}");
}
