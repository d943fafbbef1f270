//! The adapter's configuration, as the host hands it over (`host.config()`):
//! `{"root": "/store", "appendOnly": false, "config": {...}, "secret": {...}}`.
//! `config` and `secret` are what the operator registered the store with;
//! this adapter needs neither, but shows where such settings arrive.

use guest_sdk::PluginError;
use guest_sdk::plugin_util::guest_path::normalize_root;
use serde_json::{Map, Value};

/// What a store of this adapter is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The store's directory in the sandbox.
    pub root: String,
    /// Write-once: an existing object is never replaced, nothing is deleted.
    pub append_only: bool,
    /// The store's free-form settings (`config` at registration).
    pub settings: Map<String, Value>,
}

const KNOWN_KEYS: [&str; 4] = ["root", "appendOnly", "config", "secret"];
const EXAMPLE: &str = r#"{"root": "/store", "appendOnly": false, "config": {}, "secret": {}}"#;

impl Config {
    /// Parses the host's configuration text. Errors say what to fix; they
    /// never quote values, which may be secrets.
    pub fn parse(text: &str) -> Result<Config, PluginError> {
        let map = guest_sdk::plugin_util::config::object(text, &KNOWN_KEYS, EXAMPLE)
            .map_err(PluginError::InvalidConfig)?;
        let root = match map.get("root") {
            None | Some(Value::Null) => "/store".to_owned(),
            Some(Value::String(root)) => normalize_root(root)
                .map_err(|e| PluginError::InvalidConfig(format!("`root` {e}")))?,
            Some(_) => return Err(invalid("`root` must be a string")),
        };
        let append_only = match map.get("appendOnly") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("`appendOnly` must be true or false")),
        };
        let settings = object(&map, "config")?;
        // Checked for shape only: this adapter uses no credential.
        object(&map, "secret")?;
        Ok(Config {
            root,
            append_only,
            settings,
        })
    }
}

fn object(map: &Map<String, Value>, key: &str) -> Result<Map<String, Value>, PluginError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(object)) => Ok(object.clone()),
        Some(_) => Err(invalid(&format!("`{key}` must be a JSON object"))),
    }
}

fn invalid(message: &str) -> PluginError {
    PluginError::InvalidConfig(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_the_host_sends() {
        let c = Config::parse(
            r#"{"root": "/store", "appendOnly": true, "config": {"a": 1}, "secret": {"k": "s"}}"#,
        )
        .unwrap();
        assert_eq!(c.root, "/store");
        assert!(c.append_only);
        assert_eq!(c.settings.get("a"), Some(&Value::from(1)));
    }

    #[test]
    fn defaults_and_refusals() {
        let c = Config::parse("").unwrap();
        assert_eq!((c.root.as_str(), c.append_only), ("/store", false));
        assert!(Config::parse(r#"{"rootDir": "/x"}"#).is_err());
        assert!(Config::parse(r#"{"appendOnly": "yes"}"#).is_err());
        let secret = Config::parse(r#"{"secret": "hunter2"}"#).unwrap_err();
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
