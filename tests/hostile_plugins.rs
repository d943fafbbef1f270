//! The hostile-plugin suite: a real component (`testing-hostile-stage`) tries
//! one attack per job. Each test asserts that the host (or WASI) refused it,
//! that the job failed with a message saying why, that nothing leaked or
//! escaped, and that the same host process then answers and runs a good
//! backup. The plugin is armed through `attack.json` in its granted
//! directory, so one host serves the attack and the good backup after it.

use crate::support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::hostile::{
    assert_only_partial_backups, failure, hostile_stage, run_hostile_backup, run_hostile_restore,
};
use support::{Deployment, TestHost};

/// A host whose pipeline ends with the hostile stage.
struct Hostile {
    deployment: Deployment,
    host: TestHost,
    /// Granted at `/data` during backup.
    source: PathBuf,
    /// Granted at `/data` during restore.
    target: PathBuf,
    jobs: AtomicU32,
}

impl Hostile {
    fn start(limits: &str, extra: &str) -> Self {
        let deployment = Deployment::new();
        deployment.populate();
        let source = deployment.path().join("hostile/source");
        let target = deployment.path().join("hostile/target");
        std::fs::create_dir_all(&source).expect("source");
        std::fs::create_dir_all(&target).expect("target");
        let stage = hostile_stage(
            "testing_hostile_stage",
            limits,
            &format!(
                "source = \"{}\"\ntarget = \"{}\"\n{extra}",
                source.display(),
                target.display()
            ),
        );
        let host = TestHost::start(&deployment, &deployment.config_toml(&stage));
        let hostile = Self {
            deployment,
            host,
            source,
            target,
            jobs: AtomicU32::new(0),
        };
        hostile.arm_backup(json!({"attack": "none"}));
        hostile
    }

    fn arm_backup(&self, settings: Value) {
        std::fs::write(self.source.join("attack.json"), settings.to_string()).expect("arm");
    }

    fn arm_restore(&self, settings: Value) {
        std::fs::write(self.target.join("attack.json"), settings.to_string()).expect("arm");
    }

    fn name(&self) -> String {
        format!("b{}", self.jobs.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs a backup with `settings` armed; returns the failed job's message.
    fn failed_backup(&self, settings: Value) -> (Value, String) {
        self.arm_backup(settings);
        let (job, took) = run_hostile_backup(&self.host, &self.name());
        assert!(took < Duration::from_secs(30), "took {took:?}");
        let message = failure(&job);
        assert!(message.contains("Stage hostile"), "{message}");
        assert!(!message.contains("ESCAPED"), "{message}");
        (job, message)
    }

    /// The host still answers, and a good backup on it succeeds.
    fn still_serves(&self) {
        assert!(self.host.status().is_object());
        self.arm_backup(json!({"attack": "none"}));
        self.host.backup_ok(&self.name());
    }
}

/// A loopback listener that must see no connection.
fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let address = listener.local_addr().expect("address").to_string();
    (listener, address)
}

fn assert_untouched(listener: &TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the listener was reached from {peer}"),
        Err(e) => panic!("accept: {e}"),
    }
}

#[test]
fn unbounded_recursion_is_stopped_as_a_stack_overflow() {
    let hostile = Hostile::start("{ cpu_seconds = 30, wall_seconds = 30 }", "");
    let (_, message) = hostile.failed_backup(json!({"attack": "deep-recursion"}));
    assert!(message.contains("stack overflow"), "{message}");
    hostile.still_serves();
}

#[test]
fn files_outside_the_granted_directory_cannot_be_read() {
    let hostile = Hostile::start("{}", "");
    // A symlink inside the grant pointing out of it.
    std::os::unix::fs::symlink("/etc", hostile.source.join("escape")).expect("symlink");
    let outside = hostile.deployment.config_dir();
    let (job, message) = hostile.failed_backup(json!({
        "attack": "read-outside",
        "paths": [
            "/etc/passwd",
            "/data/../../../../etc/passwd",
            "/data/../..",
            "/data/escape/passwd",
            format!("{}", outside.display()),
        ],
    }));
    assert!(message.contains("was refused"), "{message}");
    for path in ["/etc/passwd", "/data/../..", "/data/escape/passwd"] {
        assert!(message.contains(path), "{path} not tried: {message}");
    }
    // Nothing of the files reached the job or the log.
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let first_line = passwd.lines().next().unwrap_or("root:x:0:0");
    assert!(!job.to_string().contains(first_line), "{job}");
    assert!(!hostile.host.log().contains(first_line));
    hostile.still_serves();
}

#[test]
fn archive_entries_outside_the_stage_root_are_refused_at_backup() {
    let hostile = Hostile::start("{}", "");
    for path in ["../../x", "/etc/x", "a/../../x"] {
        let (_, message) = hostile.failed_backup(json!({"attack": "entry-path", "path": path}));
        assert!(message.contains("misused the host interface"), "{message}");
        assert!(message.contains(&format!("{path:?}")), "{message}");
    }
    let (_, message) = hostile.failed_backup(json!({
        "attack": "symlink-escape",
        "target": hostile.deployment.path().display().to_string(),
    }));
    assert!(message.contains("misused the host interface"), "{message}");
    assert!(message.contains("\"link/x\""), "{message}");
    assert!(message.contains("symlink"), "{message}");
    // Only the stages before the hostile one were kept, as partial backups.
    assert_only_partial_backups(&hostile.host);
    hostile.still_serves();
}

#[test]
fn a_restore_cannot_write_outside_its_target() {
    let hostile = Hostile::start("{}", "");
    hostile.host.backup_ok("good");
    let outside = hostile.deployment.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    hostile.arm_restore(json!({
        "attack": "write-outside",
        "paths": [
            "/data/../escaped-dotdot",
            "/data/../../escaped-dotdot2",
            format!("{}/escaped-absolute", outside.display()),
            "/escaped-root",
        ],
        "link_targets": ["../outside", outside.display().to_string(), "/"],
    }));
    let job = run_hostile_restore(&hostile.host, "good");
    let message = failure(&job);
    assert!(message.contains("Stage hostile"), "{message}");
    assert!(message.contains("was refused"), "{message}");
    assert!(!message.contains("ESCAPED"), "{message}");
    assert!(
        support::files_under(&outside).is_empty(),
        "{:?}",
        support::files_under(&outside)
    );
    let hostile_dir = hostile.deployment.path().join("hostile");
    assert!(!hostile_dir.join("escaped-dotdot").exists());
    assert!(!hostile.deployment.path().join("escaped-dotdot2").exists());
    assert!(!std::path::Path::new("/escaped-root").exists());
    hostile.still_serves();
}

#[test]
fn tcp_to_an_address_not_granted_is_refused() {
    let (listener, address) = listener();
    // Something else is granted, so sockets exist but this address is not allowed.
    let hostile = Hostile::start("{}", "tcp_connect = [\"127.0.0.1:9\"]");
    let (_, message) = hostile.failed_backup(json!({"attack": "tcp-connect", "target": address}));
    assert!(
        message.contains(&format!("connect to {address} failed")),
        "{message}"
    );
    // The job names what the sandbox refused and the grant that is missing.
    assert!(
        message.contains(&format!(
            "the sandbox refused a TCP connection to {address}: no `tcp_connect` grant"
        )),
        "{message}"
    );
    assert_untouched(&listener);
    hostile.still_serves();

    // With no TCP grant at all, the same.
    let bare = Hostile::start("{}", "");
    let (_, message) = bare.failed_backup(json!({"attack": "tcp-connect", "target": address}));
    assert!(message.contains("no `tcp_connect` grant"), "{message}");
    assert_untouched(&listener);
}

#[test]
fn http_to_an_authority_not_granted_is_refused() {
    let (listener, address) = listener();
    let hostile = Hostile::start("{}", "http_connect = [\"127.0.0.1:9\"]");
    let (_, message) = hostile.failed_backup(json!({"attack": "http", "target": address}));
    assert!(message.contains("HTTP-request-denied"), "{message}");
    assert_untouched(&listener);
    hostile.still_serves();
}

#[test]
fn an_endless_entry_stops_at_the_archive_size_limit() {
    let hostile = Hostile::start("{ max_archive_mib = 8 }", "");
    let (_, message) = hostile.failed_backup(json!({"attack": "endless-entry"}));
    assert!(message.contains("archive size limit of 8 MiB"), "{message}");
    hostile.still_serves();
}

#[test]
fn a_flood_of_progress_and_messages_is_capped() {
    let hostile = Hostile::start("{}", "");
    hostile.arm_backup(json!({"attack": "flood", "count": 1_000_000}));
    // `run_hostile_backup` asserts every API answer came within a second.
    let (job, took) = run_hostile_backup(&hostile.host, "flood");
    assert_eq!(job["status"], "COMPLETED", "{job}");
    let size = job.to_string().len();
    assert!(size < 1 << 20, "job is {size} bytes");
    let flood = job["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["code"] == 9000)
        .count();
    assert!(flood <= 1000, "{flood} flood messages kept");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    hostile.still_serves();
}

#[test]
fn oversized_summaries_are_refused() {
    let hostile = Hostile::start("{}", "");
    // Too many pairs.
    let (_, message) = hostile.failed_backup(json!({
        "attack": "huge-summary", "pairs": 100_000, "value_bytes": 1,
    }));
    assert!(
        message.contains("100000 summary metadata pairs"),
        "{message}"
    );
    // Few pairs, but megabytes of text.
    let (_, message) = hostile.failed_backup(json!({
        "attack": "huge-summary", "pairs": 200, "value_bytes": 30_000,
    }));
    assert!(message.contains("1 MiB"), "{message}");
    // More than the host copies out of a plugin in one call.
    let (_, message) = hostile.failed_backup(json!({
        "attack": "huge-summary", "pairs": 1, "value_bytes": 20 << 20,
    }));
    assert!(
        message.contains("more than 8 MiB in one call") && !message.contains("fuel"),
        "{message}"
    );
    // Only the stages before the hostile one were kept, as partial backups.
    assert_only_partial_backups(&hostile.host);
    hostile.still_serves();
}
