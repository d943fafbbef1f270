//! Plugin configuration texts: a JSON object whose keys are checked, and the
//! configuration every filesystem plugin takes, `{"root": "<guest path>"}`.

use serde_json::{Map, Value};

use crate::guest_path;

/// The JSON object of a configuration text (an empty text is `{}`), checked
/// for unknown keys so that a misspelt key is not silently ignored; `example`
/// shows the expected shape in the error for a non-object.
pub fn object(text: &str, known: &[&str], example: &str) -> Result<Map<String, Value>, String> {
    let value: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(text).map_err(|e| format!("configuration is not valid JSON: {e}"))?
    };
    let Value::Object(map) = value else {
        return Err(format!(
            "configuration must be a JSON object like {example}"
        ));
    };
    if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "unknown configuration key `{key}` (known keys: {})",
            known.join(", ")
        ));
    }
    Ok(map)
}

/// The guest directory a plugin works in, from its configuration JSON.
///
/// An empty text or a missing `root` selects `default`. Unknown keys are
/// refused: a misspelt `root` would otherwise silently fall back to the
/// default directory. Errors are operator-facing texts for `invalid-config`.
pub fn root(config: &str, default: &str) -> Result<String, String> {
    let map = object(config, &["root"], r#"{"root": "/data"}"#)?;
    match map.get("root") {
        None | Some(Value::Null) => Ok(default.to_owned()),
        Some(Value::String(root)) => {
            guest_path::normalize_root(root).map_err(|e| format!("`root` {e}"))
        }
        Some(other) => Err(format!("`root` must be a string, not {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_empty_or_missing() {
        assert_eq!(root("", "/data").unwrap(), "/data");
        assert_eq!(root("  \n", "/data").unwrap(), "/data");
        assert_eq!(root("{}", "/store").unwrap(), "/store");
        assert_eq!(root(r#"{"root": null}"#, "/data").unwrap(), "/data");
    }

    #[test]
    fn takes_and_normalizes_root() {
        assert_eq!(root(r#"{"root": "/srv/x"}"#, "/data").unwrap(), "/srv/x");
        assert_eq!(root(r#"{"root": "/srv/x/"}"#, "/data").unwrap(), "/srv/x");
        assert_eq!(root(r#"{"root": "/"}"#, "/data").unwrap(), "/");
    }

    #[test]
    fn refuses_bad_shapes() {
        assert!(root("[1]", "/data").unwrap_err().contains("JSON object"));
        assert!(root("{", "/data").unwrap_err().contains("not valid JSON"));
        assert!(
            root(r#"{"rot": "/x"}"#, "/data")
                .unwrap_err()
                .contains("`rot`")
        );
        assert!(
            root(r#"{"root": 5}"#, "/data")
                .unwrap_err()
                .contains("string")
        );
        assert!(
            root(r#"{"root": "data"}"#, "/data")
                .unwrap_err()
                .contains("absolute")
        );
        assert!(root(r#"{"root": "/a/../b"}"#, "/data").is_err());
    }
}
