//! The `drhost` client commands against a running host, as an operator runs
//! them: backup create, backup list, status, job and restore succeed and
//! print what happened; a wrong passcode and a failed job exit non-zero with
//! the API's message. Once over plain HTTP on loopback (`--insecure-http`),
//! once over HTTPS trusting the host's kept self-signed certificate.

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::tree::assert_same_tree;
use support::{Deployment, PASSCODE, PASSWORD, TestHost, files_under};

/// Runs `drhost <args>` in `cwd` with only the given DRHOST_* variables.
fn drhost(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drhost"));
    for (name, _) in std::env::vars() {
        if name.starts_with("DRHOST_") {
            command.env_remove(name);
        }
    }
    command
        .current_dir(cwd)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run drhost")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Succeeds, or fails the test showing both streams.
fn ok(output: Output) -> String {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "drhost failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

/// Fails with exit code 1, and returns stderr.
fn fails(output: Output) -> String {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected a failure:\n{stdout}\n{stderr}"
    );
    stderr
}

#[test]
fn cli_backs_up_lists_restores_and_fails_with_the_api_message() {
    let deployment = Deployment::new();
    deployment.populate();
    let host = TestHost::start(&deployment, &deployment.config_toml(""));
    let cwd = deployment.path();
    let env = [
        ("DRHOST_URL", host.base.as_str()),
        ("DRHOST_PASSWORD", PASSWORD),
        ("DRHOST_PASSCODE", PASSCODE),
    ];
    let run = |extra: &[(&str, &str)], args: &[&str]| {
        let mut all = env.to_vec();
        all.extend_from_slice(extra);
        let mut args = args.to_vec();
        args.push("--insecure-http");
        drhost(cwd, &all, &args)
    };

    let status = ok(run(&[], &["status"]));
    assert_eq!(status, "No backup or restore has run yet.\n");

    let created = run(
        &[],
        &[
            "backup",
            "create",
            "--name",
            "cli-1",
            "--retention-days",
            "7",
            "--description",
            "from the CLI",
        ],
    );
    let stderr = text(&created.stderr);
    let stdout = ok(created);
    assert!(stdout.contains("(Backup): COMPLETED in "), "{stdout}");
    assert!(stdout.contains("Stage Object store"), "{stdout}");
    let jobid = stderr
        .split("(job ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("job id on stderr")
        .to_string();

    let list = ok(run(&[], &["backup", "list"]));
    assert!(list.starts_with("Store default:\nNAME"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("cli-1") && l.contains("completed")),
        "{list}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(run(&[], &["backup", "list", "--json"]))).expect("JSON");
    let backup = &json["backups"][0];
    assert_eq!(backup["description"], "from the CLI");
    let week = 7 * 86_400_000;
    let retention = backup["retentionDate"].as_i64().expect("retention");
    let started = backup["startTime"].as_i64().expect("start");
    assert!((retention - started - week).abs() < 60_000, "{backup}");

    let status = ok(run(&[], &["status"]));
    assert!(
        status.starts_with("Backup of cli-1 (store default): success\n"),
        "{status}"
    );
    let job = ok(run(&[], &["job", &jobid]));
    assert!(
        job.starts_with(&format!("Job {jobid} (Backup): COMPLETED")),
        "{job}"
    );

    let restored = ok(run(&[], &["restore", "--name", "cli-1"]));
    assert!(restored.contains("(Restore): COMPLETED"), "{restored}");
    assert_same_tree(&deployment.objects(), &deployment.restored_objects());

    // A wrong passcode is refused before any job starts: the API's message.
    let stderr = fails(run(
        &[("DRHOST_PASSCODE", "not-the-passcode")],
        &["restore", "--name", "cli-1"],
    ));
    assert_eq!(
        stderr,
        "drhost: The passcode does not match the one this backup was created with.\n"
    );
    // A wrong password: the login's message.
    let stderr = fails(run(&[("DRHOST_PASSWORD", "wrong password!")], &["status"]));
    assert!(
        stderr.starts_with("drhost: ") && stderr.len() > 10,
        "{stderr}"
    );

    // A job that fails (a damaged data pack: the largest, as a damaged
    // manifest segment pack fails the backup's opening) exits non-zero
    // with its message.
    let pack = files_under(&deployment.store_dir())
        .into_iter()
        .filter(|p| p.starts_with("packs"))
        .map(|p| deployment.store_dir().join(p))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a pack");
    let mut bytes = std::fs::read(&pack).expect("pack");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&pack, bytes).expect("damage the pack");
    let pack_name = pack
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let failed = run(&[], &["restore", "--name", "cli-1"]);
    let stdout = text(&failed.stdout);
    let stderr = fails(failed);
    assert!(stdout.contains("(Restore): FAILED"), "{stdout}");
    assert!(
        stderr.contains("drhost: restore of cli-1 failed: ") && stderr.contains(&pack_name),
        "{stderr}"
    );

    // Plain HTTP only when asked for.
    let stderr = fails(drhost(cwd, &env, &["status"]));
    assert!(stderr.contains("--insecure-http"), "{stderr}");
}

#[test]
fn cli_over_https_trusts_the_hosts_kept_certificate() {
    let deployment = Deployment::new();
    deployment.populate();
    let config = deployment
        .config_toml("")
        .replace("plain_http = true\n", "");
    let config_path = deployment.path().join("drhost.toml");
    std::fs::write(&config_path, config).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_drhost"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .env("DRHOST_ADMIN_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn drhost");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    // Killed however the test ends, a failed assertion included.
    let _host = KillOnDrop(child);
    let line = stdout
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with("drhost: serving"))
        .expect("drhost started");
    let url = line
        .strip_prefix("drhost: serving ")
        .and_then(|rest| rest.split(" (").next())
        .expect("address")
        .trim_end_matches("/admin")
        .to_string();
    assert!(url.starts_with("https://"), "{line}");

    let state = deployment.state().display().to_string();
    let env = [
        ("DRHOST_URL", url.as_str()),
        ("DRHOST_PASSWORD", PASSWORD),
        ("DRHOST_PASSCODE", PASSCODE),
        ("DRHOST_STATE_DIR", state.as_str()),
    ];
    let cwd = deployment.path();
    let created = ok(drhost(cwd, &env, &["backup", "create", "--name", "tls-1"]));
    assert!(created.contains("(Backup): COMPLETED"), "{created}");
    // Any other certificate is not trusted.
    let other = deployment.path().join("other.pem");
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    std::fs::write(&other, generated.cert.pem()).expect("write");
    let other = other.display().to_string();
    let stderr = fails(drhost(cwd, &env, &["status", "--cacert", &other]));
    assert!(stderr.contains("cannot reach https://"), "{stderr}");
    // Plain HTTP to an HTTPS host is never silently tried.
    let plain = url.replace("https://", "http://");
    let stderr = fails(drhost(cwd, &[("DRHOST_URL", &plain)], &["status"]));
    assert!(stderr.contains("--insecure-http"), "{stderr}");
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
