//! The connection settings every S3 plugin takes from its JSON configuration:
//! `endpoint`, `region`, `bucket`, `prefix`, `path_style`, `access_key`, a
//! secret key (under a name the plugin chooses) and `part_size_mib`. Errors
//! are operator-facing texts for `invalid-config`; none quotes the secret.

use serde_json::{Map, Value};

use crate::sigv4::Credentials;

/// The connection keys; a plugin adds its own (and its secret key's name).
pub const KEYS: &[&str] = &[
    "endpoint",
    "region",
    "bucket",
    "prefix",
    "path_style",
    "access_key",
    "part_size_mib",
];

/// The session token of temporary keys: not in [`KEYS`], a plugin that takes
/// temporary keys (the store adapter, whose host fills them in per call)
/// adds it, like its secret key's name.
pub const SESSION_TOKEN: &str = "session_token";

pub const DEFAULT_REGION: &str = "us-east-1";
const MIB: usize = 1 << 20;
/// S3's smallest part (but the last) is 5 MiB; parts are buffered whole, so
/// the largest is kept small enough for the plugins' memory budget.
const PART_SIZE_MIB: (u64, u64, u64) = (5, 8, 64);

/// Where the S3 server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub https: bool,
    /// `host[:port]` as configured (a bracketed IPv6 literal included).
    pub authority: String,
    /// `scheme://authority`, for messages.
    pub url: String,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!(
                "`endpoint` must start with http:// or https://, e.g. \"http://127.0.0.1:3900\", not {text:?}"
            ));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(format!("`endpoint` {text:?} names no host"));
        }
        if let Some(c) = authority
            .chars()
            .find(|c| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "`endpoint` {text:?} must be scheme://host[:port] only (found {c:?})"
            ));
        }
        let scheme = if https { "https" } else { "http" };
        Ok(Self {
            https,
            authority: authority.to_owned(),
            url: format!("{scheme}://{authority}"),
        })
    }

    /// The host part, without port.
    fn host(&self) -> &str {
        if self.authority.starts_with('[') {
            return self
                .authority
                .split_once(']')
                .map_or(self.authority.as_str(), |(h, _)| h);
        }
        self.authority
            .rsplit_once(':')
            .map_or(self.authority.as_str(), |(h, _)| h)
    }

    /// True for an IP literal, which cannot carry a bucket as a subdomain.
    fn is_ip(&self) -> bool {
        let host = self.host();
        host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()
    }
}

/// Everything needed to address and sign requests for one bucket.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoint: Endpoint,
    pub region: String,
    pub bucket: String,
    /// Empty, or ending in `/`: prepended to every object name.
    pub prefix: String,
    pub path_style: bool,
    pub credentials: Credentials,
    pub part_size: usize,
}

/// The JSON object of an S3 plugin's configuration text, keys checked.
pub fn object(text: &str, known: &[&str]) -> Result<Map<String, Value>, String> {
    plugin_util::config::object(
        text,
        known,
        r#"{"endpoint": "http://127.0.0.1:3900", "bucket": "drhost"}"#,
    )
}

/// The connection settings in `map`, the secret key read from `secret_key`
/// (`secret_key` for a store, `password` for a stage, which the host fills
/// from the operator's credential source).
pub fn connection(map: &Map<String, Value>, secret_key: &str) -> Result<Settings, String> {
    let endpoint = Endpoint::parse(required(map, "endpoint")?)?;
    let region = string(map, "region")?.unwrap_or(DEFAULT_REGION);
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "`region` must be a region name like \"us-east-1\", not {region:?}"
        ));
    }
    let bucket = bucket_name(required(map, "bucket")?, "bucket")?;
    let prefix = normalize_prefix(string(map, "prefix")?.unwrap_or(""))?;
    let path_style = match map.get("path_style") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("`path_style` must be true or false, not {other}")),
    };
    if !path_style && endpoint.is_ip() {
        return Err(format!(
            "`path_style` false needs a host name endpoint (the bucket becomes a subdomain), not {}",
            endpoint.url
        ));
    }
    let access_key = required(map, "access_key")?;
    if access_key
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err("`access_key` must not contain spaces, control characters or `/`".into());
    }
    // Shape errors only: the value is never quoted back.
    let secret = match map.get(secret_key) {
        Some(Value::String(s)) if !s.is_empty() && !s.chars().any(char::is_control) => s.clone(),
        None | Some(Value::Null) => {
            return Err(format!(
                "`{secret_key}` is missing: the S3 secret key is required"
            ));
        }
        Some(_) => {
            return Err(format!(
                "`{secret_key}` must be a non-empty string without control characters"
            ));
        }
    };
    // Only temporary keys have one; a shape error never quotes it.
    let session_token = match map.get(SESSION_TOKEN) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && !s.chars().any(char::is_control) => {
            Some(s.clone())
        }
        Some(_) => {
            return Err(format!(
                "`{SESSION_TOKEN}` must be a non-empty string without control characters"
            ));
        }
    };
    let (min, default, max) = PART_SIZE_MIB;
    let part_size_mib = match map.get("part_size_mib") {
        None | Some(Value::Null) => default,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if (min..=max).contains(&v) => v,
            _ => {
                return Err(format!(
                    "`part_size_mib` must be an integer from {min} to {max}, not {n}"
                ));
            }
        },
        Some(other) => return Err(format!("`part_size_mib` must be an integer, not {other}")),
    };
    Ok(Settings {
        endpoint,
        region: region.to_owned(),
        bucket,
        prefix,
        path_style,
        credentials: Credentials {
            access_key: access_key.to_owned(),
            secret_key: secret,
            session_token,
        },
        part_size: usize::try_from(part_size_mib).unwrap_or(8) * MIB,
    })
}

/// A bucket name as S3 and Garage accept them (the strict DNS-style rules
/// are the server's to enforce; this only keeps names URL- and host-safe).
pub fn bucket_name(name: &str, key: &str) -> Result<String, String> {
    if name.is_empty()
        || name.len() > 255
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!(
            "`{key}` must be a bucket name of letters, digits, `.`, `-` and `_`, not {name:?}"
        ));
    }
    Ok(name.to_owned())
}

/// `""` or the prefix with surrounding slashes trimmed and one `/` appended,
/// so `"backups/team-a"` and `"/backups/team-a/"` both name the same place.
pub fn normalize_prefix(prefix: &str) -> Result<String, String> {
    if prefix.chars().any(char::is_control) {
        return Err("`prefix` must not contain control characters".into());
    }
    if prefix.len() > 512 {
        return Err("`prefix` must be at most 512 bytes".into());
    }
    let trimmed = prefix.trim_matches('/');
    Ok(if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    })
}

pub fn string<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("`{key}` must be a string, not {other}")),
    }
}

fn required<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match string(map, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(format!("`{key}` is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        let mut known = KEYS.to_vec();
        known.push("secret_key");
        connection(&object(text, &known)?, "secret_key")
    }

    #[test]
    fn parses_with_defaults() {
        let s = parse(
            r#"{"endpoint": "http://127.0.0.1:3900/", "bucket": "drhost",
                "access_key": "GK1", "secret_key": "s3cr3t"}"#,
        )
        .unwrap();
        assert_eq!(s.endpoint.url, "http://127.0.0.1:3900");
        assert_eq!(s.endpoint.authority, "127.0.0.1:3900");
        assert!(!s.endpoint.https);
        assert_eq!(s.region, "us-east-1");
        assert_eq!(s.prefix, "");
        assert!(s.path_style);
        assert_eq!(s.part_size, 8 << 20);
        assert!(!format!("{s:?}").contains("s3cr3t"));

        let s = parse(
            r#"{"endpoint": "https://s3.eu-west-1.amazonaws.com", "region": "eu-west-1",
                "bucket": "b", "prefix": "/backups/team-a/", "path_style": false,
                "access_key": "AK", "secret_key": "x", "part_size_mib": 16}"#,
        )
        .unwrap();
        assert!(s.endpoint.https);
        assert_eq!(s.prefix, "backups/team-a/");
        assert!(!s.path_style);
        assert_eq!(s.part_size, 16 << 20);
    }

    #[test]
    fn refuses_bad_values_without_quoting_the_secret() {
        let base = |extra: &str| {
            format!(
                r#"{{"endpoint": "http://127.0.0.1:3900", "bucket": "b", "access_key": "a"{extra}}}"#
            )
        };
        let missing = parse(&base("")).unwrap_err();
        assert!(missing.contains("`secret_key` is missing"), "{missing}");
        let bad = parse(&base(r#", "secret_key": "line\nbreak""#)).unwrap_err();
        assert!(!bad.contains("line"), "{bad}");
        for (extra, needle) in [
            (r#", "secret_key": "s", "endpoint": "ftp://x""#, "http://"),
            (
                r#", "secret_key": "s", "endpoint": "http://h/path""#,
                "scheme://host",
            ),
            (
                r#", "secret_key": "s", "endpoint": "http://u@h""#,
                "scheme://host",
            ),
            (r#", "secret_key": "s", "bucket": "a/b""#, "bucket name"),
            (
                r#", "secret_key": "s", "bucket": """#,
                "`bucket` is required",
            ),
            (r#", "secret_key": "s", "path_style": false"#, "host name"),
            (
                r#", "secret_key": "s", "path_style": "yes""#,
                "true or false",
            ),
            (r#", "secret_key": "s", "part_size_mib": 4"#, "from 5 to 64"),
            (r#", "secret_key": "s", "region": "a b""#, "region"),
            (r#", "secret_key": "s", "bukket": "x""#, "`bukket`"),
        ] {
            let err = parse(&base(extra)).unwrap_err();
            assert!(err.contains(needle), "{extra}: {err}");
        }
        assert!(parse("[]").unwrap_err().contains("JSON object"));
        assert!(parse("").unwrap_err().contains("`endpoint` is required"));
    }

    #[test]
    fn virtual_host_style_needs_a_name() {
        for (endpoint, ok) in [
            ("http://[::1]:3900", false),
            ("http://10.0.0.1", false),
            ("https://s3.example.com:8443", true),
        ] {
            let text = format!(
                r#"{{"endpoint": "{endpoint}", "bucket": "b", "access_key": "a",
                    "secret_key": "s", "path_style": false}}"#
            );
            assert_eq!(parse(&text).is_ok(), ok, "{endpoint}");
        }
    }

    #[test]
    fn normalizes_prefixes() {
        assert_eq!(normalize_prefix("").unwrap(), "");
        assert_eq!(normalize_prefix("/").unwrap(), "");
        assert_eq!(normalize_prefix("a").unwrap(), "a/");
        assert_eq!(normalize_prefix("/a/b/").unwrap(), "a/b/");
        assert!(normalize_prefix("a\nb").is_err());
    }
}
