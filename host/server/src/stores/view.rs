//! The store object of spec §5.4 as `stores` and `stores/<name>` show it:
//! every field the reference's store resource has, for every store type,
//! `null` where a field does not apply, then drhost's own additions.

use serde_json::{Value, json};

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
    pub fn view(&self) -> Value {
        let s3 = self.s3();
        json!({
            "name": self.name,
            "default": self.default,
            "type": self.kind(),
            // The volume description of a HOSTED store; a bucket has none.
            "storageConfig": if s3.is_some() { Value::Null } else { crate::masking::masked(&self.storage_config) },
            "identity": self.identity,
            // The reference's per-store key; drhost derives every key from
            // the backup's passcode, and keeps none with the store.
            "identityKey": Value::Null,
            "rootDir": match &self.medium {
                StoreMedium::S3 { connection, .. } => connection.prefix.clone(),
                StoreMedium::Hosted { root } => root.display().to_string(),
            },
            // A Kubernetes volume setting, with no counterpart here.
            "autoShutdown": Value::Null,
            "versionCreated": env!("CARGO_PKG_VERSION"),
            // Ids of the reference's `/cloud/providers` and `/cloud/services`
            // resources, which drhost does not have: an S3 store's provider
            // is shown inline (`provider`).
            "providerID": Value::Null,
            "serviceID": Value::Null,
            "bucketName": s3.map(|s3| s3.bucket.clone()),
            "region": s3.map(|s3| s3.region.clone()),
            // drhost's additions.
            // Masked again: a registry written by an older host may hold
            // secrets it did not mask.
            "provider": crate::masking::masked(self.provider()),
            "endpoint": s3.map(|s3| s3.endpoint.clone()),
            "appendOnly": self.append_only,
            "created": self.created,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3_store::S3Connection;

    fn record(s3: Option<S3Connection>) -> StoreRecord {
        StoreRecord {
            name: "s".into(),
            default: true,
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
        let (hosted, bucket) = (record(None).view(), record(Some(s3)).view());
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
