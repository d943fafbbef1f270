//! Backup stores: which exist ([`registry`]), what each is ([`record`]), the
//! adapters that serve them ([`adapters`]), and [`Stores`], the one owner of
//! all three plus the repositories opened on them.

pub mod adapters;
pub mod placement;
mod record;
mod registry;
mod view;

pub use adapters::{
    AdapterEntry, AdapterUnavailable, LoadedAdapter, STORE_GUEST_DIR, StoreAdapters,
};
pub use record::{AdapterSettings, StoreMedium, StoreRecord};
pub use registry::{
    Occupant, RequestedRoot, StoreRegistry, StoreRegistryError, StoreTypes, validate_store_name,
};
pub use view::REFERENCE_FIELDS;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use drhost_repo::{RepoError, Repository, RepositoryOptions, StoreError};
use drhost_runtime::{AdapterStore, EndpointPolicy, Grants};
use serde_json::Value;

use crate::anchors::FileAnchor;
use crate::config::AdapterConfig;

/// The store types `adapters` serve, each with its medium.
pub fn store_types(adapters: &[AdapterConfig]) -> StoreTypes {
    adapters
        .iter()
        .filter_map(|a| Some((a.store_type.clone(), a.medium()?)))
        .collect()
}

/// The connection of the first cloud service of a cloud store's `settings`
/// (`provider.cloudServices[0].connection`, spec §9), with the keys of the
/// provider, the service and the connection checked against the
/// reference's shape and `connection_keys`. `needs` names what a
/// connection holds, for the message when there is none.
pub fn cloud_connection<'a>(
    settings: &'a Value,
    store_type: &str,
    needs: &str,
    connection_keys: &[&str],
) -> Result<&'a Value, String> {
    let connection = settings
        .pointer("/provider/cloudServices/0/connection")
        .ok_or_else(|| {
            format!(
                "{store_type} store settings need provider.cloudServices[0].connection ({needs})"
            )
        })?;
    refuse_unknown_keys(
        "settings.provider",
        &settings["provider"],
        &["id", "name", "credential", "cloudServices"],
    )?;
    refuse_unknown_keys(
        "settings.provider.cloudServices[0]",
        &settings["provider"]["cloudServices"][0],
        &[
            "id",
            "providerId",
            "name",
            "type",
            "usage",
            "category",
            "connection",
        ],
    )?;
    refuse_unknown_keys(
        "settings.provider.cloudServices[0].connection",
        connection,
        connection_keys,
    )?;
    Ok(connection)
}

/// Refuses keys of the JSON object `value` not in `allowed`, rather than
/// silently dropping what a client meant (`{"type":"HOSTED","plugin":…}`).
pub fn refuse_unknown_keys(what: &str, value: &Value, allowed: &[&str]) -> Result<(), String> {
    let Some(fields) = value.as_object() else {
        return Err(format!("{what} must be a JSON object"));
    };
    match fields.keys().find(|key| !allowed.contains(&key.as_str())) {
        None => Ok(()),
        Some(key) => Err(format!(
            "{what}: unknown key '{}' (allowed: {})",
            key.chars().take(64).collect::<String>(),
            allowed.join(", ")
        )),
    }
}

/// A store's endpoint URL named `field`: an absolute http(s) URL of a host,
/// without credentials, query or fragment; trimmed, without a trailing `/`.
pub fn http_endpoint(field: &str, text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let url = url::Url::parse(text).map_err(|e| format!("{field} {text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!(
            "{field} {text:?} must be http(s)://host[:port][/path] without credentials, \
             query or fragment"
        ));
    }
    Ok(text.to_string())
}

/// The stores of this host: the registry, the adapters serving each store,
/// and the repositories already opened (opening reads the store's config,
/// so it is done once per store).
pub struct Stores {
    registry: StoreRegistry,
    adapters: StoreAdapters,
    repos: tokio::sync::Mutex<HashMap<String, Repository>>,
    /// The host's state directory, where repository anchors live.
    state_dir: PathBuf,
}

impl Stores {
    pub fn new(registry: StoreRegistry, adapters: StoreAdapters, state_dir: PathBuf) -> Self {
        Stores {
            registry,
            adapters,
            repos: tokio::sync::Mutex::new(HashMap::new()),
            state_dir,
        }
    }

    pub fn get(&self, name: &str) -> Result<StoreRecord, StoreRegistryError> {
        self.registry.get(name)
    }

    pub fn list(&self) -> Vec<StoreRecord> {
        self.registry.list()
    }

    pub fn register(
        &self,
        name: &str,
        settings: &Value,
        is_default: bool,
    ) -> Result<StoreRecord, StoreRegistryError> {
        self.registry.register(name, settings, is_default)
    }

    pub fn update(&self, name: &str, settings: &Value) -> Result<(), StoreRegistryError> {
        self.registry.update(name, settings)
    }

    /// Forgets a store, and the repository opened on it.
    pub async fn unregister(&self, name: &str) -> Result<(), StoreRegistryError> {
        self.registry.unregister(name)?;
        self.repos.lock().await.remove(name);
        Ok(())
    }

    /// Takes back a registration the host refused after the fact (its
    /// endpoint or adapter failed the checks); no repository was opened on it.
    pub fn withdraw(&self, name: &str) {
        if let Err(e) = self.registry.unregister(name) {
            tracing::warn!(store = name, error = %e, "could not withdraw a refused store");
        }
    }

    /// Where S3 store endpoints may lead (`store_endpoints`).
    pub fn endpoint_policy(&self) -> &EndpointPolicy {
        self.adapters.endpoint_policy()
    }

    /// The object store of `record`, through its adapter.
    pub fn open_adapter(&self, record: &StoreRecord) -> Result<AdapterStore, AdapterUnavailable> {
        self.adapters.open(record)
    }

    /// Each adapter with the grants it has over every registered store it
    /// serves: what `system/plugins` shows.
    pub fn adapter_grants(&self) -> Vec<(&AdapterEntry, Vec<Grants>)> {
        let stores = self.registry.list();
        self.adapters
            .entries()
            .iter()
            .map(|entry| {
                let grants = stores
                    .iter()
                    .filter(|store| store.kind() == entry.config.store_type)
                    .map(|store| self.adapters.grants(store))
                    .collect();
                (entry, grants)
            })
            .collect()
    }

    /// The repository of `record`, opened on first use with its dedup index
    /// cached in `index_cache`.
    pub async fn repository(
        &self,
        record: &StoreRecord,
        index_cache: PathBuf,
    ) -> Result<Repository, RepoError> {
        let mut repos = self.repos.lock().await;
        if let Some(repo) = repos.get(&record.name) {
            return Ok(repo.clone());
        }
        let options = RepositoryOptions {
            index_cache: Some(index_cache),
            anchor: Some(Arc::new(FileAnchor::new(&self.state_dir, &record.identity))),
            ..RepositoryOptions::default()
        };
        let store = self
            .adapters
            .open(record)
            .map_err(|e| RepoError::Store(StoreError::Adapter(e.to_string())))?;
        let repo = Repository::open_with(Arc::new(store), options).await?;
        repos.insert(record.name.clone(), repo.clone());
        Ok(repo)
    }
}
