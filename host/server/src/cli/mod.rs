//! The `drhost` client commands: `backup create|list`, `restore`, `status`
//! and `job`. Each logs in with `generateToken`, calls the admin API like any
//! client script, follows the job with a progress bar, and fails with the
//! API's own error message.
//!
//! Modules: `client` (HTTP, TLS, errors), `secrets` (password and passcode),
//! `progress` (the bar), `output` (what is printed).

mod client;
mod output;
mod progress;
mod secrets;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

pub use client::{Client, ClientError, Endpoint};

const DR: &str = "/system/disasterrecovery";
/// How often a running job is polled.
const POLL: Duration = Duration::from_millis(500);
/// Consecutive failed polls tolerated (a host briefly unreachable, e.g. under
/// load) before giving up on following the job; it keeps running regardless.
const MAX_POLL_FAILURES: u32 = 60;

/// How to reach and log in to the host.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Base URL of the host, up to the context.
    #[arg(
        long,
        env = "DRHOST_URL",
        default_value = "https://127.0.0.1:6443/arcgis"
    )]
    pub url: String,
    /// User to log in as; the password comes from DRHOST_PASSWORD or a prompt.
    #[arg(long, env = "DRHOST_USER", default_value = "admin")]
    pub user: String,
    /// PEM certificate to trust for HTTPS [default: <state-dir>/tls/cert.pem
    /// if present, else the public web roots].
    #[arg(long, env = "DRHOST_CACERT")]
    pub cacert: Option<PathBuf>,
    /// The host's state directory, where it keeps its self-signed certificate.
    #[arg(long, env = "DRHOST_STATE_DIR", default_value = "drhost-state")]
    pub state_dir: PathBuf,
    /// Allow a plain http:// URL (loopback hosts only).
    #[arg(long)]
    pub insecure_http: bool,
}

impl Connection {
    fn endpoint(&self) -> Endpoint {
        let cacert = self.cacert.clone().or_else(|| {
            let pinned = self.state_dir.join("tls/cert.pem");
            pinned.is_file().then_some(pinned)
        });
        Endpoint {
            url: self.url.clone(),
            cacert,
            insecure_http: self.insecure_http,
        }
    }

    fn login(&self) -> anyhow::Result<Client> {
        let mut client = Client::connect(&self.endpoint())?;
        let password = secrets::password(&self.user)?;
        client.login(&self.user, &password)?;
        Ok(client)
    }
}

/// The client subcommands of `drhost`.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Create or list backups.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Restore a backup, replacing the deployment's data; waits for the job.
    Restore(RestoreArgs),
    /// Show the status of the last backup or restore.
    Status(ShowArgs),
    /// Show one job.
    Job(JobArgs),
}

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Create a backup and wait for the job. The passcode comes from
    /// --passcode-file, DRHOST_PASSCODE or a prompt.
    Create(CreateArgs),
    /// List the backups of a store.
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Name of the new backup.
    #[arg(long)]
    pub name: String,
    /// Backup store [default: the host's default store].
    #[arg(long)]
    pub store: Option<String>,
    /// Description stored with the backup.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Days to keep the backup; kept forever without it.
    #[arg(long)]
    pub retention_days: Option<u32>,
    /// File whose first line is the passcode (≥ 8 characters).
    #[arg(long)]
    pub passcode_file: Option<PathBuf>,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Backup store [default: the host's default store].
    #[arg(long)]
    pub store: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Name of the backup to restore.
    #[arg(long)]
    pub name: String,
    /// Backup store [default: the host's default store].
    #[arg(long)]
    pub store: Option<String>,
    /// File whose first line is the passcode.
    #[arg(long)]
    pub passcode_file: Option<PathBuf>,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Args, Debug)]
pub struct JobArgs {
    /// The job id (`j` followed by a UUID).
    pub id: String,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// Runs a client command; an error is what the operator should read.
pub fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Backup {
            command: BackupCommand::Create(args),
        } => create(args),
        ClientCommand::Backup {
            command: BackupCommand::List(args),
        } => list(args),
        ClientCommand::Restore(args) => restore(args),
        ClientCommand::Status(args) => status(args),
        ClientCommand::Job(args) => job(args),
    }
}

fn create(args: CreateArgs) -> anyhow::Result<()> {
    // Secrets first: a missing passcode should not cost a login.
    let passcode = secrets::passcode(args.passcode_file.as_deref(), true)?;
    let client = args.connection.login()?;
    let store = store_or_default(&client, args.store)?;
    let retention = retention_date(args.retention_days, crate::clock::now_ms());
    let answer = client.post(
        &format!("{DR}/stores/{}/backups/create", segment(&store)),
        &[
            ("name", &args.name),
            ("passcode", &passcode),
            ("description", &args.description),
            ("retentionDate", &retention.to_string()),
        ],
    )?;
    let what = format!("backup {}", args.name);
    follow(&client, &answer, &what)
}

fn list(args: ListArgs) -> anyhow::Result<()> {
    let client = args.connection.login()?;
    let store = store_or_default(&client, args.store)?;
    let answer = client.get(&format!("{DR}/stores/{}/backups", segment(&store)))?;
    if args.json {
        println!("{}", pretty(&answer));
        return Ok(());
    }
    let backups = answer
        .get("backups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    println!("Store {store}:");
    print!("{}", output::backup_table(&backups));
    Ok(())
}

fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let passcode = secrets::passcode(args.passcode_file.as_deref(), false)?;
    let client = args.connection.login()?;
    let store = store_or_default(&client, args.store)?;
    let answer = client.post(
        &format!(
            "{DR}/stores/{}/backups/{}/restore",
            segment(&store),
            segment(&args.name)
        ),
        &[("passcode", &passcode)],
    )?;
    let what = format!("restore of {}", args.name);
    follow(&client, &answer, &what)
}

fn status(args: ShowArgs) -> anyhow::Result<()> {
    let client = args.connection.login()?;
    let answer = client.get(&format!("{DR}/status"))?;
    if args.json {
        println!("{}", pretty(&answer));
    } else {
        let status = answer.get("status").unwrap_or(&Value::Null);
        print!("{}", output::status_summary(status));
    }
    Ok(())
}

fn job(args: JobArgs) -> anyhow::Result<()> {
    let client = args.connection.login()?;
    let job = client.get(&format!("/jobs/{}", segment(&args.id)))?;
    if args.json {
        println!("{}", pretty(&job));
    } else {
        print!("{}", output::job_summary(&job));
    }
    Ok(())
}

/// Follows the job a submission answered until it ends, prints its summary,
/// and fails with the job's message if it failed.
fn follow(client: &Client, submitted: &Value, what: &str) -> anyhow::Result<()> {
    let jobid = submitted
        .get("jobid")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the host answered no job id: {submitted}"))?;
    eprintln!("drhost: {what} started (job {jobid})");
    let mut bar = progress::JobBar::new();
    let finished = wait(client, jobid, &mut bar);
    bar.finish();
    let job = finished?;
    print!("{}", output::job_summary(&job));
    match job.get("status").and_then(Value::as_str) {
        Some("COMPLETED") => Ok(()),
        status => {
            let message = job
                .pointer("/result/message")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .unwrap_or("no reason given");
            bail!(
                "{what} {}: {message}",
                status.unwrap_or("ended").to_ascii_lowercase()
            )
        }
    }
}

fn wait(client: &Client, jobid: &str, bar: &mut progress::JobBar) -> anyhow::Result<Value> {
    let path = format!("/jobs/{}", segment(jobid));
    let mut failures = 0;
    loop {
        match client.get(&path) {
            Ok(job) => {
                failures = 0;
                bar.update(&job);
                if matches!(
                    job.get("status").and_then(Value::as_str),
                    Some("COMPLETED" | "FAILED" | "TIMED OUT" | "CANCELLED")
                ) {
                    return Ok(job);
                }
            }
            Err(ClientError::Transport { .. }) if failures < MAX_POLL_FAILURES => failures += 1,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("lost track of job {jobid}; `drhost job {jobid}` shows it later")
                });
            }
        }
        std::thread::sleep(POLL);
    }
}

/// `store`, else the store the host marks as default.
fn store_or_default(client: &Client, store: Option<String>) -> anyhow::Result<String> {
    if let Some(store) = store {
        return Ok(store);
    }
    let stores = client.get(&format!("{DR}/stores"))?;
    stores
        .get("backupStores")
        .and_then(Value::as_array)
        .and_then(|stores| {
            stores
                .iter()
                .find(|s| s.get("default").and_then(Value::as_bool) == Some(true))
        })
        .and_then(|s| s.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the host has no default backup store; pass --store"))
}

/// `retentionDate`: now plus `days`, or -1 (never) without.
fn retention_date(days: Option<u32>, now_ms: i64) -> i64 {
    days.map_or(-1, |days| now_ms + i64::from(days) * 86_400_000)
}

/// A name as one percent-encoded path segment.
fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_days_become_an_epoch_ms_date() {
        assert_eq!(retention_date(None, 1_000), -1);
        assert_eq!(retention_date(Some(14), 1_000), 1_000 + 14 * 86_400_000);
    }

    #[test]
    fn names_are_one_path_segment() {
        assert_eq!(segment("nightly-1"), "nightly-1");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
        assert_eq!(segment("ü"), "%C3%BC");
    }

    #[test]
    fn the_pinned_certificate_is_the_default_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let connection = Connection {
            url: "https://127.0.0.1:6443/arcgis".into(),
            user: "admin".into(),
            cacert: None,
            state_dir: dir.path().to_path_buf(),
            insecure_http: false,
        };
        assert_eq!(connection.endpoint().cacert, None);
        std::fs::create_dir_all(dir.path().join("tls")).expect("mkdir");
        std::fs::write(dir.path().join("tls/cert.pem"), "x").expect("write");
        assert_eq!(
            connection.endpoint().cacert,
            Some(dir.path().join("tls/cert.pem"))
        );
        let explicit = Connection {
            cacert: Some("/etc/ca.pem".into()),
            ..connection
        };
        assert_eq!(explicit.endpoint().cacert, Some("/etc/ca.pem".into()));
    }
}
