//! One registered store, and its form in `stores.json`.
//!
//! In memory a store is either a directory or a bucket ([`StoreMedium`]), so
//! a hosted store without a directory or a bucket without a connection cannot
//! be built. On disk it keeps the flat shape older hosts wrote (`type`,
//! `root` empty for S3, optional `s3`), so registries load both ways.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::s3_store::S3Connection;

/// Where a store keeps its objects.
#[derive(Debug, Clone)]
pub enum StoreMedium {
    /// A directory, through the `store-fs` adapter.
    Hosted { root: PathBuf },
    /// A bucket, through the `store-s3` adapter.
    S3 {
        connection: S3Connection,
        /// `settings.provider` with its secret redacted, echoed in views.
        provider: Value,
    },
}

/// One registered store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "StoredRecord", into = "StoredRecord")]
pub struct StoreRecord {
    pub name: String,
    pub default: bool,
    pub medium: StoreMedium,
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
    /// The store type as the API names it: `HOSTED` or `S3`.
    pub fn kind(&self) -> &'static str {
        match self.medium {
            StoreMedium::Hosted { .. } => HOSTED,
            StoreMedium::S3 { .. } => S3,
        }
    }

    /// The directory of a hosted store.
    pub fn hosted_root(&self) -> Option<&Path> {
        match &self.medium {
            StoreMedium::Hosted { root } => Some(root),
            StoreMedium::S3 { .. } => None,
        }
    }

    /// The bucket of an S3 store.
    pub fn s3(&self) -> Option<&S3Connection> {
        match &self.medium {
            StoreMedium::S3 { connection, .. } => Some(connection),
            StoreMedium::Hosted { .. } => None,
        }
    }

    /// The redacted `settings.provider` of an S3 store; null for a directory.
    pub fn provider(&self) -> &Value {
        match &self.medium {
            StoreMedium::S3 { provider, .. } => provider,
            StoreMedium::Hosted { .. } => &Value::Null,
        }
    }
}

const HOSTED: &str = "HOSTED";
const S3: &str = "S3";

/// A store as `stores.json` holds it (the shape hosts have always written).
#[derive(Serialize, Deserialize)]
struct StoredRecord {
    name: String,
    default: bool,
    #[serde(rename = "type")]
    kind: String,
    /// Empty for `S3`.
    root: PathBuf,
    storage_config: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s3: Option<S3Connection>,
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
        let medium = match (stored.kind.to_ascii_uppercase().as_str(), stored.s3) {
            (S3, Some(connection)) => StoreMedium::S3 {
                connection,
                provider: stored.provider,
            },
            (S3, None) => return Err(inconsistent("no bucket connection")),
            (_, Some(_)) => return Err(inconsistent("a bucket connection")),
            (HOSTED, None) => StoreMedium::Hosted { root: stored.root },
            (_, None) => return Err(inconsistent("is not a store type this host knows")),
        };
        Ok(StoreRecord {
            name: stored.name,
            default: stored.default,
            medium,
            storage_config: stored.storage_config,
            identity: stored.identity,
            created: stored.created,
            append_only: stored.append_only,
        })
    }
}

impl From<StoreRecord> for StoredRecord {
    fn from(record: StoreRecord) -> Self {
        let kind = record.kind().to_string();
        let (root, s3, provider) = match record.medium {
            StoreMedium::Hosted { root } => (root, None, Value::Null),
            StoreMedium::S3 {
                connection,
                provider,
            } => (PathBuf::new(), Some(connection), provider),
        };
        StoredRecord {
            name: record.name,
            default: record.default,
            kind,
            root,
            storage_config: record.storage_config,
            s3,
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
    }
}
