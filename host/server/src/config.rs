//! The operator's configuration (`drhost.toml`), with embedded defaults that
//! back up a demo deployment under the state directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod adapter;

pub use adapter::{AZURE_BLOBSTORE, AdapterConfig, AdapterMedium, HOSTED, S3};

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole host configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Address the admin API listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// HTTPS certificate and key (PEM files). Without them the host
    /// generates a self-signed certificate in `<state_dir>/tls` at its first
    /// start and keeps it.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// Serve plain HTTP instead of HTTPS; refused unless `listen` is a
    /// loopback address.
    #[serde(default)]
    pub plain_http: bool,
    /// First path segment of every URL (`/<context>/admin/...`).
    #[serde(default = "default_context")]
    pub context: String,
    /// `<scheme>://<host>[:<port>][/<prefix>]` under which clients reach the
    /// host (before `/<context>`), e.g. behind a load balancer. Every
    /// absolute URL the API answers (`jobsUrl`, `tokenServicesUrl`, OAuth
    /// redirects) starts with it. Default: the scheme served and the listen
    /// address (the host name when listening on all addresses).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Where jobs, stores, users and the compiled-plugin cache are kept.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Compiled-plugin cache; defaults to `<state_dir>/cache`. Safe to share
    /// between hosts: entries are keyed by component and engine hash.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Create the demo deployment (under `<state_dir>/demo`) when it is missing.
    #[serde(default)]
    pub demo: bool,
    /// Directories under which API clients may place filesystem (`HOSTED`)
    /// stores. Defaults to `<state_dir>/stores`.
    #[serde(default)]
    pub store_roots: Vec<PathBuf>,
    /// How often the scheduler looks for due tasks, in seconds. Schedules
    /// have minute resolution; a shorter tick starts runs closer to their slot.
    #[serde(default = "default_scheduler_tick")]
    pub scheduler_tick_seconds: f64,
    /// Networks the endpoints of S3 stores registered through the API may
    /// lead to, e.g. `["10.0.0.0/8", "192.0.2.10:9000", "[::1]:3900"]`
    /// (`ADDRESS[/PREFIX][:PORT]`, IPv6 with a port in brackets). Every
    /// address an endpoint's name resolves to must be in one. Unset: any
    /// address but loopback, link-local, unspecified and multicast ones,
    /// where services trust their callers.
    #[serde(default)]
    pub store_endpoints: Option<Vec<String>>,
    /// Limits for store adapter plugins without limits of their own.
    #[serde(default)]
    pub store_limits: LimitsConfig,
    /// Store adapters besides (or replacing) the built-in `store-fs` and
    /// `store-s3`, each serving one store type of `stores/register`.
    #[serde(default, rename = "adapter")]
    pub adapter_entries: Vec<AdapterConfig>,
    /// Resume a backup interrupted by a host stop (crash, kill, reboot) from
    /// its job journal instead of marking it failed. `false` turns resumption
    /// off whatever the `resumeInterruptedBackups` DR setting says; then no
    /// journal (nor sealed passcode) is written either.
    #[serde(default = "default_resume")]
    pub resume_interrupted_backups: bool,
    /// The backup pipeline, in order. Each entry becomes a stage of every
    /// backup and restore.
    #[serde(default, rename = "stage")]
    pub stages: Vec<StageConfig>,
    /// API users besides `admin`, created or updated at every start. Users
    /// no longer listed are removed then, with their tokens.
    #[serde(default, rename = "user")]
    pub users: Vec<UserConfig>,
}

/// The operator's HTTPS certificate (chain) and private key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One API user and its role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// `administrator`, `operator` (backups, not restores, stores or
    /// settings) or `viewer` (read only).
    pub role: drhost_api::Role,
    /// A file holding the password (a final newline is ignored).
    pub password_file: PathBuf,
}

impl UserConfig {
    pub fn read_password(&self) -> Result<String, String> {
        read_secret_file(&self.password_file)
            .map_err(|e| format!("cannot read the password file of user '{}': {e}", self.name))
    }
}

/// A secret kept in a file of its own, without the final newline editors add.
fn read_secret_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let secret = text.strip_suffix('\n').unwrap_or(&text);
    Ok(secret.strip_suffix('\r').unwrap_or(secret).to_string())
}

/// One stage of the pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Display name, e.g. "Stage Object store"; also the key under which the
    /// stage's data is kept in a backup.
    pub name: String,
    /// A built-in plugin name (`object-store-fs`, `config-fs`) or a path to a
    /// `.wasm` component.
    pub plugin: String,
    /// Host directory granted read-only to the plugin at `/data` during backup.
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// Host directory granted read-write at `/data` during restore (defaults to `source`).
    #[serde(default)]
    pub target: Option<PathBuf>,
    /// Addresses the plugin may open TCP connections to.
    #[serde(default)]
    pub tcp_connect: Vec<SocketAddr>,
    /// Authorities (`host:port`, or the endpoint URL) the plugin may send
    /// `wasi:http` requests to, e.g. an S3 endpoint. Every other is refused.
    #[serde(default)]
    pub http_connect: Vec<String>,
    /// Handed to the plugin as JSON (`host.config()`).
    #[serde(default = "empty_table")]
    pub config: toml::Table,
    /// A file whose content (without a final newline) the plugin gets as the
    /// `password` key of its configuration, read afresh for every job.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// An environment variable of the host whose value the plugin gets as
    /// `password`, as with `password_file`.
    #[serde(default)]
    pub password_env: Option<String>,
    /// How a restore applies recorded owners: `numeric` (the recorded uid
    /// and gid), `names` (the ids the recorded names have on this host) or
    /// `skip`. Owners are applied only where the host may change them
    /// (root or `CAP_CHOWN`); otherwise the job warns.
    #[serde(default)]
    pub owners: OwnersConfig,
    /// Let the stage set setuid, setgid and sticky bits (a restore of
    /// system directories needs it). Off: they are left out, with a warning.
    #[serde(default)]
    pub special_bits: bool,
    /// Left out: the default limits, and `describe` at load under
    /// [`drhost_runtime::default_describe_limits`] (so a plugin that hangs
    /// there cannot hold up the host's start for the hour a call may take).
    #[serde(default)]
    pub limits: Option<LimitsConfig>,
}

/// `owners` of a stage.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OwnersConfig {
    #[default]
    Numeric,
    Names,
    Skip,
}

impl StageConfig {
    /// What the stage's `posix-fs` may change beyond file contents.
    pub fn fs_policy(&self) -> drhost_runtime::FsPolicy {
        use drhost_runtime::OwnerPolicy;
        drhost_runtime::FsPolicy {
            owners: match self.owners {
                OwnersConfig::Numeric => OwnerPolicy::Numeric,
                OwnersConfig::Names => OwnerPolicy::Names,
                OwnersConfig::Skip => OwnerPolicy::Skip,
            },
            special_bits: self.special_bits,
        }
    }
}

/// Sandbox limits of one plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    /// Guest CPU time, enforced with epoch interruption.
    #[serde(default = "default_cpu_seconds")]
    pub cpu_seconds: f64,
    /// Wall time of one plugin call, including time blocked in host calls.
    #[serde(default = "default_wall_seconds")]
    pub wall_seconds: f64,
    /// Content bytes one stage backup may write into its archive, in MiB;
    /// unlimited when absent. Stops a stage that would fill the store (a
    /// runaway file, a plugin that never ends an entry). Stages only.
    #[serde(default)]
    pub max_archive_mib: Option<u64>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            memory_mib: default_memory_mib(),
            cpu_seconds: default_cpu_seconds(),
            wall_seconds: default_wall_seconds(),
            max_archive_mib: None,
        }
    }
}

impl LimitsConfig {
    pub fn to_plugin_limits(&self) -> drhost_runtime::PluginLimits {
        drhost_runtime::PluginLimits {
            memory_bytes: self.memory_mib.saturating_mul(1 << 20),
            cpu_time: Duration::from_secs_f64(self.cpu_seconds),
            wall_time: Duration::from_secs_f64(self.wall_seconds),
            max_archive_bytes: self.max_archive_mib.map(|m| m.saturating_mul(1 << 20)),
        }
    }
}

fn default_scheduler_tick() -> f64 {
    20.0
}
fn default_resume() -> bool {
    true
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6443))
}
fn default_context() -> String {
    "arcgis".into()
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("drhost-state")
}
fn default_memory_mib() -> u64 {
    256
}
fn default_cpu_seconds() -> f64 {
    3600.0
}
fn default_wall_seconds() -> f64 {
    7200.0
}
fn empty_table() -> toml::Table {
    toml::Table::new()
}

/// The configuration used when none is given: a demo deployment with an
/// object store and a system-configuration directory under the state dir.
pub const EMBEDDED_DEFAULTS: &str = r#"
demo = true

[[stage]]
name = "Stage Object store"
plugin = "object-store-fs"
source = "@state/demo/objectstore"

[[stage]]
name = "Stage system configuration"
plugin = "config-fs"
source = "@state/demo/config"
"#;

impl HostConfig {
    /// Loads `path`, or the embedded defaults when `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let (text, origin) = match path {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?,
                path.to_path_buf(),
            ),
            None => (
                EMBEDDED_DEFAULTS.to_string(),
                PathBuf::from("<embedded defaults>"),
            ),
        };
        Self::parse(&text, &origin)
    }

    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            message,
        };
        let config: HostConfig = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        config.check().map_err(invalid)?;
        Ok(config)
    }

    /// Replaces the `@state` prefix in stage directories by the state dir, so
    /// the embedded defaults work wherever the state lives.
    pub fn resolve_paths(&mut self) {
        let state = self.state_dir.clone();
        let resolve = |p: &mut PathBuf| {
            if let Ok(rest) = p.strip_prefix("@state") {
                *p = state.join(rest);
            }
        };
        for stage in &mut self.stages {
            stage.source.as_mut().map(resolve);
            stage.target.as_mut().map(resolve);
        }
        for root in &mut self.store_roots {
            resolve(root);
        }
        if self.store_roots.is_empty() {
            self.store_roots.push(self.state_dir.join("stores"));
        }
    }

    /// Plain HTTP would carry tokens, passwords and passcodes in the clear:
    /// only on loopback, and only when asked for.
    pub fn check_listen(&self) -> Result<(), String> {
        if self.plain_http && !self.listen.ip().is_loopback() {
            return Err(format!(
                "plain_http is only allowed on a loopback address, not {}; configure [tls] \
                 or let the host generate a self-signed certificate",
                self.listen
            ));
        }
        Ok(())
    }

    /// Where the HTTPS certificate comes from.
    pub fn certificate_source(&self) -> crate::tls::CertificateSource {
        match &self.tls {
            Some(files) => crate::tls::CertificateSource::Files {
                cert: files.cert.clone(),
                key: files.key.clone(),
            },
            None => {
                let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
                let ip = self.listen.ip();
                if !ip.is_unspecified() && !ip.is_loopback() {
                    names.push(ip.to_string());
                }
                if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
                    let host = host.trim();
                    if !host.is_empty() && !names.iter().any(|n| n == host) {
                        names.push(host.to_string());
                    }
                }
                crate::tls::CertificateSource::SelfSigned {
                    dir: self.state_dir.join("tls"),
                    names,
                }
            }
        }
    }

    /// The public URL clients reach the host under: the configured one, or
    /// the scheme served and `bound` (the address actually listened on, so
    /// port 0 becomes the port chosen).
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let scheme = if self.plain_http { "http" } else { "https" };
        let ip = bound.ip();
        let host = if ip.is_unspecified() {
            // Reachable under every name; the machine's name is the one the
            // self-signed certificate carries besides loopback.
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|name| name.trim().to_string())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "localhost".to_string())
        } else if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!("{scheme}://{host}:{}", bound.port())
    }

    fn check(&self) -> Result<(), String> {
        self.check_listen()?;
        if let Some(url) = &self.public_url {
            check_public_url(url)?;
        }
        if !(self.scheduler_tick_seconds.is_finite()
            && (0.1..=3600.0).contains(&self.scheduler_tick_seconds))
        {
            return Err("scheduler_tick_seconds must be between 0.1 and 3600".into());
        }
        if self.context.is_empty()
            || !self
                .context
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!("context {:?} must be [A-Za-z0-9_-]+", self.context));
        }
        let mut names = std::collections::HashSet::new();
        for stage in &self.stages {
            if stage.name.trim().is_empty() || stage.name.len() > 128 {
                return Err("a stage name must be 1 to 128 characters".into());
            }
            if !names.insert(stage.name.as_str()) {
                return Err(format!("stage name {:?} is used twice", stage.name));
            }
            check_limits(&stage.name, &stage.limits())?;
            stage.check_password_source()?;
            if let Some(bad) = stage
                .http_connect
                .iter()
                .find(|a| drhost_runtime::normalize_authority(a, None).is_none())
            {
                return Err(format!(
                    "stage {:?}: http_connect entry {bad:?} names no host (expected host:port or a URL)",
                    stage.name
                ));
            }
        }
        let mut users = std::collections::HashSet::new();
        for user in &self.users {
            if !is_plain_name(&user.name) {
                return Err(format!(
                    "user name {:?} must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-'",
                    user.name
                ));
            }
            if !users.insert(user.name.as_str()) {
                return Err(format!("user {:?} is configured twice", user.name));
            }
        }
        self.store_endpoint_policy().map_err(|e| e.to_string())?;
        check_limits("store adapters", &self.store_limits)?;
        if self.store_limits.max_archive_mib.is_some() {
            return Err("store_limits: max_archive_mib applies to stages only".into());
        }
        self.adapters()?;
        Ok(())
    }

    /// The store adapters in effect: built-ins and `[[adapter]]` entries,
    /// one per store type.
    pub fn adapters(&self) -> Result<Vec<AdapterConfig>, String> {
        adapter::effective(&self.adapter_entries)
    }

    /// The limits an adapter runs under: its own, else `store_limits`.
    pub fn adapter_limits(&self, adapter: &AdapterConfig) -> drhost_runtime::PluginLimits {
        adapter
            .limits
            .as_ref()
            .unwrap_or(&self.store_limits)
            .to_plugin_limits()
    }

    /// Where S3 store endpoints may lead ([`Self::store_endpoints`]).
    pub fn store_endpoint_policy(
        &self,
    ) -> Result<drhost_runtime::EndpointPolicy, drhost_runtime::EndpointRuleError> {
        match &self.store_endpoints {
            None => Ok(drhost_runtime::EndpointPolicy::default()),
            Some(entries) => drhost_runtime::EndpointPolicy::allow_only(entries),
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("cache"))
    }

    /// The dedup index cache of one store: `<state_dir>/index-cache/<store>`.
    /// Unlike `cache_dir` it must not be shared: it holds chunk ids and is
    /// trusted like the rest of the state dir (see docs/repository.md §14).
    pub fn index_cache_dir(&self, store: &str) -> PathBuf {
        self.state_dir.join("index-cache").join(store)
    }
}

/// 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-': the names of users
/// and adapters.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The limits of `describe` for a plugin entry whose own limits are
/// `configured`: those, else the tight default.
pub fn describe_limits(configured: Option<&LimitsConfig>) -> drhost_runtime::PluginLimits {
    configured.map_or_else(
        drhost_runtime::default_describe_limits,
        LimitsConfig::to_plugin_limits,
    )
}

impl StageConfig {
    /// The limits of every call but `describe`.
    pub fn limits(&self) -> LimitsConfig {
        self.limits.clone().unwrap_or_default()
    }

    /// The limits of `describe` when the plugin is loaded: the configured
    /// ones, else the tight default.
    pub fn describe_limits(&self) -> drhost_runtime::PluginLimits {
        describe_limits(self.limits.as_ref())
    }

    /// The directory a restore writes into.
    pub fn restore_target(&self) -> Option<&Path> {
        self.target.as_deref().or(self.source.as_deref())
    }

    /// The plugin's configuration as JSON, with the password (if the stage
    /// names a source for one) under `password`, and that password, which
    /// the runtime keeps out of every log line, message and error.
    pub fn plugin_config(&self) -> Result<(String, Option<String>), String> {
        let password = self.read_password()?;
        let mut config = serde_json::to_value(&self.config).map_err(|e| e.to_string())?;
        if let (Some(password), Some(map)) = (&password, config.as_object_mut()) {
            map.insert("password".into(), password.clone().into());
        }
        Ok((config.to_string(), password))
    }

    fn read_password(&self) -> Result<Option<String>, String> {
        if let Some(path) = &self.password_file {
            return read_secret_file(path).map(Some).map_err(|e| {
                format!(
                    "cannot read the password file of stage '{}': {e}",
                    self.name
                )
            });
        }
        if let Some(var) = &self.password_env {
            return std::env::var(var).map(Some).map_err(|_| {
                format!(
                    "the environment variable {var} named by password_env of stage '{}' is not set",
                    self.name
                )
            });
        }
        Ok(None)
    }

    fn check_password_source(&self) -> Result<(), String> {
        if self.password_file.is_some() && self.password_env.is_some() {
            return Err(format!(
                "stage '{}': set password_file or password_env, not both",
                self.name
            ));
        }
        // A password written into the configuration file would be shown
        // wherever the configuration is; it belongs in a file of its own.
        if self.config.contains_key("password") {
            return Err(format!(
                "stage '{}': do not put a password in `config`; name a file with \
                 password_file or an environment variable with password_env",
                self.name
            ));
        }
        Ok(())
    }
}

/// A public URL is an absolute `http`/`https` URL of a host, optionally
/// with a path prefix: no credentials, query or fragment, which would end
/// up inside every URL built from it.
fn check_public_url(text: &str) -> Result<(), String> {
    let invalid = |why: &str| format!("public_url {text:?} {why}");
    let url = url::Url::parse(text).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must start with https:// (or http://)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not hold credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(())
}

fn check_limits(owner: &str, limits: &LimitsConfig) -> Result<(), String> {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if limits.memory_mib == 0 || limits.memory_mib > 4096 {
        return Err(format!("{owner}: memory_mib must be 1..=4096"));
    }
    if !positive(limits.cpu_seconds) || !positive(limits.wall_seconds) {
        return Err(format!("{owner}: cpu_seconds and wall_seconds must be > 0"));
    }
    if limits.max_archive_mib == Some(0) {
        return Err(format!("{owner}: max_archive_mib must be at least 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_and_resolve_under_the_state_dir() {
        let mut config = HostConfig::load(None).expect("defaults parse");
        config.state_dir = PathBuf::from("/var/lib/drhost");
        config.resolve_paths();
        assert_eq!(config.stages.len(), 2);
        assert_eq!(
            config.stages[0].source.as_deref(),
            Some(Path::new("/var/lib/drhost/demo/objectstore"))
        );
        assert_eq!(
            config.store_roots,
            vec![PathBuf::from("/var/lib/drhost/stores")]
        );
    }

    #[test]
    fn a_password_comes_from_its_file_into_the_plugin_config_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pg.pass");
        std::fs::write(&file, "s3cr3t\n").expect("write");
        let text = format!(
            "[[stage]]\nname='db'\nplugin='p'\npassword_file='{}'\nconfig={{user='u'}}\n",
            file.display()
        );
        let config = HostConfig::parse(&text, Path::new("t")).expect("parses");
        let (json, secret) = config.stages[0].plugin_config().expect("readable");
        assert_eq!(secret.as_deref(), Some("s3cr3t"));
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(
            value,
            serde_json::json!({"user": "u", "password": "s3cr3t"})
        );
        assert!(!format!("{config:?}").contains("s3cr3t"));

        std::fs::remove_file(&file).expect("rm");
        let error = config.stages[0].plugin_config().expect_err("file gone");
        assert!(
            error.contains("pg.pass") && error.contains("'db'"),
            "{error}"
        );
    }

    #[test]
    fn a_password_inside_config_or_two_sources_are_refused() {
        for text in [
            "[[stage]]\nname='db'\nplugin='p'\nconfig={password='x'}\n",
            "[[stage]]\nname='db'\nplugin='p'\npassword_file='/f'\npassword_env='V'\n",
        ] {
            assert!(HostConfig::parse(text, Path::new("t")).is_err(), "{text}");
        }
    }

    #[test]
    fn the_public_url_is_configured_or_made_from_the_address_served() {
        let bound: SocketAddr = "127.0.0.1:41234".parse().expect("addr");
        let https = HostConfig::parse("", Path::new("t")).expect("valid");
        assert_eq!(https.public_url(bound), "https://127.0.0.1:41234");
        let http = HostConfig::parse("plain_http = true", Path::new("t")).expect("valid");
        assert_eq!(http.public_url(bound), "http://127.0.0.1:41234");
        let v6: SocketAddr = "[::1]:6443".parse().expect("addr");
        assert_eq!(https.public_url(v6), "https://[::1]:6443");
        let configured = HostConfig::parse(
            "public_url = 'https://dr.example.org/backup/'",
            Path::new("t"),
        )
        .expect("valid");
        assert_eq!(
            configured.public_url(bound),
            "https://dr.example.org/backup"
        );
        for bad in [
            "ftp://dr.example.org",
            "dr.example.org",
            "https://user:pw@dr.example.org",
            "https://dr.example.org/?x=1",
            "https://dr.example.org/#top",
        ] {
            let text = format!("public_url = '{bad}'");
            assert!(HostConfig::parse(&text, Path::new("t")).is_err(), "{bad}");
        }
    }

    #[test]
    fn duplicate_stage_names_and_bad_limits_are_refused() {
        let twice = "[[stage]]\nname='a'\nplugin='x'\n[[stage]]\nname='a'\nplugin='y'\n";
        assert!(HostConfig::parse(twice, Path::new("t")).is_err());
        let zero = "[[stage]]\nname='a'\nplugin='x'\nlimits={memory_mib=0}\n";
        assert!(HostConfig::parse(zero, Path::new("t")).is_err());
        let no_archive = "[[stage]]\nname='a'\nplugin='x'\nlimits={max_archive_mib=0}\n";
        assert!(HostConfig::parse(no_archive, Path::new("t")).is_err());
        let store_archive = "store_limits={max_archive_mib=1}\n";
        assert!(HostConfig::parse(store_archive, Path::new("t")).is_err());
        let archive = "[[stage]]\nname='a'\nplugin='x'\nlimits={max_archive_mib=3}\n";
        let config = HostConfig::parse(archive, Path::new("t")).expect("valid");
        assert_eq!(
            config.stages[0]
                .limits()
                .to_plugin_limits()
                .max_archive_bytes,
            Some(3 << 20)
        );
        let endpoints = "store_endpoints = ['10.0.0.0/8', '[::1]:3900']\n";
        let config = HostConfig::parse(endpoints, Path::new("t")).expect("valid");
        assert!(config.store_endpoint_policy().is_ok());
        let bad_endpoint = "store_endpoints = ['s3.internal']\n";
        let err = HostConfig::parse(bad_endpoint, Path::new("t")).expect_err("a name");
        assert!(err.to_string().contains("s3.internal"), "{err}");
        let unknown = "lisen='127.0.0.1:1'\n";
        assert!(HostConfig::parse(unknown, Path::new("t")).is_err());
    }
}
