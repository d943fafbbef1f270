//! One registered store, and its form in `stores.json`.
//!
//! In memory a store is a directory, a bucket, an Azure container or an
//! endpoint of a configured adapter ([`StoreMedium`]), so a hosted store
//! without a directory or a bucket without a connection cannot be built. On
//! disk it keeps the flat shape older hosts wrote (`type`, `root` empty for
//! network stores, optional `s3`), so registries load both ways.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::azure_store::AzureConnection;
use crate::config::{AZURE_BLOBSTORE, HOSTED, S3};
use crate::s3_store::S3Connection;

/// Where a store keeps its objects.
#[derive(Debug, Clone)]
pub enum StoreMedium {
    /// A directory (`HOSTED` through `store-fs`, or a configured type with
    /// a directory medium).
    Hosted { root: PathBuf },
    /// A bucket, through the `store-s3` adapter.
    S3 {
        connection: S3Connection,
        /// `settings.provider` with its secret redacted, echoed in views.
        provider: Value,
    },
    /// An Azure Blob container, through the adapter serving `AZURE_BLOBSTORE`.
    Azure {
        connection: AzureConnection,
        /// `settings.provider` with its secret redacted, echoed in views.
        provider: Value,
    },
    /// The endpoint of a configured adapter with an http medium.
    Endpoint { url: String },
}

/// What a store of a configured (non-reference) type hands its adapter
/// besides its directory or endpoint: `settings.config` and
/// `settings.secret` as registered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdapterSettings {
    pub config: Value,
    /// Masked in views; every string in it is scrubbed from the adapter's
    /// output.
    pub secret: Value,
}

/// One registered store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "StoredRecord", into = "StoredRecord")]
pub struct StoreRecord {
    pub name: String,
    pub default: bool,
    /// The `type` it was registered with, which selects its adapter.
    pub store_type: String,
    pub medium: StoreMedium,
    pub adapter_settings: AdapterSettings,
    /// `storageConfig` as the client sent it, echoed back in store views.
    pub storage_config: Value,
    /// Random id shown as `identity`.
    pub identity: String,
    pub created: i64,
    /// `settings.appendOnly`: the medium refuses deletes and overwrites
    /// (object lock, append-only credentials), so drhost never deletes from
    /// it; deleted backups are tombstoned and their space is never freed.
    pub append_only: bool,
}

impl StoreRecord {
    /// The store type as the API names it (`HOSTED`, `S3`,
    /// `AZURE_BLOBSTORE` or a configured adapter's type).
    pub fn kind(&self) -> &str {
        &self.store_type
    }

    /// The directory of a directory store.
    pub fn hosted_root(&self) -> Option<&Path> {
        match &self.medium {
            StoreMedium::Hosted { root } => Some(root),
            _ => None,
        }
    }

    /// The bucket of an S3 store.
    pub fn s3(&self) -> Option<&S3Connection> {
        match &self.medium {
            StoreMedium::S3 { connection, .. } => Some(connection),
            _ => None,
        }
    }

    /// The container of an Azure store.
    pub fn azure(&self) -> Option<&AzureConnection> {
        match &self.medium {
            StoreMedium::Azure { connection, .. } => Some(connection),
            _ => None,
        }
    }

    /// The redacted `settings.provider` of a cloud store; null otherwise.
    pub fn provider(&self) -> &Value {
        match &self.medium {
            StoreMedium::S3 { provider, .. } | StoreMedium::Azure { provider, .. } => provider,
            _ => &Value::Null,
        }
    }

    /// The endpoint URL and the one authority its adapter may reach, for a
    /// store reached over the network.
    pub fn endpoint(&self) -> Option<(&str, String)> {
        match &self.medium {
            StoreMedium::S3 { connection, .. } => {
                Some((connection.endpoint.as_str(), connection.authority()))
            }
            StoreMedium::Azure { connection, .. } => {
                Some((connection.endpoint.as_str(), connection.authority()))
            }
            StoreMedium::Endpoint { url } => Some((
                url.as_str(),
                drhost_runtime::normalize_authority(url, None).unwrap_or_default(),
            )),
            StoreMedium::Hosted { .. } => None,
        }
    }
}

/// A store as `stores.json` holds it (the shape hosts have always written,
/// with the later media as optional fields).
#[derive(Serialize, Deserialize)]
struct StoredRecord {
    name: String,
    default: bool,
    #[serde(rename = "type")]
    kind: String,
    /// Empty for network stores.
    root: PathBuf,
    storage_config: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s3: Option<S3Connection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    azure: Option<AzureConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    config: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    secret: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    provider: Value,
    identity: String,
    created: i64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    append_only: bool,
}

/// A stored store whose type and medium disagree.
#[derive(Debug, thiserror::Error)]
#[error("backup store '{name}' has type '{kind}' but {problem}")]
pub struct InconsistentRecord {
    name: String,
    kind: String,
    problem: &'static str,
}

impl TryFrom<StoredRecord> for StoreRecord {
    type Error = InconsistentRecord;

    fn try_from(stored: StoredRecord) -> Result<Self, Self::Error> {
        let inconsistent = |problem| InconsistentRecord {
            name: stored.name.clone(),
            kind: stored.kind.clone(),
            problem,
        };
        let kind = stored.kind.to_ascii_uppercase();
        let medium = match (kind.as_str(), stored.s3, stored.azure, stored.endpoint) {
            (S3, Some(connection), None, None) => StoreMedium::S3 {
                connection,
                provider: stored.provider,
            },
            (S3, ..) => return Err(inconsistent("no bucket connection")),
            (_, Some(_), ..) => return Err(inconsistent("a bucket connection")),
            (AZURE_BLOBSTORE, None, Some(connection), None) => StoreMedium::Azure {
                connection,
                provider: stored.provider,
            },
            (AZURE_BLOBSTORE, ..) => return Err(inconsistent("no container connection")),
            (_, _, Some(_), _) => return Err(inconsistent("a container connection")),
            (HOSTED, _, _, Some(_)) => return Err(inconsistent("an endpoint")),
            (_, _, _, Some(url)) => StoreMedium::Endpoint { url },
            (_, _, _, None) if stored.root.as_os_str().is_empty() => {
                return Err(inconsistent("neither a directory nor an endpoint"));
            }
            (_, _, _, None) => StoreMedium::Hosted { root: stored.root },
        };
        Ok(StoreRecord {
            name: stored.name,
            default: stored.default,
            store_type: kind,
            medium,
            adapter_settings: AdapterSettings {
                config: stored.config,
                secret: stored.secret,
            },
            storage_config: stored.storage_config,
            identity: stored.identity,
            created: stored.created,
            append_only: stored.append_only,
        })
    }
}

impl From<StoreRecord> for StoredRecord {
    fn from(record: StoreRecord) -> Self {
        let (mut root, mut s3, mut azure, mut endpoint, mut provider) =
            (PathBuf::new(), None, None, None, Value::Null);
        match record.medium {
            StoreMedium::Hosted { root: dir } => root = dir,
            StoreMedium::S3 {
                connection,
                provider: shown,
            } => (s3, provider) = (Some(connection), shown),
            StoreMedium::Azure {
                connection,
                provider: shown,
            } => (azure, provider) = (Some(connection), shown),
            StoreMedium::Endpoint { url } => endpoint = Some(url),
        }
        StoredRecord {
            name: record.name,
            default: record.default,
            kind: record.store_type,
            root,
            storage_config: record.storage_config,
            s3,
            azure,
            endpoint,
            config: record.adapter_settings.config,
            secret: record.adapter_settings.secret,
            provider,
            identity: record.identity,
            created: record.created,
            append_only: record.append_only,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTED_JSON: &str = r#"{"name":"default","default":true,"type":"HOSTED",
        "root":"/srv/stores/default","storage_config":{},"identity":"abc","created":1}"#;
    const S3_JSON: &str = r#"{"name":"b","default":false,"type":"S3","root":"",
        "storage_config":{},"s3":{"endpoint":"https://s3.eu-west-1.amazonaws.com",
        "region":"eu-west-1","bucket":"bkt","prefix":"dr","path_style":false,
        "access_key":"AK","secret_key":"SK"},"provider":{"name":"AWS"},
        "identity":"def","created":2,"append_only":true}"#;

    #[test]
    fn records_written_by_older_hosts_load_and_are_written_back_alike() {
        for text in [HOSTED_JSON, S3_JSON] {
            let before: Value = serde_json::from_str(text).expect("json");
            let record: StoreRecord = serde_json::from_str(text).expect("record");
            let after = serde_json::to_value(&record).expect("serialize");
            assert_eq!(before, after);
        }
        let hosted: StoreRecord = serde_json::from_str(HOSTED_JSON).expect("hosted");
        assert_eq!(hosted.kind(), "HOSTED");
        assert_eq!(hosted.hosted_root(), Some(Path::new("/srv/stores/default")));
        assert!(hosted.s3().is_none() && hosted.provider().is_null());
        let bucket: StoreRecord = serde_json::from_str(S3_JSON).expect("s3");
        assert_eq!(bucket.kind(), "S3");
        assert_eq!(bucket.s3().map(|s3| s3.bucket.as_str()), Some("bkt"));
        assert!(bucket.hosted_root().is_none() && bucket.append_only);
    }

    #[test]
    fn a_type_that_contradicts_the_medium_is_refused() {
        let s3_without_bucket = HOSTED_JSON.replace(r#""type":"HOSTED""#, r#""type":"S3""#);
        let err = serde_json::from_str::<StoreRecord>(&s3_without_bucket).expect_err("no bucket");
        assert!(err.to_string().contains("no bucket connection"), "{err}");
        let hosted_with_bucket = S3_JSON.replace(r#""type":"S3""#, r#""type":"HOSTED""#);
        assert!(serde_json::from_str::<StoreRecord>(&hosted_with_bucket).is_err());
        let azure_without_container =
            HOSTED_JSON.replace(r#""type":"HOSTED""#, r#""type":"AZURE_BLOBSTORE""#);
        assert!(serde_json::from_str::<StoreRecord>(&azure_without_container).is_err());
    }

    #[test]
    fn stores_of_configured_types_keep_their_settings() {
        let text = r#"{"name":"t","default":false,"type":"DIR_TEMPLATE","root":"/srv/t",
            "storage_config":{},"config":{"fanout":2},"secret":{"token":"x"},
            "identity":"ghi","created":3}"#;
        let record: StoreRecord = serde_json::from_str(text).expect("record");
        assert_eq!(record.kind(), "DIR_TEMPLATE");
        assert_eq!(record.hosted_root(), Some(Path::new("/srv/t")));
        assert_eq!(record.adapter_settings.config["fanout"], 2);
        let before: Value = serde_json::from_str(text).expect("json");
        assert_eq!(serde_json::to_value(&record).expect("serialize"), before);
        let endpoint = r#"{"name":"e","default":false,"type":"MINE","root":"",
            "storage_config":{},"endpoint":"https://store.example:8443/x",
            "identity":"jkl","created":4}"#;
        let record: StoreRecord = serde_json::from_str(endpoint).expect("record");
        assert_eq!(
            record.endpoint().map(|(_, authority)| authority),
            Some("store.example:8443".to_string())
        );
    }
}
