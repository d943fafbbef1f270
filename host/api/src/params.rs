//! Request parameters, collected from the query string and an
//! `application/x-www-form-urlencoded` body (on POST, and on GET too since old
//! clients send GET parameters in a body). Within each source later keys win;
//! the body wins over the query string.
//!
//! The typed getters implement the reference API's conventions: booleans are
//! case-insensitive (`true`/`True`/`1`), `description=None` means empty,
//! `retentionDate=-1` means never, JSON-valued parameters are parsed with
//! errors naming the parameter.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::pin::Pin;

use axum::body::{Body, HttpBody};
use axum::http::{HeaderMap, header, request::Parts};
use serde_json::Value;

use crate::error::ApiError;
use crate::pct;

/// Default body size limit: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// Why parameters could not be collected or a parameter is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("Missing required parameter '{0}'.")]
    Missing(&'static str),
    #[error("Invalid value for parameter '{name}': {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("The request body is larger than the limit of {limit} bytes.")]
    TooLarge { limit: usize },
    #[error("Unsupported content type; send parameters as application/x-www-form-urlencoded.")]
    UnsupportedContentType,
    #[error("The request parameters are not valid UTF-8.")]
    NotUtf8,
    #[error("The request body could not be read.")]
    BodyRead,
}

/// The parameters of one request. `Debug` shows names only, never values
/// (they hold passwords, passcodes and tokens).
#[derive(Clone, Default)]
pub struct Params {
    values: HashMap<String, String>,
    query_keys: HashSet<String>,
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.values.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Params").field("names", &names).finish()
    }
}

impl Params {
    /// Builds parameters from a query string and a form body.
    pub fn from_parts(query: Option<&str>, body: &[u8]) -> Result<Params, ParamError> {
        let mut params = Params::default();
        if let Some(query) = query {
            for (key, value) in parse_urlencoded(query.as_bytes())? {
                params.query_keys.insert(key.clone());
                params.values.insert(key, value);
            }
        }
        for (key, value) in parse_urlencoded(body)? {
            params.values.insert(key, value);
        }
        Ok(params)
    }

    /// The raw value, possibly empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value unless absent or empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|value| !value.is_empty())
    }

    /// Whether the query string (rather than the body) carried `name`.
    pub fn in_query(&self, name: &str) -> bool {
        self.query_keys.contains(name)
    }

    /// A non-empty value, else [`ParamError::Missing`].
    pub fn required(&self, name: &'static str) -> Result<&str, ParamError> {
        self.text(name).ok_or(ParamError::Missing(name))
    }

    /// A boolean (`true`/`false`/`1`/`0`, any case); `default` when absent or
    /// empty.
    pub fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ParamError> {
        match self.text(name) {
            None => Ok(default),
            Some(value) => parse_bool(value).ok_or_else(|| ParamError::Invalid {
                name,
                reason: "expected true or false.".to_owned(),
            }),
        }
    }

    /// A free text where Python clients' `None` means empty.
    pub fn description(&self, name: &str) -> String {
        match self.get(name) {
            None | Some("None") => String::new(),
            Some(value) => value.to_owned(),
        }
    }

    /// An epoch-ms date where `-1` (also absent, empty or `None`) means never.
    pub fn retention_date(&self, name: &'static str) -> Result<i64, ParamError> {
        let value = match self.text(name) {
            None | Some("None") => return Ok(-1),
            Some(value) => value.trim(),
        };
        match value.parse::<i64>() {
            Ok(date) if date >= -1 => Ok(date),
            _ => Err(ParamError::Invalid {
                name,
                reason: "expected a date in epoch milliseconds, or -1 for never.".to_owned(),
            }),
        }
    }

    /// A positive integer, `None` when absent or empty.
    pub fn positive_integer(&self, name: &'static str) -> Result<Option<u64>, ParamError> {
        match self.text(name) {
            None => Ok(None),
            Some(value) => match value.trim().parse::<u64>() {
                Ok(number) if number > 0 => Ok(Some(number)),
                _ => Err(ParamError::Invalid {
                    name,
                    reason: "expected a positive integer.".to_owned(),
                }),
            },
        }
    }

    /// A required JSON object given as text.
    pub fn json_object(&self, name: &'static str) -> Result<Value, ParamError> {
        let text = self.required(name)?;
        let value: Value = serde_json::from_str(text).map_err(|error| ParamError::Invalid {
            name,
            reason: format!("not valid JSON ({error})."),
        })?;
        if value.is_object() {
            Ok(value)
        } else {
            Err(ParamError::Invalid {
                name,
                reason: "expected a JSON object.".to_owned(),
            })
        }
    }
}

/// Parses `true`/`false`/`1`/`0`, case-insensitively.
pub fn parse_bool(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("true") || value == "1" {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") || value == "0" {
        Some(false)
    } else {
        None
    }
}

/// Collects the parameters of a request, reading at most `limit` body bytes.
/// A non-empty body must be form-encoded (or have no content type).
pub async fn collect(parts: &Parts, body: Body, limit: usize) -> Result<Params, ParamError> {
    if content_length(&parts.headers).is_some_and(|length| length > limit as u64) {
        return Err(ParamError::TooLarge { limit });
    }
    let bytes = read_body(body, limit).await?;
    if !bytes.is_empty() && !is_form(&parts.headers) {
        return Err(ParamError::UnsupportedContentType);
    }
    Params::from_parts(parts.uri.query(), &bytes)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn is_form(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

async fn read_body(mut body: Body, limit: usize) -> Result<Vec<u8>, ParamError> {
    let mut bytes = Vec::new();
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let Some(frame) = frame else {
            return Ok(bytes);
        };
        let frame = frame.map_err(|_| ParamError::BodyRead)?;
        if let Ok(data) = frame.into_data() {
            if bytes.len().saturating_add(data.len()) > limit {
                return Err(ParamError::TooLarge { limit });
            }
            bytes.extend_from_slice(&data);
        }
    }
}

/// Parses `application/x-www-form-urlencoded` text. Pairs with an empty key
/// are skipped; a key without `=` has an empty value.
pub fn parse_urlencoded(input: &[u8]) -> Result<Vec<(String, String)>, ParamError> {
    let mut pairs = Vec::new();
    for piece in input.split(|&byte| byte == b'&') {
        if piece.is_empty() {
            continue;
        }
        let (key, value) = match piece.iter().position(|&byte| byte == b'=') {
            Some(at) => (&piece[..at], &piece[at + 1..]),
            None => (piece, &[][..]),
        };
        let key = String::from_utf8(pct::decode(key, true)).map_err(|_| ParamError::NotUtf8)?;
        if key.is_empty() {
            continue;
        }
        let value = String::from_utf8(pct::decode(value, true)).map_err(|_| ParamError::NotUtf8)?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Oversized and wrongly typed bodies keep their own statuses (413, 415);
/// every other parameter error is the caller's malformed input (400).
impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> Self {
        match error {
            ParamError::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
            ParamError::UnsupportedContentType => ApiError::UnsupportedMediaType,
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn params(query: &str, body: &str) -> Params {
        Params::from_parts(Some(query), body.as_bytes()).expect("valid params")
    }

    #[test]
    fn body_wins_over_query_and_later_keys_win() {
        let p = params("a=1&b=1&b=2", "a=3&c=x+y%21&c=z");
        assert_eq!(p.get("a"), Some("3"));
        assert_eq!(p.get("b"), Some("2"));
        assert_eq!(p.get("c"), Some("z"));
        assert!(p.in_query("a"));
        assert!(!p.in_query("c"));
        assert_eq!(params("", "c=x+y%21").get("c"), Some("x y!"));
    }

    #[test]
    fn booleans_any_case() {
        let p = params("a=True&b=FALSE&c=1&d=0&e=yes&f=", "");
        assert_eq!(p.boolean("a", false), Ok(true));
        assert_eq!(p.boolean("b", true), Ok(false));
        assert_eq!(p.boolean("c", false), Ok(true));
        assert_eq!(p.boolean("d", true), Ok(false));
        assert_eq!(p.boolean("f", true), Ok(true));
        assert_eq!(p.boolean("missing", false), Ok(false));
        let error = p.boolean("e", false).unwrap_err();
        assert!(error.to_string().contains("'e'"), "{error}");
    }

    #[test]
    fn description_none_is_empty() {
        let p = params("a=None&b=hello&c=", "");
        assert_eq!(p.description("a"), "");
        assert_eq!(p.description("b"), "hello");
        assert_eq!(p.description("c"), "");
        assert_eq!(p.description("missing"), "");
    }

    #[test]
    fn retention_dates() {
        let p = params("a=-1&b=1635945710988&c=-5&d=soon&e=", "");
        assert_eq!(p.retention_date("a"), Ok(-1));
        assert_eq!(p.retention_date("b"), Ok(1_635_945_710_988));
        assert!(p.retention_date("c").is_err());
        assert!(p.retention_date("d").is_err());
        assert_eq!(p.retention_date("e"), Ok(-1));
        assert_eq!(p.retention_date("missing"), Ok(-1));
    }

    #[test]
    fn json_objects() {
        let p = params("", "s=%7B%22default%22%3Atrue%7D&bad=%7Bnope&arr=%5B1%5D");
        assert_eq!(p.json_object("s"), Ok(serde_json::json!({"default": true})));
        let error = p.json_object("bad").unwrap_err().to_string();
        assert!(
            error.contains("'bad'") && error.contains("not valid JSON"),
            "{error}"
        );
        assert!(
            p.json_object("arr")
                .unwrap_err()
                .to_string()
                .contains("JSON object")
        );
        assert_eq!(
            p.json_object("missing"),
            Err(ParamError::Missing("missing"))
        );
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert_eq!(parse_urlencoded(b"a=%FF").unwrap_err(), ParamError::NotUtf8);
    }

    #[test]
    fn debug_hides_values() {
        let p = params("", "password=hunter2hunter2");
        let shown = format!("{p:?}");
        assert!(shown.contains("password") && !shown.contains("hunter2"));
    }

    #[tokio::test]
    async fn collect_checks_limit_and_content_type() {
        let request = |ct: Option<&str>, body: &'static str| {
            let mut builder = Request::post("/x?f=json");
            if let Some(ct) = ct {
                builder = builder.header(header::CONTENT_TYPE, ct);
            }
            builder
                .body(Body::from(body))
                .expect("request")
                .into_parts()
        };
        let (parts, body) = request(
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            "a=1",
        );
        let p = collect(&parts, body, 10).await.expect("params");
        assert_eq!((p.get("a"), p.get("f")), (Some("1"), Some("json")));
        let (parts, body) = request(None, "a=1");
        assert!(collect(&parts, body, 10).await.is_ok());
        let (parts, body) = request(Some("application/json"), "{}");
        assert_eq!(
            collect(&parts, body, 10).await.unwrap_err(),
            ParamError::UnsupportedContentType
        );
        let (parts, body) = request(Some("application/json"), "");
        assert!(collect(&parts, body, 10).await.is_ok());
        let (parts, body) = request(None, "a=12345678901");
        assert_eq!(
            collect(&parts, body, 10).await.unwrap_err(),
            ParamError::TooLarge { limit: 10 }
        );
    }
}
