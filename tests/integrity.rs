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

    let pack = files_under(&deployment.store_dir())
        .into_iter()
        .find(|p| p.starts_with("packs"))
        .map(|p| deployment.store_dir().join(p))
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
