//! The stage configuration:
//! `{"host", "port", "user", "password", "label", "connect_timeout_seconds", "root",
//! "data_directory_owner", "data_directory_group"}`.
//!
//! `host` may be left out of a restore-only configuration: restore writes to
//! `root` and never talks to a server. Errors are operator-facing texts for
//! `invalid-config`; none of them ever quotes the password.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "host",
    "port",
    "user",
    "password",
    "label",
    "connect_timeout_seconds",
    "root",
    "data_directory_owner",
    "data_directory_group",
];
const DEFAULT_PORT: u16 = 5432;
const DEFAULT_LABEL: &str = "drhost";
const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
const MAX_TIMEOUT_SECONDS: u64 = 3600;
/// PostgreSQL keeps backup labels below MAXPGPATH (1024) bytes.
const MAX_LABEL_BYTES: usize = 1000;
pub const DEFAULT_ROOT: &str = "/data";
/// Longest user or group name accepted (Linux allows 32; some systems more).
const MAX_NAME_BYTES: usize = 256;

/// Where and as whom to connect.
pub struct Server {
    pub addr: SocketAddr,
    pub user: String,
    pub password: Option<String>,
    pub connect_timeout: Duration,
}

// Hand-written so that no debug print can ever show the password.
impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// A user or group as the operator names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    Number(u32),
    /// Resolved by the host on the restore machine.
    Name(String),
}

/// Who owns the restored data directory; `None` parts default to the owner
/// of the restore target itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataOwner {
    pub user: Option<Id>,
    pub group: Option<Id>,
}

#[derive(Debug)]
pub struct Config {
    /// `None` for a restore-only configuration (no `host`).
    pub server: Option<Server>,
    pub label: String,
    /// The restore target (guest path).
    pub root: String,
    pub data_owner: DataOwner,
}

impl Config {
    /// The server, or an error saying backup needs one.
    pub fn server(&self) -> Result<&Server, String> {
        self.server.as_ref().ok_or_else(|| {
            "`host` is required: name the PostgreSQL server's IP address, e.g. \"127.0.0.1\"".into()
        })
    }
}

pub fn parse(text: &str) -> Result<Config, String> {
    let map =
        plugin_util::config::object(text, KEYS, r#"{"host": "127.0.0.1", "user": "replicator"}"#)?;
    let root = match string(&map, "root")? {
        None => DEFAULT_ROOT.to_owned(),
        Some(root) => {
            plugin_util::guest_path::normalize_root(root).map_err(|e| format!("`root` {e}"))?
        }
    };
    let label = string(&map, "label")?.unwrap_or(DEFAULT_LABEL);
    if label.contains('\0') || label.len() > MAX_LABEL_BYTES {
        return Err(format!(
            "`label` must be at most {MAX_LABEL_BYTES} bytes without NUL characters"
        ));
    }
    let server = match string(&map, "host")? {
        None => {
            if let Some(key) = ["port", "user", "password", "connect_timeout_seconds"]
                .into_iter()
                .find(|k| !matches!(map.get(*k), None | Some(Value::Null)))
            {
                return Err(format!("`{key}` is set but `host` is missing"));
            }
            None
        }
        Some(host) => Some(server(&map, host)?),
    };
    let data_owner = DataOwner {
        user: id(&map, "data_directory_owner", "user")?,
        group: id(&map, "data_directory_group", "group")?,
    };
    Ok(Config {
        server,
        label: label.to_owned(),
        root,
        data_owner,
    })
}

/// A user or group: a name, or a numeric id as a number or a string of
/// digits (`"999"` is the id, as `chown` reads it).
fn id(map: &Map<String, Value>, key: &str, what: &str) -> Result<Option<Id>, String> {
    let shape = || {
        format!("`{key}` must be a {what} name such as \"postgres\" or a numeric id such as 999")
    };
    let number = |n: u64| match u32::try_from(n) {
        // (uid_t)-1 means "leave unchanged" to chown: not an owner.
        Ok(n) if n != u32::MAX => Ok(Id::Number(n)),
        _ => Err(format!("`{key}` {n} is not a valid {what} id")),
    };
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map_or_else(|| Err(shape()), number).map(Some),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<u64>()
            .map_err(|_| shape())
            .and_then(number)
            .map(Some),
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= MAX_NAME_BYTES
                && !s
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == ':' || c == '/') =>
        {
            Ok(Some(Id::Name(s.clone())))
        }
        Some(_) => Err(shape()),
    }
}

fn server(map: &Map<String, Value>, host: &str) -> Result<Server, String> {
    let ip = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse::<IpAddr>()
        .map_err(|_| {
            format!(
                "`host` must be an IP address such as \"127.0.0.1\", not {host:?}: \
                 the plugin sandbox cannot resolve host names"
            )
        })?;
    let port = match integer(map, "port", 1, u64::from(u16::MAX))? {
        None => DEFAULT_PORT,
        Some(p) => u16::try_from(p).map_err(|_| "`port` is out of range".to_owned())?,
    };
    let user = string(map, "user")?
        .ok_or("`user` is required: name the PostgreSQL role with the REPLICATION attribute")?;
    if user.is_empty() || user.contains('\0') {
        return Err("`user` must be a non-empty role name without NUL characters".into());
    }
    // Shape errors only; the value is never quoted back.
    let password = match map.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if !p.contains('\0') => Some(p.clone()),
        Some(_) => return Err("`password` must be a string without NUL characters".into()),
    };
    let timeout = integer(map, "connect_timeout_seconds", 1, MAX_TIMEOUT_SECONDS)?
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    Ok(Server {
        addr: SocketAddr::new(ip, port),
        user: user.to_owned(),
        password,
        connect_timeout: Duration::from_secs(timeout),
    })
}

fn string<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("`{key}` must be a string, not {other}")),
    }
}

fn integer(map: &Map<String, Value>, key: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(format!(
                "`{key}` must be an integer from {min} to {max}, not {n}"
            )),
        },
        Some(other) => Err(format!("`{key}` must be an integer, not {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_config_with_defaults() {
        let c =
            parse(r#"{"host": "127.0.0.1", "user": "replicator", "password": "s3cret"}"#).unwrap();
        let s = c.server().unwrap();
        assert_eq!(s.addr.to_string(), "127.0.0.1:5432");
        assert_eq!(s.password.as_deref(), Some("s3cret"));
        assert_eq!(s.connect_timeout, Duration::from_secs(30));
        assert_eq!(c.label, "drhost");
        assert_eq!(c.root, "/data");
        assert_eq!(c.data_owner, DataOwner::default());
        assert!(!format!("{c:?}").contains("s3cret"));

        let c = parse(
            r#"{"host": "[::1]", "port": 5433, "user": "u", "label": "x",
                "connect_timeout_seconds": 5, "root": "/restore/"}"#,
        )
        .unwrap();
        assert_eq!(c.server().unwrap().addr.to_string(), "[::1]:5433");
        assert_eq!(c.root, "/restore");
    }

    #[test]
    fn takes_the_data_directory_owner_by_name_or_id() {
        let c =
            parse(r#"{"data_directory_owner": "postgres", "data_directory_group": 26}"#).unwrap();
        assert_eq!(
            c.data_owner,
            DataOwner {
                user: Some(Id::Name("postgres".into())),
                group: Some(Id::Number(26)),
            }
        );
        let c = parse(r#"{"data_directory_owner": "999"}"#).unwrap();
        assert_eq!(c.data_owner.user, Some(Id::Number(999)));
        assert_eq!(c.data_owner.group, None);
        for bad in [
            r#"{"data_directory_owner": ""}"#,
            r#"{"data_directory_owner": "post gres"}"#,
            r#"{"data_directory_owner": "a:b"}"#,
            r#"{"data_directory_owner": -1}"#,
            r#"{"data_directory_owner": 4294967295}"#,
            r#"{"data_directory_owner": "99999999999"}"#,
            r#"{"data_directory_group": true}"#,
            r#"{"data_directory_group": 1.5}"#,
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("`data_directory_"), "{bad}: {err}");
        }
    }

    #[test]
    fn restore_only_config_has_no_server() {
        let c = parse(r#"{"root": "/data"}"#).unwrap();
        assert!(c.server().unwrap_err().contains("`host` is required"));
        assert!(
            parse(r#"{"user": "u"}"#)
                .unwrap_err()
                .contains("`host` is missing")
        );
    }

    #[test]
    fn refuses_bad_values() {
        let err = parse(r#"{"host": "db.example.com", "user": "u"}"#).unwrap_err();
        assert!(
            err.contains("IP address") && err.contains("resolve"),
            "{err}"
        );
        assert!(
            parse(r#"{"host": "127.0.0.1"}"#)
                .unwrap_err()
                .contains("`user`")
        );
        assert!(parse(r#"{"host": "127.0.0.1", "user": "u", "port": 0}"#).is_err());
        assert!(parse(r#"{"host": "127.0.0.1", "user": "u", "port": 70000}"#).is_err());
        assert!(
            parse(r#"{"host": "127.0.0.1", "user": "u", "hots": 1}"#)
                .unwrap_err()
                .contains("`hots`")
        );
        let err = parse(r#"{"host": "127.0.0.1", "user": "u", "password": 12345}"#).unwrap_err();
        assert!(!err.contains("12345"), "{err}");
        assert!(parse("[1]").is_err());
        assert!(parse(r#"{"root": "rel"}"#).is_err());
    }
}
