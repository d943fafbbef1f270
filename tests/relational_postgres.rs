//! The relational stage against real PostgreSQL servers: a physical base
//! backup through the API, restored into an empty directory on which a second
//! server starts with the same data; every authentication method; the socket
//! grant; the password kept out of everything the host records; and a server
//! that stops in the middle of a backup; a failing WAL archive.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::postgres::{Auth, Cluster, REPLICATOR_PASSWORD, stage_toml};
use support::{Deployment, TestHost, message_codes};

const STAGE: &str = "Stage Relational store";

fn password_file(deployment: &Deployment, password: &str) -> std::path::PathBuf {
    let file = deployment.path().join("replicator.pass");
    std::fs::write(&file, format!("{password}\n")).expect("password file");
    file
}

/// A host whose pipeline is the relational stage for `address`, allowed to
/// connect to `grant`, restoring into `restored/pgdata`.
fn start_host(
    deployment: &Deployment,
    address: &str,
    grant: &str,
    password: Option<&Path>,
) -> TestHost {
    let config = format!(
        "{}{}",
        deployment.host_toml(),
        stage_toml(address, grant, &restored_pgdata(deployment), password)
    );
    TestHost::start(deployment, &config)
}

fn restored_pgdata(deployment: &Deployment) -> std::path::PathBuf {
    deployment.path().join("restored/pgdata")
}

fn failed_backup_message(host: &TestHost, name: &str) -> String {
    let jobid = host.create_backup(name);
    let job = host.wait_job(&jobid, Duration::from_secs(300));
    assert_eq!(job["status"], "FAILED", "backup {name} should fail: {job}");
    job["result"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn restored_backup_starts_as_a_server_with_identical_data() {
    let mut source = Cluster::create(Auth::Scram);
    source.load(200);
    let deployment = Deployment::new();
    let password = password_file(&deployment, REPLICATOR_PASSWORD);
    let host = start_host(
        &deployment,
        &source.address(),
        &source.address(),
        Some(&password),
    );

    let started = Instant::now();
    let job = host.backup_ok("pg-1");
    println!("backup of the cluster took {:?}", started.elapsed());
    let names: Vec<&str> = job["result"]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["Validation", STAGE, "Post backup operation cleanup"]
    );
    let status = host.status();
    assert_eq!(status["state"], "success", "{status}");
    let codes = message_codes(&status);
    for code in [4015, 4016, 4017, 4018] {
        assert!(codes.contains(&code), "message {code} missing: {status}");
    }
    let bytes = status["stages"][1]["bytesDone"].as_u64().unwrap_or(0);
    assert!(bytes > 200 << 20, "only {bytes} bytes backed up: {status}");

    // Disaster: the server is gone. The restore must not need it.
    let (checksums, original) = (source.table_checksums(), source.dump());
    assert!(
        original.contains("CREATE TABLE public.items"),
        "dump has no tables"
    );
    source.stop_immediately();
    let restore = host.restore_job("pg-1");
    assert_eq!(restore["status"], "COMPLETED", "{restore}");
    let copy = Cluster::start_on(&restored_pgdata(&deployment));
    assert_eq!(checksums, copy.table_checksums());
    let restored = copy.dump();
    if original != restored {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::write(dir.join("pg-original.sql"), &original).expect("write dump");
        std::fs::write(dir.join("pg-restored.sql"), &restored).expect("write dump");
        panic!(
            "pg_dump of the restored server differs (dumps in {})",
            dir.display()
        );
    }

    // The password is in no log line, job, status or listing.
    let (_, listing) = host.get("/system/disasterrecovery/stores/default/backups");
    for (what, text) in [
        ("log", host.log()),
        ("job", job.to_string()),
        ("restore job", restore.to_string()),
        ("status", status.to_string()),
        ("listing", listing.to_string()),
    ] {
        assert!(
            !text.contains(REPLICATOR_PASSWORD),
            "the password appears in the {what}"
        );
    }
}

#[test]
fn every_authentication_method_works_and_a_wrong_password_is_named() {
    for auth in [Auth::Trust, Auth::Md5, Auth::Scram] {
        let cluster = Cluster::create(auth);
        let deployment = Deployment::new();
        let password =
            (auth != Auth::Trust).then(|| password_file(&deployment, REPLICATOR_PASSWORD));
        let host = start_host(
            &deployment,
            &cluster.address(),
            &cluster.address(),
            password.as_deref(),
        );
        host.backup_ok("auth-ok");

        if auth == Auth::Trust {
            continue;
        }
        let wrong = "not-the-replicator-password";
        password_file(&deployment, wrong);
        let message = failed_backup_message(&host, "auth-wrong");
        assert!(
            message.contains(&cluster.address()),
            "{auth:?}: server not named: {message}"
        );
        assert!(
            message.contains("password authentication failed"),
            "{auth:?}: reason not given: {message}"
        );
        assert!(
            !host.log().contains(wrong),
            "{auth:?}: the wrong password was logged"
        );
        assert!(!message.contains(wrong));
        assert_eq!(host.backup_names(), ["auth-ok"]);
    }
}

#[test]
fn the_plugin_can_connect_only_to_the_granted_address() {
    let granted = Cluster::create(Auth::Trust);
    let other = Cluster::create(Auth::Trust);
    let deployment = Deployment::new();
    // The configuration points the plugin at a server it was not granted.
    let host = start_host(&deployment, &other.address(), &granted.address(), None);
    let message = failed_backup_message(&host, "not-granted");
    assert!(message.contains(&other.address()), "{message}");
    assert!(message.contains("cannot connect"), "{message}");
    let connections =
        other.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'replicator'");
    assert_eq!(connections, "0");
    assert!(host.backup_names().is_empty());
}

#[test]
fn a_server_that_stops_mid_backup_fails_the_stage_and_lists_no_backup() {
    let mut cluster = Cluster::create(Auth::Trust);
    cluster.load(150);
    let deployment = Deployment::new();
    let host = start_host(&deployment, &cluster.address(), &cluster.address(), None);

    let jobid = host.create_backup("interrupted");
    let start = Instant::now();
    loop {
        let (_, job) = host.get(&format!("/jobs/{jobid}"));
        assert_ne!(
            job["status"], "COMPLETED",
            "backup finished before the server stopped"
        );
        if job["progress"]["stages"][1]["bytesDone"]
            .as_u64()
            .unwrap_or(0)
            > 0
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no progress: {job}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    cluster.stop_immediately();
    let job = host.wait_job(&jobid, Duration::from_secs(120));
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(STAGE), "{message}");
    assert!(message.contains(&cluster.address()), "{message}");
    assert!(host.backup_names().is_empty(), "a partial backup is listed");
    let status = host.status();
    assert_eq!(status["state"], "failed", "{status}");
}

#[test]
fn a_backup_does_not_wait_for_a_failing_wal_archive() {
    // The backup carries its own WAL; had it waited for the server's archive
    // to take the last segment, as `WAIT true` does, it would never end.
    let cluster = Cluster::create_with(
        Auth::Trust,
        "archive_mode = on\narchive_command = 'false'\n",
    );
    let deployment = Deployment::new();
    let host = start_host(&deployment, &cluster.address(), &cluster.address(), None);
    let jobid = host.create_backup("archive-failing");
    let job = host.wait_job(&jobid, Duration::from_secs(120));
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(host.backup_names(), ["archive-failing"]);
}
