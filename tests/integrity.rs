//! A wrong passcode or a damaged store object never yields a restore reported
//! as success, and the error names what is wrong.

use crate::support;

use std::time::Duration;

use support::tree::{assert_same_tree, is_empty_dir};
use support::{Deployment, PASSCODE, TestHost, files_under};

#[test]
fn wrong_passcode_is_refused_before_anything_is_written() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("b1");

    let (code, body) = host.restore("b1", "not-the-passcode");
    assert_eq!(code, 400, "{body}");
    let message = body["error"]["message"].as_str().expect("error message");
    assert!(message.contains("passcode"), "{message}");
    assert!(is_empty_dir(&deployment.restored_objects()));
    assert!(is_empty_dir(&deployment.restored_config()));
    // The failed attempt did not become the DR status.
    assert_eq!(host.status()["operation"], "Backup");
}

/// Flips one byte in the middle of `path`, returning the original byte.
fn flip(path: &std::path::Path) -> (usize, u8) {
    let mut bytes = std::fs::read(path).expect("read object");
    let at = bytes.len() / 2;
    let original = bytes[at];
    bytes[at] ^= 0x40;
    std::fs::write(path, &bytes).expect("write object");
    (at, original)
}

fn unflip(path: &std::path::Path, (at, original): (usize, u8)) {
    let mut bytes = std::fs::read(path).expect("read object");
    bytes[at] = original;
    std::fs::write(path, &bytes).expect("write object");
}

/// The error of a restore attempt: the request's or the job's.
fn restore_error(host: &TestHost) -> String {
    let (code, body) = host.restore("b1", PASSCODE);
    // The store's damage is not a failure of the host.
    assert_ne!(code, 500, "{body}");
    if code != 200 {
        return body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    }
    let job = host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(120),
    );
    assert_eq!(
        job["status"], "FAILED",
        "restore of a damaged backup succeeded: {job}"
    );
    let status = host.status();
    assert_eq!(status["state"], "failed", "{status}");
    job["result"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_flipped_byte_in_any_stored_object_fails_the_restore_naming_it() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("b1");

    let store = deployment.store_dir();
    let objects = files_under(&store);
    for prefix in ["backups/", "manifests/", "packs/"] {
        assert!(
            objects
                .iter()
                .any(|o| o.to_string_lossy().starts_with(prefix)),
            "no {prefix} object in {objects:?}"
        );
    }
    for object in &objects {
        let name = object.to_string_lossy().to_string();
        let path = store.join(object);
        let saved = flip(&path);
        if name == "config" {
            // The restore does not read the store's config: the data comes
            // back, verified, and the damage is reported as a warning.
            let job = host.restore_job("b1");
            assert_eq!(job["status"], "COMPLETED", "{job}");
            assert_eq!(job["result"]["state"], "completed_with_warnings", "{job}");
            let status = host.status();
            assert_eq!(status["state"], "completed_with_warnings", "{status}");
            let message = status["message"].as_str().unwrap_or_default();
            assert!(message.contains("config is damaged"), "{message}");
            unflip(&path, saved);
            continue;
        }
        let message = restore_error(&host);
        assert!(
            message.contains(&name),
            "damage to {name} was reported without naming it: {message}"
        );
        unflip(&path, saved);
    }

    // Every object intact again: the backup restores.
    let job = host.restore_job("b1");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
}

#[test]
fn a_damaged_backup_record_is_listed_as_damaged_not_hidden() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("b1");
    host.backup_ok("b2");
    let record = files_under(&deployment.store_dir())
        .into_iter()
        .find(|o| o.starts_with("backups"))
        .expect("a backup record");
    flip(&deployment.store_dir().join(&record));

    let (code, body) = host.get("/system/disasterrecovery/stores/default/backups");
    assert_eq!(code, 200, "{body}");
    let backups = body["backups"].as_array().expect("backups");
    assert_eq!(backups.len(), 2, "{body}");
    assert!(
        backups.iter().any(|b| b["status"] == "damaged"),
        "damaged record not reported: {body}"
    );
}

/// `verify` (a drhost addition) checks a backup without restoring it: it
/// passes an intact backup, and names a damaged or missing pack.
#[test]
fn verify_checks_every_chunk_without_restoring() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("b1");
    let verify = |passcode: &str| {
        host.post(
            "/system/disasterrecovery/stores/default/backups/b1/verify",
            &[("passcode", passcode)],
        )
    };
    let run = || {
        let (code, body) = verify(PASSCODE);
        assert_eq!(code, 200, "{body}");
        host.wait_job(
            body["jobid"].as_str().expect("jobid"),
            Duration::from_secs(120),
        )
    };

    let job = run();
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["operation"], "VerifyBackup", "{job}");
    assert!(
        job.to_string()
            .contains("every chunk is present and authentic"),
        "{job}"
    );
    assert!(
        is_empty_dir(&deployment.restored_objects()),
        "verify restored something"
    );

    let (code, body) = verify("not-the-passcode");
    assert_eq!(code, 400, "{body}");

    // A data pack (the largest): a damaged manifest segment pack fails the
    // backup's opening, which `damaged_metadata_and_missing_packs_are_named`
    // covers.
    let pack = files_under(&deployment.store_dir())
        .into_iter()
        .filter(|p| p.starts_with("packs"))
        .map(|p| deployment.store_dir().join(p))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a pack");
    let pack_name = pack
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let flipped = flip(&pack);
    let job = run();
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&pack_name), "{message}");
    unflip(&pack, flipped);

    let moved = pack.with_extension("away");
    std::fs::rename(&pack, &moved).expect("hide pack");
    let job = run();
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&pack_name), "{message}");
    std::fs::rename(&moved, &pack).expect("restore pack");
    assert_eq!(run()["status"], "COMPLETED");
    // Restoring still works after all this.
    assert_eq!(host.restore_job("b1")["status"], "COMPLETED");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());
}

/// A backup's packs, manifest and record object names, from its record.
fn objects_of(deployment: &Deployment, backup: &str) -> (Vec<String>, String, String) {
    let record_object = format!(
        "backups/{}.json",
        backup
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(deployment.store_dir().join(&record_object)).expect("record"),
    )
    .expect("record json");
    let packs = record["record"]["packs"]
        .as_array()
        .expect("packs")
        .iter()
        .filter_map(|p| p.as_str().map(String::from))
        .collect();
    let manifest = record["record"]["manifest"]
        .as_str()
        .expect("manifest")
        .to_string();
    (packs, manifest, record_object)
}

/// Starts `verify` of b1: the answer's status and, when a job started, the
/// finished job.
fn verify_b1(host: &TestHost) -> (u16, serde_json::Value) {
    let (code, body) = host.post(
        "/system/disasterrecovery/stores/default/backups/b1/verify",
        &[("passcode", PASSCODE)],
    );
    if code != 200 {
        return (code, body);
    }
    let job = host.wait_job(
        body["jobid"].as_str().expect("jobid"),
        Duration::from_secs(120),
    );
    (code, job)
}

/// Damage to a backup's metadata or data answers a client error or a
/// failed job naming the object, never HTTP 500: a missing pack is flagged
/// by the list (from the store's listing), a damaged manifest or commit
/// record refuses the restore with 409 and fails verify.
#[test]
fn damaged_metadata_and_missing_packs_are_named_never_a_server_error() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    host.backup_ok("b1");
    let store = deployment.store_dir();
    let (packs, manifest, record) = objects_of(&deployment, "b1");

    // A pack deleted behind the host's back.
    let pack = store.join(&packs[0]);
    let away = pack.with_extension("away");
    std::fs::rename(&pack, &away).expect("hide pack");
    let rows = host.backups();
    let row = rows
        .iter()
        .find(|r| r["backupName"] == "b1")
        .unwrap_or_else(|| panic!("b1 not listed: {rows:#?}"));
    assert_eq!(row["problem"], "packs-missing", "{row}");
    assert_ne!(row["status"], "completed", "{row}");
    assert!(
        row["message"]
            .as_str()
            .is_some_and(|m| m.contains(&packs[0])),
        "{row}"
    );
    let message = restore_error(&host);
    assert!(message.contains(&packs[0]), "{message}");
    let (code, job) = verify_b1(&host);
    assert_eq!(code, 200, "{job}");
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(job.to_string().contains(&packs[0]), "{job}");
    std::fs::rename(&away, &pack).expect("put pack back");

    // A damaged manifest: the list cannot tell without the passcode, the
    // restore refuses at once, verify fails naming it.
    let saved = flip(&store.join(&manifest));
    assert_eq!(
        host.get("/system/disasterrecovery/stores/default/backups")
            .0,
        200
    );
    let (code, body) = host.restore("b1", PASSCODE);
    assert_eq!(code, 409, "{body}");
    assert!(body.to_string().contains(&manifest), "{body}");
    let (code, job) = verify_b1(&host);
    assert_eq!(code, 200, "{job}");
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(job.to_string().contains(&manifest), "{job}");
    unflip(&store.join(&manifest), saved);

    // A damaged commit record: listed as damaged; reading, restoring and
    // verifying the backup name the record.
    let saved = flip(&store.join(&record));
    let rows = host.backups();
    assert!(rows.iter().any(|r| r["status"] == "damaged"), "{rows:#?}");
    let (code, body) = host.get("/system/disasterrecovery/stores/default/backups/b1");
    assert_eq!(code, 409, "{body}");
    assert!(body.to_string().contains(&record), "{body}");
    let (code, body) = host.restore("b1", PASSCODE);
    assert_eq!(code, 409, "{body}");
    assert!(body.to_string().contains(&record), "{body}");
    let (code, job) = verify_b1(&host);
    assert_eq!(code, 200, "{job}");
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(job.to_string().contains(&record), "{job}");
    unflip(&store.join(&record), saved);

    let (_, job) = verify_b1(&host);
    assert_eq!(job["status"], "COMPLETED", "{job}");
    // No answer was a server error (those are logged as failed operations).
    assert!(!host.log().contains("operation failed"), "{}", host.log());
}
