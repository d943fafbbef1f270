//! Store adapters are configuration (issue 17): `[[adapter]]` entries serve
//! store types through the same path as the built-in ones; a plugin that
//! cannot be loaded disables its adapter (named in `system/plugins` and in
//! every refusal) instead of stopping the host; settings keys nobody reads
//! are refused instead of dropped.

use crate::support;

use serde_json::{Value, json};
use support::{Deployment, TestHost, tree};

fn refused_with(host: &TestHost, name: &str, settings: Value, expected: &str) {
    let (status, body) = host.register_store(name, &settings.to_string());
    assert_eq!(status, 400, "{settings}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(expected), "{settings}: {message}");
    let (status, _) = host.get(&format!("/system/disasterrecovery/stores/{name}"));
    assert_eq!(status, 404, "{name} was registered anyway");
}

#[test]
fn configured_adapters_serve_their_type_and_a_broken_one_is_disabled_not_fatal() {
    let deployment = Deployment::new();
    deployment.populate();
    let garbage = deployment.path().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm not really").expect("write");
    let extra = format!(
        r#"
[[adapter]]
name = "dir-copy"
plugin = "store-fs"
store_type = "LOCAL_DIR"
medium = "directory"
limits = {{ memory_mib = 64 }}

[[adapter]]
name = "missing"
plugin = "{missing}"
store_type = "MISSING_TYPE"
medium = "http"

[[adapter]]
name = "garbage"
plugin = "{garbage}"
store_type = "GARBAGE"
medium = "directory"

[[adapter]]
name = "a-stage"
plugin = "{stage}"
store_type = "A_STAGE"
medium = "directory"
"#,
        missing = deployment.path().join("missing.wasm").display(),
        garbage = garbage.display(),
        stage = drhost::plugins::built_component("object_store_fs").display(),
    );
    let mut host = TestHost::start(&deployment, &deployment.config_toml(&extra));

    let copy = host.plugin("dir-copy");
    assert_eq!(copy["status"], "enabled", "{copy}");
    assert_eq!(copy["storeType"], "LOCAL_DIR", "{copy}");
    assert_eq!(copy["describedName"], "store-fs", "{copy}");
    assert_eq!(copy["capabilities"]["limits"]["memoryMiB"], 64, "{copy}");
    assert_eq!(host.plugin("store-fs")["storeType"], "HOSTED");
    for (name, reason) in [
        ("missing", "missing.wasm"),
        ("garbage", ""),
        ("a-stage", "drhost:plugin/store-adapter-plugin@0.2.1"),
    ] {
        let disabled = host.plugin(name);
        assert_eq!(disabled["status"], "disabled", "{disabled}");
        let why = disabled["reason"].as_str().unwrap_or_default();
        assert!(!why.is_empty() && why.contains(reason), "{disabled}");
    }
    let log = host.log();
    assert!(log.contains("store adapter disabled"), "{log}");

    refused_with(
        &host,
        "dropped",
        json!({"type": "HOSTED", "plugin": "/x.wasm"}),
        "unknown key 'plugin'",
    );
    refused_with(
        &host,
        "nobody",
        json!({"type": "NOBODY_SERVES"}),
        "not served by any store adapter",
    );
    refused_with(
        &host,
        "broken",
        json!({"type": "GARBAGE"}),
        "served by store adapter 'garbage', which is disabled",
    );

    let (status, body) = host.register_store("local", &json!({"type": "LOCAL_DIR"}).to_string());
    assert_eq!(status, 200, "{body}");
    let (status, view) = host.get("/system/disasterrecovery/stores/local");
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["type"], "LOCAL_DIR", "{view}");
    host.store = "local".into();
    host.backup_ok("through-a-configured-adapter");
    let job = host.restore_job("through-a-configured-adapter");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    tree::assert_same_tree(&deployment.objects(), &deployment.restored_objects());
    tree::assert_same_tree(&deployment.config_dir(), &deployment.restored_config());

    // Its entry removed, the store stays registered and says why it cannot be used.
    let without = deployment.config_toml("");
    std::fs::write(deployment.path().join("drhost.toml"), without).expect("config");
    host.restart();
    let (status, body) = host.get("/system/disasterrecovery/stores/local/backups");
    assert_ne!(status, 200, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no store adapter of this host serves"),
        "{body}"
    );
}
