//! The store adapters in effect (the `[[adapter]]` entries and the built-in
//! `store-fs` and `store-s3`, loaded the same way) and what each may touch
//! for a given store.
//!
//! [`StoreAdapters::grants`] is the one place a store's sandbox is decided:
//! the adapter runs with exactly what it returns, and `system/plugins` shows
//! exactly that, so the view cannot drift from what is enforced.

use std::sync::Arc;

use drhost_runtime::{
    AdapterStore, DirGrant, EndpointPolicy, Grants, PluginContext, PluginLimits, Runtime,
    StoreAdapter,
};
use serde_json::{Value, json};

use super::record::{StoreMedium, StoreRecord};
use crate::aws_credentials::CredentialCache;
use crate::azure_store::{
    ManagedIdentityTokens, TokenSource, managed_identity::ManagedIdentityCall,
};
use crate::config::AdapterConfig;
use crate::plugin_views;
use crate::plugins::component_bytes;
use crate::s3_store::IamRoleKeys;

/// Guest path at which a store adapter sees its store directory.
pub const STORE_GUEST_DIR: &str = "/store";

/// A compiled adapter and the digest of its component, for views.
pub struct LoadedAdapter {
    pub adapter: Arc<StoreAdapter>,
    /// `sha256:<hex>` of the component.
    pub digest: String,
}

/// One adapter entry: loaded, or disabled with the reason.
pub struct AdapterEntry {
    pub config: AdapterConfig,
    pub limits: PluginLimits,
    pub state: Result<LoadedAdapter, String>,
}

impl AdapterEntry {
    /// Loads the entry's component. A plugin that cannot be read, compiled
    /// or described disables this adapter (its stores answer with the
    /// reason); the host and its other stores go on.
    async fn load(runtime: &Runtime, config: AdapterConfig, limits: PluginLimits) -> Self {
        let state = match component_bytes(&config.plugin) {
            Err(e) => Err(e.to_string()),
            Ok(bytes) => runtime
                .load_adapter_limited(&config.name, &bytes, config.describe_limits())
                .await
                .map(|adapter| LoadedAdapter {
                    adapter,
                    digest: plugin_views::digest(&bytes),
                })
                .map_err(|e| e.to_string()),
        };
        if let Err(reason) = &state {
            tracing::error!(
                adapter = %config.name,
                store_type = %config.store_type,
                %reason,
                "store adapter disabled: its stores cannot be used until it loads"
            );
        }
        AdapterEntry {
            config,
            limits,
            state,
        }
    }
}

/// Why a store cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum AdapterUnavailable {
    #[error(
        "backup store '{store}' has type {store_type}, which no store adapter of this host \
         serves any more (its [[adapter]] entry is missing from the configuration)"
    )]
    NoAdapter { store: String, store_type: String },
    #[error(
        "backup store '{store}' is served by store adapter '{adapter}', which is disabled: {reason}"
    )]
    Disabled {
        store: String,
        adapter: String,
        reason: String,
    },
}

/// Every adapter, and what they need to open a store.
pub struct StoreAdapters {
    entries: Vec<AdapterEntry>,
    /// Where network store endpoints may lead (`store_endpoints`).
    endpoint_policy: Arc<EndpointPolicy>,
    /// The host's AWS credentials, for IAM-ROLE S3 stores (looked up on
    /// first use, kept in memory only).
    aws_credentials: Arc<CredentialCache>,
    /// The host's Azure managed-identity tokens, for USER-ASSIGNED-IDENTITY stores.
    azure_tokens: Arc<ManagedIdentityTokens>,
}

impl StoreAdapters {
    pub async fn load(
        runtime: &Runtime,
        adapters: Vec<(AdapterConfig, PluginLimits)>,
        endpoint_policy: Arc<EndpointPolicy>,
    ) -> Self {
        let mut entries = Vec::with_capacity(adapters.len());
        for (config, limits) in adapters {
            entries.push(AdapterEntry::load(runtime, config, limits).await);
        }
        StoreAdapters {
            entries,
            endpoint_policy,
            aws_credentials: Arc::new(CredentialCache::from_environment()),
            azure_tokens: Arc::new(ManagedIdentityTokens::new(TokenSource::from_environment())),
        }
    }

    pub fn entries(&self) -> &[AdapterEntry] {
        &self.entries
    }

    /// The entry serving `store_type`.
    pub fn serving(&self, store_type: &str) -> Option<&AdapterEntry> {
        self.entries
            .iter()
            .find(|entry| entry.config.store_type == store_type)
    }

    pub fn endpoint_policy(&self) -> &EndpointPolicy {
        &self.endpoint_policy
    }

    /// What the adapter of `record` may touch while serving it.
    pub fn grants(&self, record: &StoreRecord) -> Grants {
        match (&record.medium, record.endpoint()) {
            (StoreMedium::Hosted { root }, _) => Grants {
                dirs: vec![DirGrant {
                    host: root.clone(),
                    guest: STORE_GUEST_DIR.into(),
                    writable: true,
                }],
                ..Grants::default()
            },
            (_, Some((_, authority))) => Grants {
                http_connect: vec![authority],
                http_addresses: Some(self.endpoint_policy.clone()),
                ..Grants::default()
            },
            (_, None) => Grants::default(),
        }
    }

    /// The object store of `record`, served by its adapter.
    pub fn open(&self, record: &StoreRecord) -> Result<AdapterStore, AdapterUnavailable> {
        let entry = self
            .serving(record.kind())
            .ok_or_else(|| AdapterUnavailable::NoAdapter {
                store: record.name.clone(),
                store_type: record.kind().to_string(),
            })?;
        let loaded = entry
            .state
            .as_ref()
            .map_err(|reason| AdapterUnavailable::Disabled {
                store: record.name.clone(),
                adapter: entry.config.name.clone(),
                reason: reason.clone(),
            })?;
        let context = |config_json: String, secrets: Vec<String>| PluginContext {
            config_json,
            grants: self.grants(record),
            limits: entry.limits.clone(),
            secrets,
        };
        let adapter = loaded.adapter.clone();
        let store = match &record.medium {
            StoreMedium::S3 { connection, .. } => match connection.static_keys() {
                Some((access_key, secret_key)) => AdapterStore::new(
                    adapter,
                    context(
                        connection.adapter_config(access_key, secret_key, None),
                        vec![secret_key.to_string()],
                    ),
                ),
                // The configuration, keys included, is made for each call.
                None => AdapterStore::new(adapter, context(String::new(), Vec::new()))
                    .with_call_credentials(Arc::new(IamRoleKeys::new(
                        connection.clone(),
                        self.aws_credentials.clone(),
                    ))),
            },
            StoreMedium::Azure { connection, .. } => match connection.static_secret() {
                Some(secret) => AdapterStore::new(
                    adapter,
                    context(
                        connection.adapter_config(record.append_only, None),
                        vec![secret.to_string()],
                    ),
                ),
                None => AdapterStore::new(adapter, context(String::new(), Vec::new()))
                    .with_call_credentials(Arc::new(ManagedIdentityCall {
                        connection: connection.clone(),
                        append_only: record.append_only,
                        tokens: self.azure_tokens.clone(),
                    })),
            },
            StoreMedium::Hosted { .. } | StoreMedium::Endpoint { .. } => {
                let (config, secrets) = plain_config(record);
                AdapterStore::new(adapter, context(config, secrets))
            }
        };
        Ok(store.with_append_only(record.append_only))
    }
}

/// The configuration of a directory or endpoint store (adapter-contract in
/// `docs/plugin-kit.md`): where it is, `appendOnly`, and for a configured
/// type the registered `config` and `secret`, whose strings are scrubbed.
fn plain_config(record: &StoreRecord) -> (String, Vec<String>) {
    let mut config = json!({"appendOnly": record.append_only});
    match &record.medium {
        StoreMedium::Hosted { .. } => config["root"] = json!(STORE_GUEST_DIR),
        StoreMedium::Endpoint { url } => config["endpoint"] = json!(url),
        StoreMedium::S3 { .. } | StoreMedium::Azure { .. } => {}
    }
    let settings = &record.adapter_settings;
    if !settings.config.is_null() {
        config["config"] = settings.config.clone();
    }
    let mut secrets = Vec::new();
    if !settings.secret.is_null() {
        config["secret"] = settings.secret.clone();
        collect_strings(&settings.secret, &mut secrets);
    }
    (config.to_string(), secrets)
}

fn collect_strings(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(s) if !s.is_empty() => into.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, into)),
        Value::Object(fields) => fields.values().for_each(|v| collect_strings(v, into)),
        _ => {}
    }
}
