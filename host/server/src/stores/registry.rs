//! The registry of backup stores (`<state>/stores.json`): which stores exist,
//! which is the default, and where each keeps its objects.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use super::placement::{self, Relation, relation, strictly_inside};
use super::record::{AdapterSettings, StoreMedium, StoreRecord};
use super::refuse_unknown_keys;
use crate::azure_store::AzureConnection;
use crate::clock::now_ms;
use crate::config::{AZURE_BLOBSTORE, AdapterMedium, HOSTED, S3};
use crate::fsutil::write_atomic;
use crate::s3_store::S3Connection;
use crate::storage_config::check_volume_config;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreRegistryError {
    #[error("backup store '{0}' does not exist")]
    NotFound(String),
    #[error("a backup store named '{0}' is already registered")]
    Exists(String),
    /// Names are compared without regard to case: they become directory
    /// names, which some filesystems compare that way.
    #[error(
        "backup store name '{requested}' differs only in case from the registered store \
         '{existing}'; store names must differ in more than case"
    )]
    CaseClash { requested: String, existing: String },
    /// `{"default": false}` on the only store: there must be a default.
    #[error(
        "backup store '{0}' is the only store, so it stays the default: register another store \
         (or make another one the default) first"
    )]
    LastDefault(String),
    #[error("{0}")]
    Invalid(String),
    /// The directory lies outside every configured store root.
    #[error("{0} is outside the directories this host allows for stores")]
    OutsideStoreRoots(RequestedRoot),
    /// The directory overlaps another store's, a store root or the host's
    /// state: deletes in one could then remove the other's files.
    #[error(
        "{requested} {relation} {occupant} ({occupied}): a store's directory must not overlap \
         another store's, a store root or the host's state directory, or garbage collection \
         in one could delete the other's files"
    )]
    Overlaps {
        requested: RequestedRoot,
        relation: Relation,
        occupant: Occupant,
        occupied: PathBuf,
    },
    /// The requested directory's symlinks could not be resolved.
    #[error("cannot resolve rootDir '{requested}': {source}")]
    Unresolvable {
        requested: String,
        source: std::io::Error,
    },
    /// A store directory or a configured directory could not be created or
    /// resolved.
    #[error("cannot use the directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot save the store registry {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A store directory as the request wrote it and as it resolves, for messages.
#[derive(Debug, Clone)]
pub struct RequestedRoot {
    pub written: String,
    pub resolved: PathBuf,
}

impl fmt::Display for RequestedRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if Path::new(&self.written) == self.resolved {
            write!(f, "rootDir '{}'", self.written)
        } else {
            write!(
                f,
                "rootDir '{}' (which resolves to {})",
                self.written,
                self.resolved.display()
            )
        }
    }
}

/// What a store directory must stay clear of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Occupant {
    Store(String),
    StoreRoot,
    StateDir,
}

impl fmt::Display for Occupant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Occupant::Store(name) => write!(f, "the directory of backup store '{name}'"),
            Occupant::StoreRoot => f.write_str("the store root"),
            Occupant::StateDir => f.write_str("the host's state directory"),
        }
    }
}

/// Where a store being registered asks to keep its objects, before the
/// registry has checked and created it.
enum Requested {
    /// `rootDir` as written, for messages, and the path it names.
    Directory {
        written: String,
        path: PathBuf,
    },
    Bucket(S3Connection),
    Container(AzureConnection),
    Endpoint(String),
}

/// All stores, persisted on every change.
pub struct StoreRegistry {
    path: PathBuf,
    state_dir: PathBuf,
    roots: Vec<PathBuf>,
    /// The store types this host's adapters serve, and what each grants.
    types: StoreTypes,
    stores: Mutex<Vec<StoreRecord>>,
}

/// The store types the host's adapters serve, each with its medium.
pub type StoreTypes = std::collections::BTreeMap<String, AdapterMedium>;

impl StoreRegistry {
    /// Loads the registry, creating the `default` store under the first store
    /// root when there is none at all.
    pub fn open(
        state_dir: &Path,
        roots: Vec<PathBuf>,
        types: StoreTypes,
    ) -> Result<Self, StoreRegistryError> {
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
        warn_of_overlaps(&stores);
        let registry = Self {
            path,
            state_dir: state_dir.to_path_buf(),
            roots,
            types,
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
        let mut storage_config = settings.get("storageConfig").cloned().unwrap_or(json!({}));
        check_volume_config("settings.storageConfig", &mut storage_config)
            .map_err(StoreRegistryError::Invalid)?;
        let append_only = match settings.get("appendOnly").map(parse_bool) {
            None => false,
            Some(Some(b)) => b,
            Some(None) => {
                return Err(StoreRegistryError::Invalid(
                    "settings.appendOnly must be true or false".into(),
                ));
            }
        };
        let Some(&medium) = self.types.get(&kind) else {
            return Err(StoreRegistryError::Invalid(format!(
                "backup store type '{kind}' is not served by any store adapter of this host \
                 (served: {}; an operator adds others with [[adapter]] entries)",
                self.types.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        };
        refuse_unknown_keys("settings", settings, allowed_keys(&kind, medium))
            .map_err(StoreRegistryError::Invalid)?;
        let adapter_settings = adapter_settings(settings)?;
        let requested = match (kind.as_str(), medium) {
            (S3, _) => Requested::Bucket(
                S3Connection::from_settings(settings).map_err(StoreRegistryError::Invalid)?,
            ),
            (AZURE_BLOBSTORE, _) => Requested::Container(
                AzureConnection::from_settings(settings).map_err(StoreRegistryError::Invalid)?,
            ),
            (_, AdapterMedium::Directory) => {
                let (written, path) = self.root_for(name, settings, &storage_config)?;
                Requested::Directory { written, path }
            }
            (_, AdapterMedium::Http) => {
                Requested::Endpoint(endpoint_of(settings).map_err(StoreRegistryError::Invalid)?)
            }
        };
        let mut stores = self.lock();
        if let Some(existing) = stores.iter().find(|s| s.name.eq_ignore_ascii_case(name)) {
            return Err(if existing.name == name {
                StoreRegistryError::Exists(name.to_string())
            } else {
                StoreRegistryError::CaseClash {
                    requested: name.to_string(),
                    existing: existing.name.clone(),
                }
            });
        }
        let overlap = match &requested {
            Requested::Bucket(s3) => stores.iter().find_map(|s| {
                let theirs = s.s3().filter(|theirs| theirs.overlaps(s3))?;
                Some(format!(
                    "bucket {} (rootDir '{}') at {} overlaps backup store '{}' (rootDir '{}')",
                    s3.bucket, s3.prefix, s3.endpoint, s.name, theirs.prefix
                ))
            }),
            Requested::Container(azure) => stores.iter().find_map(|s| {
                let theirs = s.azure().filter(|theirs| theirs.overlaps(azure))?;
                Some(format!(
                    "container {} (rootDir '{}') of storage account {} overlaps backup store \
                     '{}' (rootDir '{}')",
                    azure.container, azure.prefix, azure.account, s.name, theirs.prefix
                ))
            }),
            Requested::Directory { .. } | Requested::Endpoint(_) => None,
        };
        if let Some(overlap) = overlap {
            return Err(StoreRegistryError::Invalid(format!(
                "{overlap}: stores must not share objects, or garbage collection in one could \
                 delete the other's"
            )));
        }
        let medium = match requested {
            Requested::Directory { written, path } => StoreMedium::Hosted {
                root: self.create_root(&written, &path, &stores)?,
            },
            Requested::Bucket(connection) => StoreMedium::S3 {
                connection,
                provider: S3Connection::redacted_provider(settings),
            },
            Requested::Container(connection) => StoreMedium::Azure {
                connection,
                provider: S3Connection::redacted_provider(settings),
            },
            Requested::Endpoint(url) => StoreMedium::Endpoint { url },
        };
        let make_default = is_default || stores.is_empty();
        if make_default {
            stores.iter_mut().for_each(|s| s.default = false);
        }
        let record = StoreRecord {
            name: name.to_string(),
            default: make_default,
            store_type: kind,
            medium,
            adapter_settings,
            storage_config,
            identity: random_identity(),
            created: now_ms(),
            append_only,
        };
        stores.push(record.clone());
        self.save(&stores)?;
        Ok(record)
    }

    /// Applies `{"default": true|false}`, the only documented update.
    /// `supportBDSBackup`, which Esri's CLI sends, is accepted and ignored;
    /// any other key is refused.
    /// A default store that stops being the default hands that to the
    /// first other store, as unregistering it would: there is always one.
    pub fn update(&self, name: &str, settings: &Value) -> Result<(), StoreRegistryError> {
        refuse_unknown_keys("settings", settings, &["default", "supportBDSBackup"])
            .map_err(StoreRegistryError::Invalid)?;
        let mut stores = self.lock();
        let Some(store) = stores.iter().find(|s| s.name == name) else {
            return Err(StoreRegistryError::NotFound(name.to_string()));
        };
        match settings.get("default").map(parse_bool) {
            Some(Some(true)) => stores.iter_mut().for_each(|s| s.default = s.name == name),
            Some(Some(false)) if !store.default => {}
            Some(Some(false)) => {
                let Some(next) = stores.iter_mut().find(|s| s.name != name) else {
                    return Err(StoreRegistryError::LastDefault(name.to_string()));
                };
                next.default = true;
                tracing::info!(store = %next.name, "backup store '{name}' is no longer the default");
                stores
                    .iter_mut()
                    .filter(|s| s.name == name)
                    .for_each(|s| s.default = false);
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

    /// A store's directory as requested, and as written for messages:
    /// `rootDir` (or `storageConfig.path`) when given, relative to the first
    /// store root unless absolute; else `<first root>/<name>`. Where it may
    /// lie is checked by [`Self::place`].
    fn root_for(
        &self,
        name: &str,
        settings: &Value,
        storage_config: &Value,
    ) -> Result<(String, PathBuf), StoreRegistryError> {
        let requested = settings
            .get("rootDir")
            .or_else(|| storage_config.get("path"))
            .and_then(Value::as_str);
        let first_root = self
            .roots
            .first()
            .ok_or_else(|| StoreRegistryError::Invalid("no store_roots are configured".into()))?;
        let Some(requested) = requested else {
            let path = first_root.join(name);
            return Ok((path.display().to_string(), path));
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
        Ok((requested.to_string(), path))
    }

    /// Checks where a new store's directory may lie, next to the registered
    /// `stores`, then creates it. Returns the directory with its symlinks
    /// resolved, which the store keeps, so that a link changed later cannot
    /// move it onto another store.
    fn create_root(
        &self,
        written: &str,
        path: &Path,
        stores: &[StoreRecord],
    ) -> Result<PathBuf, StoreRegistryError> {
        let root = self.place(written, path, stores)?;
        std::fs::create_dir_all(&root).map_err(|source| StoreRegistryError::Directory {
            path: root.clone(),
            source,
        })?;
        // A symlink planted between the check and the creation would have
        // been followed: judge the directory by where it really is.
        let created =
            placement::resolve(&root).map_err(|source| StoreRegistryError::Directory {
                path: root.clone(),
                source,
            })?;
        if created != root {
            return Err(StoreRegistryError::Invalid(format!(
                "rootDir '{written}' changed while the store was being registered: it now \
                 resolves to {}",
                created.display()
            )));
        }
        Ok(root)
    }

    /// Where `path` (the request's `written` directory) resolves, if a new
    /// store may keep its objects there: strictly inside a store root, and
    /// clear of every other store's directory, of the store roots themselves,
    /// and of the host's state directory except for store roots inside it.
    fn place(
        &self,
        written: &str,
        path: &Path,
        stores: &[StoreRecord],
    ) -> Result<PathBuf, StoreRegistryError> {
        let resolved =
            placement::resolve(path).map_err(|source| StoreRegistryError::Unresolvable {
                requested: written.to_string(),
                source,
            })?;
        let requested = RequestedRoot {
            written: written.to_string(),
            resolved: resolved.clone(),
        };
        let roots = self.resolved_roots()?;
        if !roots.iter().any(|root| strictly_inside(&resolved, root)) {
            return Err(StoreRegistryError::OutsideStoreRoots(requested));
        }
        let overlap = |relation, occupant, occupied: &Path| StoreRegistryError::Overlaps {
            requested: requested.clone(),
            relation,
            occupant,
            occupied: occupied.to_path_buf(),
        };
        for (name, theirs) in hosted_roots(stores) {
            if let Some(rel) = relation(&resolved, &theirs) {
                return Err(overlap(rel, Occupant::Store(name.to_string()), &theirs));
            }
        }
        for root in &roots {
            if let Some(rel @ (Relation::Same | Relation::Contains)) = relation(&resolved, root) {
                return Err(overlap(rel, Occupant::StoreRoot, root));
            }
        }
        let state = self.resolved(&self.state_dir)?;
        match relation(&resolved, &state) {
            None => Ok(resolved),
            // Stores live in `<state>/stores` by default: a store root inside
            // the state directory is the one part of it stores may use.
            Some(Relation::Inside)
                if roots
                    .iter()
                    .any(|r| strictly_inside(r, &state) && strictly_inside(&resolved, r)) =>
            {
                Ok(resolved)
            }
            Some(rel) => Err(overlap(rel, Occupant::StateDir, &state)),
        }
    }

    fn resolved_roots(&self) -> Result<Vec<PathBuf>, StoreRegistryError> {
        self.roots.iter().map(|root| self.resolved(root)).collect()
    }

    /// A directory of the host's own configuration, resolved.
    fn resolved(&self, path: &Path) -> Result<PathBuf, StoreRegistryError> {
        placement::resolve(path).map_err(|source| StoreRegistryError::Directory {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The name and resolved directory of every `HOSTED` store. A directory that
/// cannot be resolved (e.g. unreadable) is compared as written, which still
/// catches a request that names it the same way.
fn hosted_roots(stores: &[StoreRecord]) -> impl Iterator<Item = (&str, PathBuf)> {
    stores
        .iter()
        .filter_map(|s| Some((s.name.as_str(), s.hosted_root()?)))
        .filter(|(_, root)| !root.as_os_str().is_empty())
        .map(|(name, root)| {
            let resolved = placement::resolve(root).unwrap_or_else(|_| root.to_path_buf());
            (name, resolved)
        })
}

/// Stores registered before overlaps were refused may still overlap: say so
/// at every start. Their garbage collection deletes only objects named as
/// its own, so neither loses data, but they should be moved apart.
fn warn_of_overlaps(stores: &[StoreRecord]) {
    let roots: Vec<(&str, PathBuf)> = hosted_roots(stores).collect();
    for (i, (name, root)) in roots.iter().enumerate() {
        for (other, theirs) in &roots[i + 1..] {
            if let Some(rel) = relation(root, theirs) {
                tracing::warn!(
                    "the directory of backup store '{name}' ({}) {rel} the directory of backup \
                     store '{other}' ({}); move one of them elsewhere",
                    root.display(),
                    theirs.display()
                );
            }
        }
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

/// The keys `settings` of `stores/register` may hold for a store type:
/// the reference's for its own types, and for a configured type its
/// directory or endpoint and the adapter's `config` and `secret`.
fn allowed_keys(kind: &str, medium: AdapterMedium) -> &'static [&'static str] {
    match (kind, medium) {
        (HOSTED, _) => &["type", "storageConfig", "rootDir", "appendOnly"],
        (S3 | AZURE_BLOBSTORE, _) => &["type", "storageConfig", "provider", "appendOnly"],
        (_, AdapterMedium::Directory) => &[
            "type",
            "storageConfig",
            "rootDir",
            "appendOnly",
            "config",
            "secret",
        ],
        (_, AdapterMedium::Http) => &[
            "type",
            "storageConfig",
            "endpoint",
            "appendOnly",
            "config",
            "secret",
        ],
    }
}

/// `settings.config` and `settings.secret` of a configured type: JSON
/// objects when given.
fn adapter_settings(settings: &Value) -> Result<AdapterSettings, StoreRegistryError> {
    let object = |key: &str| match settings.get(key) {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(value @ Value::Object(_)) => Ok(value.clone()),
        Some(_) => Err(StoreRegistryError::Invalid(format!(
            "settings.{key} must be a JSON object"
        ))),
    };
    Ok(AdapterSettings {
        config: object("config")?,
        secret: object("secret")?,
    })
}

/// `settings.endpoint` of an http-medium type: an absolute http(s) URL of
/// a host, without credentials, query or fragment.
fn endpoint_of(settings: &Value) -> Result<String, String> {
    let text = settings
        .get("endpoint")
        .and_then(Value::as_str)
        .map(|e| e.trim().trim_end_matches('/'))
        .filter(|e| !e.is_empty())
        .ok_or("settings.endpoint (the store's URL) is required for this store type")?;
    crate::stores::http_endpoint("settings.endpoint", text)
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
mod tests;
