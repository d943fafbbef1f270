//! Throwaway PostgreSQL clusters for the relational-stage tests: `initdb` on a
//! temporary directory, a free loopback port, replication allowed for a
//! `replicator` role with the authentication method under test, and
//! `psql`/`pg_dump` to load and compare data. Nothing is mocked: these are
//! Debian's PostgreSQL server binaries (`.ci/test` installs them).
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (as in
//! CI) every server-side command runs as the `postgres` system user, and the
//! directories it uses are handed to that user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The password of the `replicator` role in every cluster.
pub const REPLICATOR_PASSWORD: &str = "repl-Pa55word-that-must-not-leak";

/// How the `replicator` role authenticates for replication connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Trust,
    Md5,
    Scram,
}

impl Auth {
    fn hba_method(self) -> &'static str {
        match self {
            Auth::Trust => "trust",
            Auth::Md5 => "md5",
            Auth::Scram => "scram-sha-256",
        }
    }

    /// How the role's password is stored. An md5 rule with a SCRAM-stored
    /// password would silently use SCRAM, so md5 needs an md5-stored one.
    fn password_encryption(self) -> &'static str {
        match self {
            Auth::Md5 => "md5",
            Auth::Trust | Auth::Scram => "scram-sha-256",
        }
    }
}

/// Directory of the server binaries: `DRHOST_PG_BINDIR`, or the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout).
pub fn bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DRHOST_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql; install Debian's \
             `postgresql` package (`.ci/test` does) or set DRHOST_PG_BINDIR"
        )
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A free loopback port (the listener is closed before the server binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Runs a server-side PostgreSQL program, as `postgres` when we are root.
fn pg_command(program: &str) -> Command {
    as_server_user(&bindir().join(program))
}

/// `program` run as the server's user (`postgres` when we are root), as
/// tools that read the data directory must be.
pub fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Makes `dir` (recursively) the server's: owned by `postgres` when we are
/// root, and only its owner's, as PostgreSQL requires of a data directory.
pub fn hand_to_server(dir: &Path) {
    if running_as_root() {
        let mut chown = Command::new("chown");
        chown.args(["-R", "postgres:postgres"]).arg(dir);
        run(chown, "chown");
    }
    let mut chmod = Command::new("chmod");
    chmod.arg("0700").arg(dir);
    run(chmod, "chmod");
}

/// A running cluster; stopped (immediately) when dropped.
pub struct Cluster {
    pub data: PathBuf,
    pub port: u16,
    running: bool,
    /// Keeps the temporary parent directory alive when the cluster owns it.
    _parent: Option<tempfile::TempDir>,
}

impl Cluster {
    /// `initdb` + start, with replication allowed for `replicator` by `auth`.
    pub fn create(auth: Auth) -> Self {
        Self::create_with(auth, "")
    }

    /// As [`Cluster::create`], with `extra` appended to `postgresql.conf`
    /// (later settings win).
    pub fn create_with(auth: Auth, extra: &str) -> Self {
        let parent = tempfile::tempdir().expect("tempdir");
        // The server user must be able to reach its data directory.
        let mut chmod = Command::new("chmod");
        chmod.arg("0755").arg(parent.path());
        run(chmod, "chmod");
        let data = parent.path().join("pgdata");
        std::fs::create_dir(&data).expect("mkdir pgdata");
        hand_to_server(&data);
        let mut initdb = pg_command("initdb");
        initdb
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg("-D")
            .arg(&data);
        run(initdb, "initdb");
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nwal_level = replica\n\
             max_wal_senders = 4\nfsync = off\nshared_buffers = 64MB\nmax_wal_size = 1GB\n\
             password_encryption = '{}'\n",
            auth.password_encryption()
        );
        append(&data.join("postgresql.conf"), &format!("{conf}{extra}\n"));
        // The first matching line wins: the harness's own superuser
        // connections stay trusted, the replicator authenticates by `auth`.
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "host all postgres 127.0.0.1/32 trust\n\
                 host replication replicator 127.0.0.1/32 {}\n",
                auth.hba_method()
            ),
        )
        .expect("pg_hba.conf");
        hand_to_server(&data);
        let mut cluster = Self {
            data,
            port: free_port(),
            running: false,
            _parent: Some(parent),
        };
        cluster.start();
        cluster.sql(&format!(
            "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '{REPLICATOR_PASSWORD}'"
        ));
        cluster
    }

    /// Starts a server on an existing data directory (e.g. a restored one).
    pub fn start_on(data: &Path) -> Self {
        hand_to_server(data);
        let mut cluster = Self {
            data: data.to_path_buf(),
            port: free_port(),
            running: false,
            _parent: None,
        };
        cluster.start();
        cluster
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let log = self
            .data
            .parent()
            .expect("data dir has a parent")
            .join(format!("server-{}.log", self.port));
        // The log sits beside the data dir, where the server user may write.
        let mut touch = Command::new("touch");
        touch.arg(&log);
        run(touch, "touch log");
        if running_as_root() {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(&log);
            run(chown, "chown log");
        }
        let mut pg_ctl = pg_command("pg_ctl");
        pg_ctl
            .args(["start", "-w", "-t", "120", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .args([
                "-o",
                &format!("-p {} -c listen_addresses=127.0.0.1", self.port),
            ]);
        let output = pg_ctl.output().expect("pg_ctl start");
        if !output.status.success() {
            panic!(
                "server on {} did not start: {}\n{}",
                self.data.display(),
                String::from_utf8_lossy(&output.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        self.running = true;
    }

    /// Stops the server at once (no shutdown checkpoint), like a crash.
    pub fn stop_immediately(&mut self) {
        if !self.running {
            return;
        }
        let mut pg_ctl = pg_command("pg_ctl");
        pg_ctl
            .args(["stop", "-w", "-m", "immediate", "-D"])
            .arg(&self.data);
        let _ = pg_ctl.output();
        self.running = false;
    }

    fn client(&self, program: &str) -> Command {
        let mut command = Command::new(bindir().join(program));
        command
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .env_remove("PGPASSWORD");
        command
    }

    /// Runs `sql` in database `postgres` and returns psql's unaligned output.
    pub fn sql(&self, sql: &str) -> String {
        let mut psql = self.client("psql");
        psql.args([
            "-d",
            "postgres",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ]);
        let output = run(psql, &format!("psql {sql}"));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// `pgbench -i` at `scale` (100 is about 1.5 GB), in database `postgres`.
    pub fn pgbench_init(&self, scale: u64) {
        let mut pgbench = self.client("pgbench");
        pgbench.args(["-i", "-q", "-s", &scale.to_string(), "postgres"]);
        run(pgbench, "pgbench -i");
        self.sql("CHECKPOINT");
    }

    /// Tables of several shapes, indexes, and about `mib` MiB of rows.
    pub fn load(&self, mib: u64) {
        // ~ 230 bytes a row on disk with its index entries.
        let rows = mib * (1 << 20) / 230;
        self.sql(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, payload text, created timestamptz);
             INSERT INTO items SELECT g, 'item-' || g, md5(g::text) || repeat(md5((g * 7)::text), 3),
                    timestamptz '2024-01-01' + g * interval '1 second' FROM generate_series(1, {rows}) g;
             CREATE INDEX items_name ON items (name);
             CREATE TABLE accounts (id int PRIMARY KEY, owner text UNIQUE, balance numeric(12,2));
             INSERT INTO accounts SELECT g, 'owner-' || g, (g * 13 % 100000) / 100.0 FROM generate_series(1, 5000) g;
             CREATE TABLE events (id serial PRIMARY KEY, account int REFERENCES accounts, kind text, body jsonb);
             INSERT INTO events (account, kind, body)
                    SELECT 1 + g % 5000, (ARRAY['open','pay','close'])[1 + g % 3], jsonb_build_object('n', g, 'tag', md5(g::text))
                    FROM generate_series(1, 20000) g;
             CREATE INDEX events_body ON events USING gin (body);
             CHECKPOINT;"
        ));
    }

    /// Row count and an order-independent checksum of every user table.
    pub fn table_checksums(&self) -> String {
        let tables = self.sql(
            "SELECT string_agg(quote_ident(tablename), ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'",
        );
        tables
            .split_whitespace()
            .map(|t| {
                let row = self.sql(&format!(
                    "SELECT count(*) || ' ' || coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), '-') FROM {t} x"
                ));
                format!("{t}: {row}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `pg_dump` of database `postgres`, schema and data.
    pub fn dump(&self) -> String {
        let mut pg_dump = self.client("pg_dump");
        pg_dump.args(["-d", "postgres", "--no-sync"]);
        // pg_dump 15.14+ brackets its output with a random `\restrict` key
        // (CVE-2025-8714); it differs per run and says nothing about the data.
        String::from_utf8_lossy(&run(pg_dump, "pg_dump").stdout)
            .lines()
            .filter(|line| !line.starts_with("\\restrict ") && !line.starts_with("\\unrestrict "))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_immediately();
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open for append");
    file.write_all(text.as_bytes()).expect("append");
}

/// The `[[stage]]` of the relational stage for `cluster`, restoring into
/// `target`, with the password in `password_file` (if any).
pub fn stage_toml(
    address: &str,
    grant: &str,
    target: &Path,
    password_file: Option<&Path>,
) -> String {
    let (host, port) = address.rsplit_once(':').expect("host:port");
    let password = password_file
        .map(|f| format!("password_file = \"{}\"\n", f.display()))
        .unwrap_or_default();
    format!(
        r#"
[[stage]]
name = "Stage Relational store"
plugin = "relational-postgres"
target = "{target}"
tcp_connect = ["{grant}"]
{password}config = {{ host = "{host}", port = {port}, user = "replicator" }}
"#,
        target = target.display(),
    )
}
