//! A backup store (spec §5.4): every field the reference's store resource
//! has, for every store type, `null` where a field does not apply, then
//! drhost's own additions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Store {
    pub name: String,
    pub default: bool,
    /// `HOSTED` or `S3`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The client's volume description of a `HOSTED` store, secrets masked;
    /// `null` for a bucket. Free-form: it is the client's document.
    pub storage_config: Value,
    pub identity: String,
    /// The reference's per-store key; always `null` (drhost derives every
    /// key from the backup's passcode).
    pub identity_key: Option<String>,
    pub root_dir: String,
    /// A Kubernetes volume setting; always `null`.
    pub auto_shutdown: Option<bool>,
    pub version_created: String,
    /// Ids of the reference's `/cloud/providers` and `/cloud/services`,
    /// which drhost does not have; always `null`.
    #[serde(rename = "providerID")]
    pub provider_id: Option<String>,
    #[serde(rename = "serviceID")]
    pub service_id: Option<String>,
    pub bucket_name: Option<String>,
    pub region: Option<String>,
    // drhost's additions.
    /// The client's `settings.provider` of an S3 store, secrets masked.
    pub provider: Value,
    pub endpoint: Option<String>,
    pub append_only: bool,
    pub created: i64,
}
