//! The adapter's configuration, as the host hands it over (`host.config()`):
//!
//! ```json
//! {"endpoint": "https://acct.blob.core.windows.net", "appendOnly": false,
//!  "account": "acct", "container": "backups", "prefix": "backups",
//!  "credential": {"type": "shared-key", "key": "<base64 account key>"}}
//! ```
//!
//! `credential` is `{"type": "sas", "token": "sv=...&sig=..."}` or
//! `{"type": "bearer", "token": "<OAuth access token>"}` instead. An Azurite
//! endpoint is path-style, the account in its path:
//! `http://127.0.0.1:10000/devstoreaccount1`. Errors name the field and never
//! quote a secret.

use serde_json::{Map, Value};

use crate::shared_key;

const KEYS: &[&str] = &[
    "endpoint",
    "appendOnly",
    "account",
    "container",
    "prefix",
    "credential",
];

/// Where the Blob service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub https: bool,
    /// `host[:port]`, the authority the host grants.
    pub authority: String,
    /// The path before the container, `""` or e.g. `/devstoreaccount1`.
    pub base_path: String,
    /// `scheme://authority[/path]`, for messages.
    pub url: String,
}

/// How requests prove their right.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The decoded account key.
    SharedKey(Vec<u8>),
    /// A SAS token's query string, without the leading `?`.
    Sas(String),
    /// An OAuth access token for `https://storage.azure.com/`.
    Bearer(String),
}

impl Credential {
    /// What to check when the service refuses it, for messages.
    pub fn advice(&self) -> &'static str {
        match self {
            Self::SharedKey(_) => "check the account key",
            Self::Sas(_) => "check the SAS token (its permissions, services and expiry)",
            Self::Bearer(_) => "check the access token and the role assigned to its identity",
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SharedKey(_) => "SharedKey(..)",
            Self::Sas(_) => "Sas(..)",
            Self::Bearer(_) => "Bearer(..)",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub endpoint: Endpoint,
    pub account: String,
    pub container: String,
    /// `""` or ending in `/`, prepended to every object name.
    pub prefix: String,
    pub credential: Credential,
    pub append_only: bool,
}

pub fn parse(text: &str) -> Result<Settings, String> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| format!("the configuration is not valid JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("the configuration must be a JSON object".into());
    };
    if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown configuration key `{unknown}` (known: {})",
            KEYS.join(", ")
        ));
    }
    let endpoint = endpoint(required_str(&map, "endpoint")?)?;
    let account = account(required_str(&map, "account")?)?;
    let container = container(required_str(&map, "container")?)?;
    let prefix = prefix(optional_str(&map, "prefix")?.unwrap_or(""))?;
    let credential = credential(map.get("credential"))?;
    if matches!(credential, Credential::Bearer(_)) && !endpoint.https {
        return Err(
            "`credential` of type bearer needs an https:// `endpoint`: a bearer token is \
             never sent in the clear"
                .into(),
        );
    }
    let append_only = match map.get("appendOnly") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`appendOnly` must be true or false".into()),
    };
    Ok(Settings {
        endpoint,
        account,
        container,
        prefix,
        credential,
        append_only,
    })
}

fn required_str<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    optional_str(map, key)?.ok_or_else(|| format!("`{key}` is missing"))
}

fn optional_str<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn endpoint(text: &str) -> Result<Endpoint, String> {
    let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = text.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!(
            "`endpoint` must start with http:// or https://, e.g. \
             \"https://acct.blob.core.windows.net\", not {text:?}"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let path = path.trim_end_matches('/');
    if authority.is_empty() {
        return Err(format!("`endpoint` {text:?} names no host"));
    }
    if let Some(c) = authority
        .chars()
        .find(|c| matches!(c, '?' | '#' | '@') || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "`endpoint` {text:?} must be scheme://host[:port][/path] only (found {c:?})"
        ));
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_'))
        || path.contains("//")
    {
        return Err(format!(
            "`endpoint` {text:?}: its path may hold only letters, digits, '-', '.', '_' \
             and single '/' (no query)"
        ));
    }
    let scheme = if https { "https" } else { "http" };
    Ok(Endpoint {
        https,
        authority: authority.to_owned(),
        base_path: path.to_owned(),
        url: format!("{scheme}://{authority}{path}"),
    })
}

/// Storage account names are 3 to 24 lowercase letters and digits.
fn account(name: &str) -> Result<String, String> {
    let ok = (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ok {
        return Err(format!(
            "`account` {name:?} is not a storage account name (3 to 24 lowercase letters and digits)"
        ));
    }
    Ok(name.to_owned())
}

/// Container names: 3 to 63 lowercase letters, digits and single hyphens,
/// starting and ending with a letter or digit.
fn container(name: &str) -> Result<String, String> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        return Err(format!(
            "`container` {name:?} is not a container name (3 to 63 lowercase letters, digits \
             and single hyphens, starting and ending with a letter or digit)"
        ));
    }
    Ok(name.to_owned())
}

/// A blob name prefix: `/`-separated non-empty segments of printable
/// characters, at most 512 bytes; stored with a trailing `/`.
fn prefix(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Ok(String::new());
    }
    let ok = text.len() <= 512
        && text
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
        && !text.chars().any(|c| c.is_control() || c == '\\');
    if !ok {
        return Err(format!(
            "`prefix` {text:?} must be `/`-separated names without a leading or trailing `/`, \
             `.` or `..` segments, at most 512 bytes"
        ));
    }
    Ok(format!("{text}/"))
}

fn credential(value: Option<&Value>) -> Result<Credential, String> {
    let Some(Value::Object(map)) = value else {
        return Err(
            "`credential` must be an object: {\"type\": \"shared-key\", \"key\": ...}, \
             {\"type\": \"sas\", \"token\": ...} or {\"type\": \"bearer\", \"token\": ...}"
                .into(),
        );
    };
    let kind = match map.get("type") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err("`credential.type` must be \"shared-key\", \"sas\" or \"bearer\"".into()),
    };
    let field = |name: &str| -> Result<&str, String> {
        if let Some(unknown) = map.keys().find(|k| *k != "type" && *k != name) {
            return Err(format!(
                "unknown key `credential.{unknown}` for credential type {kind}"
            ));
        }
        match map.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.as_str()),
            _ => Err(format!(
                "`credential.{name}` must be a non-empty string for credential type {kind}"
            )),
        }
    };
    match kind {
        "shared-key" => shared_key::decode_key(field("key")?)
            .map(Credential::SharedKey)
            .ok_or_else(|| "`credential.key` is not a base64 account key".into()),
        "sas" => {
            let token = field("token")?.trim();
            if token.starts_with('?') {
                return Err(
                    "`credential.token` must be the SAS token without a leading '?'".into(),
                );
            }
            let well_formed = token.split('&').any(|p| p.starts_with("sig="))
                && !token
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '#');
            if !well_formed {
                return Err(
                    "`credential.token` is not a SAS token (name=value pairs joined by '&', \
                     with a `sig`)"
                        .into(),
                );
            }
            Ok(Credential::Sas(token.to_owned()))
        }
        "bearer" => {
            let token = field("token")?.trim();
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("`credential.token` is not an access token (it holds spaces)".into());
            }
            Ok(Credential::Bearer(token.to_owned()))
        }
        other => Err(format!(
            "`credential.type` {other:?} is not \"shared-key\", \"sas\" or \"bearer\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    fn with(credential: &str, extra: &str) -> String {
        format!(
            r#"{{"endpoint":"http://127.0.0.1:10000/devstoreaccount1","account":"devstoreaccount1",
                "container":"backups","prefix":"team/a","credential":{credential}{extra}}}"#
        )
    }

    #[test]
    fn parses_the_contract_example() {
        let s = parse(
            r#"{"endpoint":"https://acct.blob.core.windows.net","appendOnly":false,"account":"acct",
                "container":"backups","prefix":"backups",
                "credential":{"type":"shared-key","key":"AAEC"}}"#,
        )
        .unwrap();
        assert_eq!(s.endpoint.authority, "acct.blob.core.windows.net");
        assert!(s.endpoint.https);
        assert_eq!(s.endpoint.base_path, "");
        assert_eq!(s.prefix, "backups/");
        assert_eq!(s.credential, Credential::SharedKey(vec![0, 1, 2]));
        assert!(!s.append_only);
    }

    #[test]
    fn takes_a_path_style_endpoint_and_every_credential() {
        let s = parse(&with(
            &format!(r#"{{"type":"shared-key","key":"{KEY}"}}"#),
            "",
        ))
        .unwrap();
        assert_eq!(s.endpoint.authority, "127.0.0.1:10000");
        assert_eq!(s.endpoint.base_path, "/devstoreaccount1");
        assert_eq!(s.endpoint.url, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(s.prefix, "team/a/");
        assert!(!format!("{s:?}").contains("Eby8"));
        let sas = parse(&with(
            r#"{"type":"sas","token":"sv=2023-11-03&sp=rl&sig=abc%3D"}"#,
            r#","appendOnly":true"#,
        ))
        .unwrap();
        assert_eq!(
            sas.credential,
            Credential::Sas("sv=2023-11-03&sp=rl&sig=abc%3D".into())
        );
        assert!(sas.append_only);
        assert!(!format!("{sas:?}").contains("abc%3D"));
        let bearer = parse(
            r#"{"endpoint":"https://a.blob.core.windows.net","account":"acct","container":"c-1",
                "credential":{"type":"bearer","token":"eyJ0"}}"#,
        )
        .unwrap();
        assert_eq!(bearer.credential, Credential::Bearer("eyJ0".into()));
        assert_eq!(bearer.prefix, "");
    }

    #[test]
    fn errors_name_the_field_and_never_the_secret() {
        let cases = [
            (
                with(r#"{"type":"shared-key","key":"s3cr3t!!"}"#, ""),
                "`credential.key`",
            ),
            (
                with(r#"{"type":"sas","token":"?sv=1&sig=s3cr3t"}"#, ""),
                "`credential.token`",
            ),
            (
                with(r#"{"type":"sas","token":"s3cr3t"}"#, ""),
                "`credential.token`",
            ),
            (
                with(r#"{"type":"magic","token":"s3cr3t"}"#, ""),
                "`credential.type`",
            ),
            (
                with(r#"{"type":"sas","sas":"s3cr3t"}"#, ""),
                "`credential.sas`",
            ),
            (with(r#""s3cr3t""#, ""), "`credential`"),
            (
                with(r#"{"type":"bearer","token":"s3cr3t"}"#, ""),
                "`credential` of type bearer",
            ),
            (
                with(
                    r#"{"type":"sas","token":"sig=s3cr3t"}"#,
                    r#","appendOnly":"yes""#,
                ),
                "`appendOnly`",
            ),
            (
                with(r#"{"type":"sas","token":"sig=s3cr3t"}"#, r#","secret":{}"#),
                "`secret`",
            ),
        ];
        for (text, field) in cases {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(field), "{err} lacks {field}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
        let base = r#""credential":{"type":"sas","token":"sig=x"}"#;
        for (text, field) in [
            (
                format!(r#"{{"account":"a1b","container":"ccc",{base}}}"#),
                "`endpoint`",
            ),
            (
                format!(r#"{{"endpoint":"ftp://x","account":"a1b","container":"ccc",{base}}}"#),
                "`endpoint`",
            ),
            (
                format!(
                    r#"{{"endpoint":"http://x/a?b","account":"a1b","container":"ccc",{base}}}"#
                ),
                "`endpoint`",
            ),
            (
                format!(r#"{{"endpoint":"http://x","account":"A1b","container":"ccc",{base}}}"#),
                "`account`",
            ),
            (
                format!(r#"{{"endpoint":"http://x","account":"a1b","container":"c--c",{base}}}"#),
                "`container`",
            ),
            (
                format!(r#"{{"endpoint":"http://x","account":"a1b","container":"Ccc",{base}}}"#),
                "`container`",
            ),
            (
                format!(
                    r#"{{"endpoint":"http://x","account":"a1b","container":"ccc","prefix":"/p",{base}}}"#
                ),
                "`prefix`",
            ),
            (
                format!(
                    r#"{{"endpoint":"http://x","account":"a1b","container":"ccc","prefix":"a//b",{base}}}"#
                ),
                "`prefix`",
            ),
            (
                format!(
                    r#"{{"endpoint":"http://x","account":"a1b","container":"ccc","prefix":7,{base}}}"#
                ),
                "`prefix`",
            ),
        ] {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(field), "{err} lacks {field}");
        }
        assert!(parse("[]").unwrap_err().contains("JSON object"));
    }
}
