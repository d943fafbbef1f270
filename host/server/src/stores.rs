//! The registry of backup stores (`<state>/stores.json`): which stores exist,
//! which is the default, and where each keeps its objects.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::now_ms;
use crate::fsutil::write_atomic;
use crate::s3_store::S3Connection;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreRegistryError {
    #[error("backup store '{0}' does not exist")]
    NotFound(String),
    #[error("a backup store named '{0}' is already registered")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot save the store registry {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One registered store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreRecord {
    pub name: String,
    pub default: bool,
    /// `HOSTED` (a directory, through the `store-fs` adapter) or `S3`
    /// (a bucket, through the `store-s3` adapter).
    #[serde(rename = "type")]
    pub kind: String,
    /// Directory holding the objects of a `HOSTED` store; empty for `S3`.
    pub root: PathBuf,
    /// `storageConfig` as the client sent it, echoed back in store views.
    pub storage_config: Value,
    /// Bucket, endpoint and credentials of an `S3` store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Connection>,
    /// `settings.provider` of an `S3` store with its secret redacted.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub provider: Value,
    /// Random id shown as `identity`.
    pub identity: String,
    pub created: i64,
    /// `settings.appendOnly`: the medium refuses deletes and overwrites
    /// (object lock, append-only credentials), so drhost never deletes from
    /// it; deleted backups are tombstoned and their space is never freed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append_only: bool,
}

impl StoreRecord {
    /// The store object of spec §5.4.
    pub fn view(&self) -> Value {
        if let Some(s3) = &self.s3 {
            return json!({
                "name": self.name,
                "default": self.default,
                "type": self.kind,
                "provider": self.provider,
                "bucketName": s3.bucket,
                "region": s3.region,
                "endpoint": s3.endpoint,
                "rootDir": s3.prefix,
                "appendOnly": self.append_only,
                "identity": self.identity,
                "versionCreated": env!("CARGO_PKG_VERSION"),
                "created": self.created,
            });
        }
        json!({
            "name": self.name,
            "default": self.default,
            "type": self.kind,
            "storageConfig": self.storage_config,
            "identity": self.identity,
            "rootDir": self.root.display().to_string(),
            "appendOnly": self.append_only,
            "versionCreated": env!("CARGO_PKG_VERSION"),
            "created": self.created,
        })
    }
}

/// All stores, persisted on every change.
pub struct StoreRegistry {
    path: PathBuf,
    roots: Vec<PathBuf>,
    stores: Mutex<Vec<StoreRecord>>,
}

impl StoreRegistry {
    /// Loads the registry, creating the `default` store under the first store
    /// root when there is none at all.
    pub fn open(state_dir: &Path, roots: Vec<PathBuf>) -> Result<Self, StoreRegistryError> {
        let path = state_dir.join("stores.json");
        let stores = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreRegistryError::Invalid(format!(
                    "{} is not a store registry: {e}",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(StoreRegistryError::Io { path, source }),
        };
        let registry = Self {
            path,
            roots,
            stores: Mutex::new(stores),
        };
        if registry.list().is_empty() {
            registry.register("default", &json!({"type": "HOSTED"}), true)?;
        }
        Ok(registry)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<StoreRecord>> {
        self.stores.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn list(&self) -> Vec<StoreRecord> {
        self.lock().clone()
    }

    pub fn get(&self, name: &str) -> Result<StoreRecord, StoreRegistryError> {
        self.lock()
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| StoreRegistryError::NotFound(name.to_string()))
    }

    /// Registers a store from the `settings` JSON of `stores/register`.
    pub fn register(
        &self,
        name: &str,
        settings: &Value,
        is_default: bool,
    ) -> Result<StoreRecord, StoreRegistryError> {
        validate_store_name(name)?;
        let kind = settings
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("HOSTED")
            .to_ascii_uppercase();
        let storage_config = settings.get("storageConfig").cloned().unwrap_or(json!({}));
        let append_only = match settings.get("appendOnly").map(parse_bool) {
            None => false,
            Some(Some(b)) => b,
            Some(None) => {
                return Err(StoreRegistryError::Invalid(
                    "settings.appendOnly must be true or false".into(),
                ));
            }
        };
        let (root, s3) = match kind.as_str() {
            "HOSTED" => (self.root_for(name, settings, &storage_config)?, None),
            "S3" => (
                PathBuf::new(),
                Some(S3Connection::from_settings(settings).map_err(StoreRegistryError::Invalid)?),
            ),
            _ => {
                return Err(StoreRegistryError::Invalid(format!(
                    "backup store type '{kind}' is not supported by this host (supported: HOSTED, S3)"
                )));
            }
        };
        let mut stores = self.lock();
        if stores.iter().any(|s| s.name == name) {
            return Err(StoreRegistryError::Exists(name.to_string()));
        }
        if let Some(s3) = &s3
            && let Some((other, theirs)) = stores.iter().find_map(|s| {
                s.s3.as_ref()
                    .filter(|theirs| theirs.overlaps(s3))
                    .map(|theirs| (&s.name, theirs))
            })
        {
            return Err(StoreRegistryError::Invalid(format!(
                "bucket {} (rootDir '{}') at {} overlaps backup store '{other}' (rootDir '{}'): \
                 stores must not share objects, or garbage collection in one could delete the \
                 other's",
                s3.bucket, s3.prefix, s3.endpoint, theirs.prefix
            )));
        }
        if s3.is_none() {
            if stores.iter().any(|s| s.root == root) {
                return Err(StoreRegistryError::Invalid(format!(
                    "directory {} is already used by another store",
                    root.display()
                )));
            }
            std::fs::create_dir_all(&root).map_err(|source| StoreRegistryError::Io {
                path: root.clone(),
                source,
            })?;
        }
        let provider = match &s3 {
            Some(_) => S3Connection::redacted_provider(settings),
            None => Value::Null,
        };
        let make_default = is_default || stores.is_empty();
        if make_default {
            stores.iter_mut().for_each(|s| s.default = false);
        }
        let record = StoreRecord {
            name: name.to_string(),
            default: make_default,
            kind,
            root,
            storage_config,
            s3,
            provider,
            identity: random_identity(),
            created: now_ms(),
            append_only,
        };
        stores.push(record.clone());
        self.save(&stores)?;
        Ok(record)
    }

    /// Applies `{"default": true}` (the only documented update).
    pub fn update(&self, name: &str, settings: &Value) -> Result<(), StoreRegistryError> {
        let mut stores = self.lock();
        if !stores.iter().any(|s| s.name == name) {
            return Err(StoreRegistryError::NotFound(name.to_string()));
        }
        match settings.get("default").map(parse_bool) {
            Some(Some(true)) => stores.iter_mut().for_each(|s| s.default = s.name == name),
            Some(Some(false)) => {
                return Err(StoreRegistryError::Invalid(
                    "a store stops being the default when another store is made the default".into(),
                ));
            }
            Some(None) => {
                return Err(StoreRegistryError::Invalid(
                    "settings.default must be true or false".into(),
                ));
            }
            None => {}
        }
        self.save(&stores)
    }

    /// Forgets a store; its objects stay on disk (spec §5.8).
    pub fn unregister(&self, name: &str) -> Result<(), StoreRegistryError> {
        let mut stores = self.lock();
        let before = stores.len();
        let was_default = stores.iter().any(|s| s.name == name && s.default);
        stores.retain(|s| s.name != name);
        if stores.len() == before {
            return Err(StoreRegistryError::NotFound(name.to_string()));
        }
        if was_default && let Some(first) = stores.first_mut() {
            first.default = true;
        }
        self.save(&stores)
    }

    fn save(&self, stores: &[StoreRecord]) -> Result<(), StoreRegistryError> {
        let bytes = serde_json::to_vec_pretty(stores).map_err(|e| StoreRegistryError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&self.path, &bytes).map_err(|source| StoreRegistryError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// A store's directory: `rootDir` (or `storageConfig.path`) when given, which
    /// must lie under one of the configured store roots; else `<first root>/<name>`.
    fn root_for(
        &self,
        name: &str,
        settings: &Value,
        storage_config: &Value,
    ) -> Result<PathBuf, StoreRegistryError> {
        let requested = settings
            .get("rootDir")
            .or_else(|| storage_config.get("path"))
            .and_then(Value::as_str);
        let first_root = self
            .roots
            .first()
            .ok_or_else(|| StoreRegistryError::Invalid("no store_roots are configured".into()))?;
        let Some(requested) = requested else {
            return Ok(first_root.join(name));
        };
        let path = Path::new(requested);
        if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(StoreRegistryError::Invalid(format!(
                "rootDir '{requested}' must not contain '..'"
            )));
        }
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            first_root.join(path)
        };
        if !self
            .roots
            .iter()
            .any(|root| path.starts_with(root) && path != *root)
        {
            return Err(StoreRegistryError::Invalid(format!(
                "rootDir '{requested}' is outside the directories this host allows for stores"
            )));
        }
        Ok(path)
    }
}

/// Store names become directory names and URL segments.
pub fn validate_store_name(name: &str) -> Result<(), StoreRegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreRegistryError::Invalid(format!(
            "store name '{}' must be 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'",
            name.chars().take(80).collect::<String>()
        )))
    }
}

fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn random_identity() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(dir: &Path) -> StoreRegistry {
        StoreRegistry::open(dir, vec![dir.join("stores")]).expect("open")
    }

    #[test]
    fn a_default_store_exists_and_default_moves_on_update() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = registry(dir.path());
        assert!(reg.get("default").expect("default").default);
        reg.register("second", &json!({"type": "HOSTED"}), false)
            .expect("register");
        reg.update("second", &json!({"default": true}))
            .expect("update");
        assert!(!reg.get("default").expect("default").default);
        assert!(reg.get("second").expect("second").default);
        // Persisted.
        let again = registry(dir.path());
        assert!(again.get("second").expect("second").default);
    }

    #[test]
    fn bad_names_types_and_paths_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = registry(dir.path());
        for name in ["", "../x", "a/b", "a\0b", &"x".repeat(65)] {
            assert!(reg.register(name, &json!({}), false).is_err(), "{name:?}");
        }
        assert!(reg.register("s3", &json!({"type": "S3"}), false).is_err());
        assert!(
            reg.register("az", &json!({"type": "AZURE_BLOBSTORE"}), false)
                .is_err()
        );
        assert!(
            reg.register("out", &json!({"rootDir": "/etc"}), false)
                .is_err()
        );
        assert!(
            reg.register("up", &json!({"rootDir": "../../x"}), false)
                .is_err()
        );
        assert!(matches!(
            reg.register("default", &json!({}), false),
            Err(StoreRegistryError::Exists(_))
        ));
    }

    #[test]
    fn unregistering_the_default_promotes_another() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = registry(dir.path());
        reg.register("b", &json!({}), false).expect("register");
        reg.unregister("default").expect("unregister");
        assert!(reg.get("b").expect("b").default);
        assert!(matches!(
            reg.unregister("default"),
            Err(StoreRegistryError::NotFound(_))
        ));
    }
}
