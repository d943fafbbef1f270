//! The two store adapters (`store-fs` for directories, `store-s3` for
//! buckets) and what each may touch for a given store.
//!
//! [`StoreAdapters::grants`] is the one place a store's sandbox is decided:
//! the adapter runs with exactly what it returns, and `system/plugins` shows
//! exactly that, so the view cannot drift from what is enforced.

use std::sync::Arc;

use drhost_runtime::{
    AdapterStore, DirGrant, EndpointPolicy, Grants, PluginContext, PluginLimits, Runtime,
    StoreAdapter,
};
use serde_json::json;

use super::record::{StoreMedium, StoreRecord};
use crate::aws_credentials::CredentialCache;
use crate::plugin_views;
use crate::plugins::component_bytes;
use crate::s3_store::IamRoleKeys;

/// Guest path at which a store adapter sees its store directory.
pub const STORE_GUEST_DIR: &str = "/store";

/// Which adapter serves a medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    /// `store-fs`, for `HOSTED` stores (directories).
    Fs,
    /// `store-s3`, for `S3` stores (buckets, over `wasi:http`).
    S3,
}

impl AdapterKind {
    pub const ALL: [AdapterKind; 2] = [AdapterKind::Fs, AdapterKind::S3];

    pub fn of(medium: &StoreMedium) -> Self {
        match medium {
            StoreMedium::Hosted { .. } => AdapterKind::Fs,
            StoreMedium::S3 { .. } => AdapterKind::S3,
        }
    }

    fn component(self) -> &'static str {
        match self {
            AdapterKind::Fs => "store-fs",
            AdapterKind::S3 => "store-s3",
        }
    }
}

/// A compiled adapter and the digest of its component, for views.
pub struct LoadedAdapter {
    pub adapter: Arc<StoreAdapter>,
    /// `sha256:<hex>` of the component.
    pub digest: String,
}

impl LoadedAdapter {
    async fn load(runtime: &Runtime, kind: AdapterKind) -> anyhow::Result<Self> {
        let bytes = component_bytes(kind.component())?;
        Ok(LoadedAdapter {
            adapter: runtime.load_adapter(kind.component(), &bytes).await?,
            digest: plugin_views::digest(&bytes),
        })
    }
}

/// Both adapters, and what they need to open a store.
pub struct StoreAdapters {
    fs: LoadedAdapter,
    s3: LoadedAdapter,
    /// Where S3 store endpoints may lead (`store_endpoints`).
    endpoint_policy: Arc<EndpointPolicy>,
    /// The host's AWS credentials, for IAM-ROLE S3 stores (looked up on
    /// first use, kept in memory only).
    aws_credentials: Arc<CredentialCache>,
    limits: PluginLimits,
}

impl StoreAdapters {
    pub async fn load(
        runtime: &Runtime,
        endpoint_policy: Arc<EndpointPolicy>,
        limits: PluginLimits,
    ) -> anyhow::Result<Self> {
        Ok(StoreAdapters {
            fs: LoadedAdapter::load(runtime, AdapterKind::Fs).await?,
            s3: LoadedAdapter::load(runtime, AdapterKind::S3).await?,
            endpoint_policy,
            aws_credentials: Arc::new(CredentialCache::from_environment()),
            limits,
        })
    }

    pub fn get(&self, kind: AdapterKind) -> &LoadedAdapter {
        match kind {
            AdapterKind::Fs => &self.fs,
            AdapterKind::S3 => &self.s3,
        }
    }

    pub fn endpoint_policy(&self) -> &EndpointPolicy {
        &self.endpoint_policy
    }

    /// What the adapter of `record` may touch while serving it.
    pub fn grants(&self, record: &StoreRecord) -> Grants {
        match &record.medium {
            StoreMedium::S3 { connection, .. } => Grants {
                http_connect: vec![connection.authority()],
                http_addresses: Some(self.endpoint_policy.clone()),
                ..Grants::default()
            },
            StoreMedium::Hosted { root } => Grants {
                dirs: vec![DirGrant {
                    host: root.clone(),
                    guest: STORE_GUEST_DIR.into(),
                    writable: true,
                }],
                ..Grants::default()
            },
        }
    }

    /// The object store of `record`, served by its adapter.
    pub fn open(&self, record: &StoreRecord) -> AdapterStore {
        let adapter = self.get(AdapterKind::of(&record.medium)).adapter.clone();
        let grants = self.grants(record);
        let limits = self.limits.clone();
        let store = match &record.medium {
            StoreMedium::S3 { connection, .. } => match connection.static_keys() {
                Some((access_key, secret_key)) => AdapterStore::new(
                    adapter,
                    PluginContext {
                        config_json: connection.adapter_config(access_key, secret_key, None),
                        grants,
                        limits,
                        secrets: vec![secret_key.to_string()],
                    },
                ),
                // The configuration, keys included, is made for each call.
                None => AdapterStore::new(
                    adapter,
                    PluginContext {
                        config_json: String::new(),
                        grants,
                        limits,
                        secrets: Vec::new(),
                    },
                )
                .with_call_credentials(Arc::new(IamRoleKeys::new(
                    connection.clone(),
                    self.aws_credentials.clone(),
                ))),
            },
            StoreMedium::Hosted { .. } => AdapterStore::new(
                adapter,
                PluginContext {
                    config_json: json!({"root": STORE_GUEST_DIR, "appendOnly": record.append_only})
                        .to_string(),
                    grants,
                    limits,
                    secrets: Vec::new(),
                },
            ),
        };
        store.with_append_only(record.append_only)
    }
}
