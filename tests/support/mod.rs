//! Harness for the end-to-end tests: starts the real `drhost` binary on a free
//! loopback port with its own state directory, talks to it over HTTP like a
//! client script would, and can kill -9 and restart it.
#![allow(dead_code)]

#[path = "../../host/runtime/tests/common/azurite.rs"]
pub mod azurite;
pub mod clients;
pub mod garage;
pub mod hostile;
pub mod listing;
pub mod moto;
pub mod postgres;
pub mod tree;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PASSWORD: &str = "correct horse battery staple";
pub const PASSCODE: &str = "s3cret-passcode";
/// The host's peak resident memory target for any backup or restore,
/// whatever the size of the data (issue 19): asserted by
/// `tests/memory_bound.rs` and by the `vs_restic` bench.
pub const PEAK_RSS_TARGET_BYTES: u64 = 256 << 20;

/// A test deployment: source directories with data, restore targets, and the
/// configuration pointing the host at them.
pub struct Deployment {
    pub dir: tempfile::TempDir,
}

impl Deployment {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let deployment = Self { dir };
        std::fs::create_dir_all(deployment.objects()).expect("objects dir");
        std::fs::create_dir_all(deployment.config_dir()).expect("config dir");
        deployment
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn objects(&self) -> PathBuf {
        self.path().join("source/objects")
    }
    pub fn config_dir(&self) -> PathBuf {
        self.path().join("source/config")
    }
    pub fn restored_objects(&self) -> PathBuf {
        self.path().join("restored/objects")
    }
    pub fn restored_config(&self) -> PathBuf {
        self.path().join("restored/config")
    }
    pub fn state(&self) -> PathBuf {
        self.path().join("state")
    }
    /// Names of the backup-job journals in the host's job directory.
    pub fn journals(&self) -> Vec<String> {
        std::fs::read_dir(self.state().join("jobs"))
            .expect("jobs dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".journal"))
            .collect()
    }
    pub fn store_dir(&self) -> PathBuf {
        self.state().join("stores/default")
    }

    /// The host settings of every test configuration, without stages.
    pub fn host_toml(&self) -> String {
        format!(
            "listen = \"127.0.0.1:0\"\nplain_http = true\nstate_dir = \"{}\"\ncache_dir = \"{}\"\n",
            self.state().display(),
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("plugin-cache")
                .display(),
        )
    }

    /// The two standard stages, restoring into `restored/`, plus `extra` TOML.
    pub fn config_toml(&self, extra: &str) -> String {
        format!(
            r#"
{host}
[[stage]]
name = "Stage Object store"
plugin = "object-store-fs"
source = "{objects}"
target = "{restored_objects}"

[[stage]]
name = "Stage system configuration"
plugin = "config-fs"
source = "{config}"
target = "{restored_config}"
{extra}
"#,
            host = self.host_toml(),
            objects = self.objects().display(),
            restored_objects = self.restored_objects().display(),
            config = self.config_dir().display(),
            restored_config = self.restored_config().display(),
        )
    }

    /// Fills the sources with the kinds of entries a deployment has.
    pub fn populate(&self) {
        tree::write_sample_tree(&self.objects(), 1);
        tree::write_sample_tree(&self.config_dir(), 2);
    }
}

/// A running host.
pub struct TestHost {
    child: Child,
    pub base: String,
    config_path: PathBuf,
    token: String,
    log: Arc<Mutex<String>>,
    /// The backup store the backup helpers use (`default` unless a test
    /// registers another).
    pub store: String,
    /// Environment variables the host process is started with.
    env: Vec<(String, String)>,
}

impl TestHost {
    /// Starts the host with `config` (TOML) written next to its state.
    pub fn start(deployment: &Deployment, config: &str) -> Self {
        Self::start_with_env(deployment, config, &[])
    }

    /// [`start`](Self::start) with these environment variables set for the
    /// host process (restarts keep them). No `AWS_*` variable of the test's
    /// own environment reaches the host, so AWS credential lookups see only
    /// what a test sets.
    pub fn start_with_env(deployment: &Deployment, config: &str, env: &[(&str, &str)]) -> Self {
        let config_path = deployment.path().join("drhost.toml");
        std::fs::write(&config_path, config).expect("write config");
        let log = Arc::new(Mutex::new(String::new()));
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, base) = Self::spawn(&config_path, &log, &env);
        let mut host = Self {
            child,
            base,
            config_path,
            token: String::new(),
            log,
            store: "default".into(),
            env,
        };
        host.token = host.login();
        host
    }

    /// The host's peak resident memory so far (`VmHWM`).
    pub fn peak_rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("host /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM")
            << 10
    }

    /// Starts the host again on the same configuration and state.
    pub fn restart(&mut self) {
        self.kill();
        let (child, base) = Self::spawn(&self.config_path, &self.log, &self.env);
        self.child = child;
        self.base = base;
        self.token = self.login();
    }

    /// The host process's id (for reading its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the host wrote to stdout and stderr (its log) so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn spawn(
        config_path: &Path,
        log: &Arc<Mutex<String>>,
        env: &[(String, String)],
    ) -> (Child, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_drhost"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(["serve", "--config"])
            .arg(config_path)
            .env("DRHOST_ADMIN_PASSWORD", PASSWORD)
            .env("RUST_LOG", "info,wasmtime=warn,cranelift=warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn drhost");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let stderr_log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[drhost] {line}");
                if let Ok(mut log) = stderr_log.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout_log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("[drhost] {line}");
                if let Ok(mut log) = stdout_log.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(rest) = line.strip_prefix("drhost: serving http://") {
                    let address = rest.split('/').next().unwrap_or_default().to_string();
                    let _ = tx.send(address);
                }
            }
        });
        let address = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("drhost did not start within 120 s");
        (child, format!("http://{address}/arcgis"))
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn login(&self) -> String {
        let (status, body) = self.generate_token("admin", PASSWORD);
        assert_eq!(status, 200, "generateToken failed: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// `generateToken` for `username`, answered as is.
    pub fn generate_token(&self, username: &str, password: &str) -> (u16, Value) {
        self.post_raw(
            "/sharing/rest/generateToken",
            &[
                ("username", username),
                ("password", password),
                ("client", "referer"),
                ("referer", "referer"),
                ("expiration", "60"),
                ("f", "json"),
            ],
            None,
        )
    }

    /// POST a form to `/admin{path}` (with `f=json`) as the holder of `token`.
    pub fn post_as(&self, token: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let mut fields = form.to_vec();
        fields.push(("f", "json"));
        self.post_raw(&format!("/admin{path}"), &fields, Some(token))
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// GET `/admin{path}?f=json` with the bearer token.
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.get_with(path, Some(&self.token))
    }

    pub fn get_with(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut request = ureq::get(&format!("{}/admin{path}{separator}f=json", self.base));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        respond(request.call())
    }

    /// POST a form to `/admin{path}` with the bearer token and `f=json`.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let mut fields = form.to_vec();
        fields.push(("f", "json"));
        self.post_raw(&format!("/admin{path}"), &fields, Some(&self.token))
    }

    pub fn post_raw(&self, path: &str, form: &[(&str, &str)], token: Option<&str>) -> (u16, Value) {
        let mut request = ureq::post(&format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        respond(request.send_form(form))
    }

    /// Starts a backup into `self.store` and returns its job id.
    pub fn create_backup(&self, name: &str) -> String {
        let (status, body) = self.post(
            &format!(
                "/system/disasterrecovery/stores/{}/backups/create",
                self.store
            ),
            &[
                ("name", name),
                ("passcode", PASSCODE),
                ("description", "None"),
                ("retentionDate", "-1"),
            ],
        );
        assert_eq!(status, 200, "create backup {name}: {body}");
        assert_eq!(body["status"], "SUBMITTED", "{body}");
        assert!(
            body["jobsUrl"]
                .as_str()
                .is_some_and(|u| u.ends_with(body["jobid"].as_str().unwrap_or("?"))),
            "{body}"
        );
        body["jobid"].as_str().expect("jobid").to_string()
    }

    pub fn restore(&self, name: &str, passcode: &str) -> (u16, Value) {
        self.post(
            &format!(
                "/system/disasterrecovery/stores/{}/backups/{name}/restore",
                self.store
            ),
            &[("passcode", passcode)],
        )
    }

    /// Polls `jobs/<id>` until it has finished, and returns it.
    pub fn wait_job(&self, jobid: &str, limit: Duration) -> Value {
        let start = Instant::now();
        loop {
            let (status, job) = self.get(&format!("/jobs/{jobid}"));
            assert_eq!(status, 200, "job {jobid}: {job}");
            if matches!(
                job["status"].as_str(),
                Some("COMPLETED" | "FAILED" | "TIMED OUT" | "CANCELLED")
            ) {
                return job;
            }
            assert!(
                start.elapsed() < limit,
                "job {jobid} did not finish in {limit:?}: {job}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Backs up and asserts success.
    pub fn backup_ok(&self, name: &str) -> Value {
        let jobid = self.create_backup(name);
        let job = self.wait_job(&jobid, Duration::from_secs(300));
        assert_eq!(job["status"], "COMPLETED", "backup {name} failed: {job}");
        job
    }

    /// Restores and returns the finished job.
    pub fn restore_job(&self, name: &str) -> Value {
        let (status, body) = self.restore(name, PASSCODE);
        assert_eq!(status, 200, "restore {name}: {body}");
        self.wait_job(
            body["jobid"].as_str().expect("jobid"),
            Duration::from_secs(300),
        )
    }

    /// Registers store `name` with the JSON `settings` (not as default).
    pub fn register_store(&self, name: &str, settings: &str) -> (u16, Value) {
        self.post(
            "/system/disasterrecovery/stores/register",
            &[("storeName", name), ("settings", settings)],
        )
    }

    /// The `system/plugins` row of the plugin (stage or adapter) `name`.
    pub fn plugin(&self, name: &str) -> Value {
        let (status, body) = self.get("/system/plugins");
        assert_eq!(status, 200, "{body}");
        body["plugins"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no plugin {name}: {body}"))
    }

    /// Verifies backup `name` of `self.store` and returns the finished job.
    pub fn verify_job(&self, name: &str) -> Value {
        let path = format!(
            "/system/disasterrecovery/stores/{}/backups/{name}/verify",
            self.store
        );
        // A job the host started on its own (the retention task fires when a
        // restarted host finds it due) holds the one job slot for a moment:
        // the API answers 409 and, like any client, the test tries again.
        // Other 409s (a damaged backup) are answers, not waits.
        let deadline = Instant::now() + Duration::from_secs(60);
        let (status, body) = loop {
            let (status, body) = self.post(&path, &[("passcode", PASSCODE)]);
            let slot_taken = status == 409
                && body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Another disaster recovery job"));
            if !slot_taken || Instant::now() > deadline {
                break (status, body);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(status, 200, "verify {name}: {body}");
        self.wait_job(
            body["jobid"].as_str().expect("jobid"),
            Duration::from_secs(300),
        )
    }

    /// The listing of `self.store`'s backups.
    pub fn backups(&self) -> Vec<Value> {
        let (status, body) = self.get(&format!(
            "/system/disasterrecovery/stores/{}/backups",
            self.store
        ));
        assert_eq!(status, 200, "{body}");
        body["backups"].as_array().expect("backups").clone()
    }

    pub fn backup_names(&self) -> Vec<String> {
        let (status, body) = self.get(&format!(
            "/system/disasterrecovery/stores/{}/backups",
            self.store
        ));
        assert_eq!(status, 200, "{body}");
        body["backups"]
            .as_array()
            .expect("backups")
            .iter()
            .filter_map(|b| b["backupName"].as_str().map(String::from))
            .collect()
    }

    pub fn status(&self) -> Value {
        let (code, body) = self.get("/system/disasterrecovery/status");
        assert_eq!(code, 200, "{body}");
        body["status"].clone()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.kill();
    }
}

fn respond(result: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = response.status();
    let text = response.into_string().expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The codes of a status' `messages`, in order.
pub fn message_codes(status: &Value) -> Vec<u64> {
    status["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["code"].as_u64())
        .collect()
}

/// Writes back what earlier operations left dirty in the page cache, so that
/// a bench's timing of one tool does not pay for another's writes (a restore
/// started while gigabytes of the previous backup were still being written
/// back ran up to twice as long, for both tools).
pub fn settle() {
    let _ = Command::new("sync").status();
}

/// Total size of the files under `dir`.
pub fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            total += if meta.is_dir() {
                disk_usage(&entry.path())
            } else {
                meta.len()
            };
        }
    }
    total
}

/// Every file under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        if let Ok(entries) = std::fs::read_dir(&current) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(dir) {
                    out.push(rel.to_path_buf());
                }
            }
        }
    }
    out.sort();
    out
}
