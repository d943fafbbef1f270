//! The tamper-evident catalog and the write-once layout, through the API and
//! the real `store-fs` adapter: a backup record or manifest removed or
//! replaced in the store's directory is reported by the backup list (JSON and
//! HTML) and by `verify`, naming the backup; a store registered as
//! append-only goes through backups, a retention change, a delete, the
//! retention cleaner and garbage collection without ever being asked to
//! delete or rewrite an object.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::{Deployment, PASSCODE, TestHost, files_under};

const BACKUPS: &str = "/system/disasterrecovery/stores/default/backups";

fn record_path(store_dir: &Path, name: &str) -> PathBuf {
    store_dir.join(format!("backups/{}.json", hex(name)))
}

fn hex(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The rows of the backup list that report a catalog problem.
fn tampered(host: &TestHost) -> Vec<Value> {
    let (code, body) = host.get(&format!(
        "/system/disasterrecovery/stores/{}/backups",
        host.store
    ));
    assert_eq!(code, 200, "{body}");
    body["backups"]
        .as_array()
        .expect("backups")
        .iter()
        .filter(|b| b["status"] == "tampered")
        .cloned()
        .collect()
}

/// Asserts that the list reports `problem` for backup `name`.
fn assert_listed(host: &TestHost, problem: &str, name: &str) {
    let rows = tampered(host);
    assert!(
        rows.iter().any(|r| r["problem"] == problem
            && r["backupName"] == name
            && r["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("'{name}'")))),
        "no {problem} row for {name}: {rows:#?}"
    );
}

/// The backup list as the admin HTML page.
fn list_html(host: &TestHost) -> String {
    ureq::get(&format!("{}/admin{BACKUPS}?f=html", host.base))
        .set("Authorization", &format!("Bearer {}", host.token()))
        .call()
        .expect("html list")
        .into_string()
        .expect("html body")
}

/// Runs `verify` of `backup` and returns the finished job.
fn verify(host: &TestHost, backup: &str) -> Value {
    let (code, body) = host.post(
        &format!("{BACKUPS}/{backup}/verify"),
        &[("passcode", PASSCODE)],
    );
    assert_eq!(code, 200, "{body}");
    host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(120),
    )
}

/// Asserts that verifying `backup` fails and names `named` in its result.
fn assert_verify_names(host: &TestHost, backup: &str, named: &str) {
    let job = verify(host, backup);
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(named), "{named} not named: {message}");
}

#[test]
fn removed_or_replaced_records_and_manifests_are_reported_by_list_and_verify() {
    let deployment = Deployment::new();
    deployment.populate();
    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("b1");
    host.backup_ok("b2");
    host.backup_ok("b3");
    assert!(tampered(&host).is_empty());
    assert_eq!(verify(&host, "b3")["status"], "COMPLETED");
    let store = deployment.store_dir();
    let b2 = record_path(&store, "b2");
    let original = std::fs::read(&b2).expect("b2 record");

    // A record removed behind the host's back.
    std::fs::remove_file(&b2).expect("remove b2");
    assert_listed(&host, "deleted", "b2");
    let html = list_html(&host);
    assert!(html.contains("tampered") && html.contains("b2"), "{html}");
    assert_verify_names(&host, "b3", "'b2'");
    std::fs::write(&b2, &original).expect("put b2 back");
    assert!(tampered(&host).is_empty(), "{:#?}", tampered(&host));

    // A record replaced by another valid one: b2 of another store.
    let (code, body) = host.post(
        "/system/disasterrecovery/stores/register",
        &[("storeName", "other"), ("settings", r#"{"type":"HOSTED"}"#)],
    );
    assert_eq!(code, 200, "{body}");
    host.store = "other".into();
    host.backup_ok("b2");
    host.store = "default".into();
    let other_dir = deployment.state().join("stores/other");
    std::fs::copy(record_path(&other_dir, "b2"), &b2).expect("replace b2");
    assert_listed(&host, "replaced", "b2");
    assert_verify_names(&host, "b3", "'b2'");
    std::fs::write(&b2, &original).expect("put b2 back");
    assert!(tampered(&host).is_empty(), "{:#?}", tampered(&host));

    // A manifest removed: listed, and verify of its backup names it.
    let record: Value = serde_json::from_slice(&original).expect("record json");
    let manifest = record["record"]["manifest"].as_str().expect("manifest");
    let manifest_path = store.join(manifest);
    let manifest_bytes = std::fs::read(&manifest_path).expect("manifest");
    std::fs::remove_file(&manifest_path).expect("remove manifest");
    assert_listed(&host, "manifest-missing", "b2");
    assert_verify_names(&host, "b2", manifest.trim_start_matches("manifests/"));
    assert_verify_names(&host, "b3", "'b2'");
    std::fs::write(&manifest_path, manifest_bytes).expect("put manifest back");
    assert_eq!(verify(&host, "b2")["status"], "COMPLETED");
}

/// Every file of a directory with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).expect("read");
            (f, bytes)
        })
        .collect()
}

#[test]
fn an_append_only_store_never_receives_a_delete() {
    let deployment = Deployment::new();
    deployment.populate();
    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));
    let (code, body) = host.post(
        "/system/disasterrecovery/stores/register",
        &[
            ("storeName", "worm"),
            ("settings", r#"{"type":"HOSTED","appendOnly":true}"#),
        ],
    );
    assert_eq!(code, 200, "{body}");
    let (_, view) = host.get("/system/disasterrecovery/stores/worm");
    assert_eq!(view["appendOnly"], true, "{view}");
    let dir = PathBuf::from(view["rootDir"].as_str().expect("rootDir"));
    host.store = "worm".into();

    host.backup_ok("keep");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let (code, body) = host.post(
        "/system/disasterrecovery/stores/worm/backups/create",
        &[
            ("name", "expiring"),
            ("passcode", PASSCODE),
            ("retentionDate", &(now_ms + 1000).to_string()),
        ],
    );
    assert_eq!(code, 200, "{body}");
    let job = host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(120),
    );
    assert_eq!(job["status"], "COMPLETED", "{job}");
    host.backup_ok("doomed");
    let written = snapshot(&dir);

    let (code, body) = host.post(
        "/system/disasterrecovery/stores/worm/backups/keep/update",
        &[("retentionDate", "-1")],
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = host.post(
        "/system/disasterrecovery/stores/worm/backups/doomed/delete",
        &[],
    );
    assert_eq!(code, 200, "{body}");
    std::thread::sleep(Duration::from_millis(1200));
    let (code, run) = host.post("/system/tasks/00000000000000000000000000000001/run", &[]);
    assert_eq!(code, 200, "{run}");
    let job = host.wait_job(
        run["jobid"].as_str().expect("jobid"),
        Duration::from_secs(120),
    );
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let messages = job["messages"].to_string();
    assert!(messages.contains("Removed backup 'expiring'"), "{messages}");

    assert_eq!(host.backup_names(), ["keep"]);
    assert!(tampered(&host).is_empty(), "{:#?}", tampered(&host));
    let (_, keep) = host.get("/system/disasterrecovery/stores/worm/backups/keep");
    assert_eq!(keep["retentionDate"], -1, "{keep}");
    // A restart garbage-collects after interrupted jobs and re-reads the store.
    host.restart();
    assert_eq!(host.backup_names(), ["keep"]);
    let job = verify_in(&host, "worm", "keep");
    assert_eq!(job["status"], "COMPLETED", "{job}");

    // The adapter records every delete it is asked for: there was none, and
    // every object written is still there, unchanged.
    assert!(
        !dir.join(".refused-deletes").exists(),
        "the append-only store was asked to delete: {}",
        std::fs::read_to_string(dir.join(".refused-deletes")).unwrap_or_default()
    );
    let after = snapshot(&dir);
    for (file, bytes) in &written {
        assert_eq!(
            after.get(file),
            Some(bytes),
            "{} changed or vanished",
            file.display()
        );
    }
}

fn verify_in(host: &TestHost, store: &str, backup: &str) -> Value {
    let (code, body) = host.post(
        &format!("/system/disasterrecovery/stores/{store}/backups/{backup}/verify"),
        &[("passcode", PASSCODE)],
    );
    assert_eq!(code, 200, "{body}");
    host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(120),
    )
}

/// Replaces the store directory's files with an earlier copy of them.
fn roll_back(dir: &Path, earlier: &BTreeMap<PathBuf, Vec<u8>>) {
    for file in files_under(dir) {
        if !earlier.contains_key(&file) {
            std::fs::remove_file(dir.join(&file)).expect("remove newer file");
        }
    }
    for (file, bytes) in earlier {
        std::fs::write(dir.join(file), bytes).expect("write earlier file");
    }
}

#[test]
fn a_store_rolled_back_to_an_earlier_copy_is_reported_naming_the_lost_backups() {
    let deployment = Deployment::new();
    deployment.populate();
    let mut host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("b1");
    let earlier = snapshot(&deployment.store_dir());
    host.backup_ok("b2");
    let (code, body) = host.post(&format!("{BACKUPS}/b1/update"), &[("retentionDate", "-1")]);
    assert_eq!(code, 200, "{body}");
    roll_back(&deployment.store_dir(), &earlier);

    // The host remembers what it saw, across a restart.
    host.restart();
    assert_listed(&host, "rolled-back", "b2");
    assert_verify_names(&host, "b1", "'b2'");
    assert_eq!(host.backup_names().first().map(String::as_str), Some("b1"));
}
