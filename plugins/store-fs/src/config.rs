//! The adapter's configuration: `{"root": "<guest path>", "appendOnly": bool}`.

use serde_json::Value;

/// A parsed configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Guest directory holding the objects.
    pub root: String,
    /// Write-once mode, for media with object lock or append-only
    /// credentials: no object is ever replaced or deleted.
    pub append_only: bool,
}

/// Parses the configuration text; an empty text or a missing `root` selects
/// `default_root`. Errors are operator-facing texts for `invalid-config`.
pub fn parse(text: &str, default_root: &str) -> Result<Config, String> {
    let map = plugin_util::config::object(
        text,
        &["root", "appendOnly"],
        r#"{"root": "/store", "appendOnly": false}"#,
    )?;
    let root = match map.get("root") {
        None | Some(Value::Null) => default_root.to_owned(),
        Some(Value::String(root)) => {
            plugin_util::guest_path::normalize_root(root).map_err(|e| format!("`root` {e}"))?
        }
        Some(other) => return Err(format!("`root` must be a string, not {other}")),
    };
    let append_only = match map.get("appendOnly") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("`appendOnly` must be true or false, not {other}")),
    };
    Ok(Config { root, append_only })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_append_only() {
        let c = parse("", "/store").unwrap();
        assert_eq!((c.root.as_str(), c.append_only), ("/store", false));
        let c = parse(r#"{"root": "/s", "appendOnly": true}"#, "/store").unwrap();
        assert_eq!((c.root.as_str(), c.append_only), ("/s", true));
        assert!(parse(r#"{"appendOnly": "yes"}"#, "/store").is_err());
        assert!(parse(r#"{"append_only": true}"#, "/store").is_err());
    }
}
