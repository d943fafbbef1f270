//! The store object of spec §5.4 as `stores` and `stores/<name>` show it:
//! every field the reference's store resource has, for every store type,
//! `null` where a field does not apply, then drhost's own additions.

use drhost_api::model::Store;
use serde_json::Value;

use super::{StoreMedium, StoreRecord};

/// The reference's store fields, each in every view.
pub const REFERENCE_FIELDS: &[&str] = &[
    "name",
    "default",
    "type",
    "storageConfig",
    "identity",
    "identityKey",
    "rootDir",
    "autoShutdown",
    "versionCreated",
    "providerID",
    "serviceID",
    "bucketName",
    "region",
];

impl StoreRecord {
    pub fn view(&self) -> Store {
        let s3 = self.s3();
        let azure = self.azure();
        Store {
            name: self.name.clone(),
            default: self.default,
            kind: self.kind().to_string(),
            // The volume description of a HOSTED store; a bucket has none.
            storage_config: match self.medium {
                StoreMedium::Hosted { .. } => crate::masking::masked(&self.storage_config),
                _ => Value::Null,
            },
            identity: self.identity.clone(),
            identity_key: None,
            root_dir: match &self.medium {
                StoreMedium::S3 { connection, .. } => connection.prefix.clone(),
                StoreMedium::Azure { connection, .. } => connection.prefix.clone(),
                StoreMedium::Hosted { root } => root.display().to_string(),
                StoreMedium::Endpoint { .. } => String::new(),
            },
            auto_shutdown: None,
            version_created: env!("CARGO_PKG_VERSION").to_owned(),
            // An S3 store's provider is shown inline (`provider`) instead of
            // by id.
            provider_id: None,
            service_id: None,
            // An Azure container is the bucket of the reference's fields.
            bucket_name: s3
                .map(|s3| s3.bucket.clone())
                .or_else(|| azure.map(|azure| azure.container.clone())),
            region: s3.map(|s3| s3.region.clone()),
            // Masked again: a registry written by an older host may hold
            // secrets it did not mask.
            provider: crate::masking::masked(self.provider()),
            endpoint: self.endpoint().map(|(url, _)| url.to_string()),
            append_only: self.append_only,
            created: self.created,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3_store::S3Connection;
    use serde_json::json;

    fn record(s3: Option<S3Connection>) -> StoreRecord {
        StoreRecord {
            name: "s".into(),
            default: true,
            store_type: if s3.is_some() { "S3" } else { "HOSTED" }.into(),
            adapter_settings: Default::default(),
            medium: match s3 {
                Some(connection) => StoreMedium::S3 {
                    connection,
                    provider: Value::Null,
                },
                None => StoreMedium::Hosted {
                    root: "/srv/backups/s".into(),
                },
            },
            storage_config: json!({"provisioningType": "DYNAMIC", "size": "64Gi"}),
            identity: "uhhbr2phophg8t0724pa".into(),
            created: 1,
            append_only: false,
        }
    }

    #[test]
    fn every_store_type_shows_every_reference_field() {
        let settings = json!({"type": "S3", "provider": {"cloudServices": [{"connection": {
            "bucketName": "bkt", "region": "eu-west-1", "rootDir": "dr",
            "credential": {"type": "IAM-ROLE"}}}]}});
        let s3 = S3Connection::from_settings(&settings).expect("s3");
        let json = |record: StoreRecord| serde_json::to_value(record.view()).expect("json");
        let (hosted, bucket) = (json(record(None)), json(record(Some(s3))));
        for view in [&hosted, &bucket] {
            for field in REFERENCE_FIELDS {
                assert!(view.get(field).is_some(), "{field} missing from {view}");
            }
        }
        assert_eq!(hosted["storageConfig"]["size"], "64Gi");
        assert_eq!(hosted["rootDir"], "/srv/backups/s");
        assert!(hosted["bucketName"].is_null() && hosted["region"].is_null());
        assert_eq!(bucket["bucketName"], "bkt");
        assert_eq!(bucket["region"], "eu-west-1");
        assert_eq!(bucket["rootDir"], "dr");
        assert!(bucket["storageConfig"].is_null());
        assert!(bucket["identityKey"].is_null() && bucket["providerID"].is_null());
    }
}
