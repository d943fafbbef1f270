//! Stores never overlap (issue 15): a `HOSTED` store's directory inside,
//! around or equal to another store's, or among the host's state files, is
//! refused at registration; and garbage collection of a store deletes only
//! its own objects, even when another store's directory was put inside it by
//! hand.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{Deployment, TestHost, files_under, tree};

/// The standard configuration with `roots` as the store roots.
fn config_with_roots(deployment: &Deployment, roots: &[PathBuf]) -> String {
    let roots: Vec<String> = roots
        .iter()
        .map(|r| format!("\"{}\"", r.display()))
        .collect();
    deployment.config_toml("").replace(
        "plain_http = true\n",
        &format!("plain_http = true\nstore_roots = [{}]\n", roots.join(", ")),
    )
}

fn register(host: &TestHost, name: &str, root_dir: &str) -> (u16, Value) {
    let settings = serde_json::json!({"type": "HOSTED", "rootDir": root_dir}).to_string();
    host.register_store(name, &settings)
}

/// Registers `name` at `root_dir`, expects the API's 400 error naming
/// `conflict`, and checks that no store was left registered.
fn assert_refused(host: &TestHost, name: &str, root_dir: &str, conflict: &str) {
    let (code, body) = register(host, name, root_dir);
    assert_eq!(code, 400, "{root_dir}: {body}");
    assert_eq!(body["error"]["code"], 400, "{body}");
    assert_eq!(body["error"]["details"], serde_json::json!([]), "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains(conflict),
        "{root_dir}: the message should name {conflict:?}: {message}"
    );
    let (code, _) = host.get(&format!("/system/disasterrecovery/stores/{name}"));
    assert_eq!(code, 404, "{name} was registered anyway");
}

#[test]
fn a_hosted_store_overlapping_another_or_the_state_is_refused() {
    let deployment = Deployment::new();
    let base = deployment.path().canonicalize().expect("canonical");
    let state = base.join("state");
    let stores = state.join("stores");
    // A second store root around the whole deployment (state included), so
    // the refusals below come from the overlap checks, not from a request
    // lying outside the store roots.
    let host = TestHost::start(
        &deployment,
        &config_with_roots(&deployment, &[stores.clone(), base.clone()]),
    );
    let default = "the directory of backup store 'default'";

    assert_refused(&host, "inner", "default/packs", default);
    assert_refused(&host, "same", "default", default);
    assert_refused(&host, "around", &stores.display().to_string(), default);
    assert_refused(&host, "state", &state.display().to_string(), default);
    assert_refused(
        &host,
        "jobs",
        &state.join("jobs").display().to_string(),
        "the host's state directory",
    );

    // A symlink is judged by where it points.
    std::os::unix::fs::symlink(stores.join("default"), base.join("link")).expect("symlink");
    assert_refused(
        &host,
        "linked",
        &base.join("link/sub").display().to_string(),
        default,
    );
    // ... and cannot lead out of the store roots (issue 18 item 7).
    let elsewhere = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(elsewhere.path(), stores.join("escape")).expect("symlink");
    assert_refused(
        &host,
        "escape",
        "escape",
        "outside the directories this host allows for stores",
    );

    // Another store than the default, and a directory around it.
    let team_a = base.join("team/a");
    let (code, body) = register(&host, "team-a", &team_a.display().to_string());
    assert_eq!(code, 200, "{body}");
    assert_refused(
        &host,
        "team",
        &base.join("team").display().to_string(),
        "the directory of backup store 'team-a'",
    );
    // Directories side by side are fine, even when one name extends the other.
    let (code, body) = register(
        &host,
        "team-a2",
        &base.join("team/a2").display().to_string(),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = register(&host, "default2", "default2");
    assert_eq!(code, 200, "{body}");
}

/// Every file of `dir` that `keep` selects, with its bytes.
fn snapshot(dir: &Path, keep: impl Fn(&Path) -> bool) -> BTreeMap<PathBuf, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .filter(|f| keep(f))
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).expect("read");
            (f, bytes)
        })
        .collect()
}

/// The inner store's own entries inside the outer store's `packs/`: its
/// `config` and its `backups/`, `manifests/`, `packs/` and `catalog/`
/// directories; the outer store's packs are in two-hex-digit directories.
fn is_inner(relative: &Path) -> bool {
    relative
        .components()
        .next()
        .is_some_and(|c| c.as_os_str().len() != 2)
}

#[test]
fn collecting_a_store_never_deletes_a_store_nested_inside_it() {
    let deployment = Deployment::new();
    deployment.populate();
    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("kept");
    std::fs::write(
        deployment.objects().join("doomed.bin"),
        tree::pseudo_random(77, 3 << 20),
    )
    .expect("write");
    host.backup_ok("doomed");
    let (code, body) = register(&host, "inner", "inner");
    assert_eq!(code, 200, "{body}");

    // Put the inner store inside the outer store's `packs/` behind the
    // API's back, as a host before the overlap check could have.
    host.kill();
    let nested = deployment.store_dir().join("packs");
    let registry_path = deployment.state().join("stores.json");
    let mut registry: Value =
        serde_json::from_slice(&std::fs::read(&registry_path).expect("read")).expect("json");
    let inner = registry
        .as_array_mut()
        .and_then(|stores| stores.iter_mut().find(|s| s["name"] == "inner"))
        .expect("inner in stores.json");
    inner["root"] = Value::String(nested.display().to_string());
    std::fs::write(&registry_path, registry.to_string()).expect("write");
    host.restart();
    assert!(
        host.log()
            .contains("contains the directory of backup store 'inner'"),
        "the host should warn of the overlap at start"
    );

    host.store = "inner".into();
    host.backup_ok("inner-backup");
    let before = snapshot(&nested, is_inner);
    assert!(
        before.keys().any(|f| f.starts_with("packs")),
        "the inner store's packs should be inside the outer's: {:?}",
        before.keys().collect::<Vec<_>>()
    );
    let outer_before = files_under(&deployment.store_dir()).len();

    let (code, body) = host.post(
        "/system/disasterrecovery/stores/default/backups/doomed/delete",
        &[],
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        files_under(&deployment.store_dir()).len() < outer_before,
        "the outer store's own garbage should still be collected"
    );
    assert_eq!(
        snapshot(&nested, is_inner),
        before,
        "garbage collection of 'default' touched the objects of 'inner'"
    );

    let job = host.restore_job("inner-backup");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    host.store = "default".into();
    assert_eq!(host.backup_names(), ["kept"]);
}
