//! Secrets inside JSON the API shows back as the client sent it (a store's
//! `provider` and `storageConfig`, the staging volume settings). Every value
//! under a `secret` object and every field whose name says it holds a
//! secret is shown as [`MASK`], wherever it sits: in every cloud service of
//! a provider, not only the one this host connects with, and in the
//! provider's own credential.

use serde_json::Value;

/// Shown in place of every secret.
pub const MASK: &str = "********";

/// Fields that name an account or key rather than prove it, shown even
/// under `secret` (the reference API's shapes put them there), in the
/// lower-case, separator-free form [`squash`] gives.
const IDENTIFIERS: &[&str] = &[
    "accesskey",
    "accesskeyid",
    "storageaccountname",
    "managedidentityclientid",
    "clientid",
];

/// Replaces every secret in `value` by [`MASK`].
pub fn mask_secrets(value: &mut Value) {
    walk(value, false);
}

/// `value` with its secrets masked.
pub fn masked(value: &Value) -> Value {
    let mut value = value.clone();
    mask_secrets(&mut value);
    value
}

/// `in_secret`: `value` sits in a `secret` object, where everything but an
/// identifier is secret.
fn walk(value: &mut Value, in_secret: bool) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                let name = squash(key);
                if IDENTIFIERS.contains(&name.as_str()) {
                    continue;
                }
                if matches!(name.as_str(), "secret" | "secrets") {
                    walk(field, true);
                } else if in_secret || is_secret_name(&name) {
                    mask_all(field);
                } else {
                    walk(field, false);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| walk(item, in_secret)),
        Value::Null => {}
        leaf => {
            if in_secret {
                *leaf = Value::from(MASK);
            }
        }
    }
}

fn mask_all(value: &mut Value) {
    match value {
        Value::Object(fields) => fields.values_mut().for_each(mask_all),
        Value::Array(items) => items.iter_mut().for_each(mask_all),
        Value::Null => {}
        leaf => *leaf = Value::from(MASK),
    }
}

/// Whether a field called `name` (squashed) holds a secret: `secret_key`,
/// `storageAccountKey`, `password`, `sasToken`, `connectionString`, ...
fn is_secret_name(name: &str) -> bool {
    ["secret", "password", "passwd", "token", "connectionstring"]
        .iter()
        .any(|word| name.contains(word))
        || name.ends_with("key")
}

/// `storage_Account-Key` → `storageaccountkey`.
fn squash(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_secret_of_every_cloud_service_is_masked() {
        let provider = json!({"name": "AWS",
        "credential": {"type": "ACCESS-KEY", "secret": {"access_key": "AK0", "secret_key": "P0"}},
        "cloudServices": [
            {"name": "AWS S3", "connection": {"bucketName": "b", "credential": {"type": "ACCESS-KEY",
                "secret": {"access_key": "AK1", "secret_key": "S1"}}}},
            {"name": "second", "connection": {"bucketName": "c", "credential": {"type": "ACCESS-KEY",
                "secret": {"access_key": "AK2", "secret_key": "S2", "sessionToken": "T2",
                           "extra": {"nested": "N2"}, "list": ["L2"]}}}},
            {"name": "Azure", "connection": {"containerName": "k", "credential": {
                "type": "STORAGE-ACCOUNT-KEY",
                "secret": {"storageAccountName": "acct", "storageAccountKey": "AZ3"}}}},
            {"name": "GCS", "connection": {"credential": {"type": "HMAC-KEYS",
                "secret": {"accessKey": "GK4", "secretKey": "GS4"}}}},
            {"name": "flat", "connection": {"password": "PW5", "sasToken": "SAS5",
                "connectionString": "CS5", "secret": "SEC5", "apiKey": 55}},
        ]});
        let shown = masked(&provider).to_string();
        for secret in [
            "P0", "S1", "S2", "T2", "N2", "L2", "AZ3", "GS4", "PW5", "SAS5", "CS5", "SEC5", "55",
        ] {
            assert!(
                !shown.contains(&format!("\"{secret}\"")) && !shown.contains(":55"),
                "{secret} shown: {shown}"
            );
        }
        // What names things stays readable.
        for shown_as_is in [
            "AK0",
            "AK1",
            "AK2",
            "acct",
            "GK4",
            "AWS S3",
            "ACCESS-KEY",
            "bucketName",
        ] {
            assert!(shown.contains(shown_as_is), "{shown_as_is} hidden: {shown}");
        }
        assert_eq!(
            masked(&provider)
                .pointer("/cloudServices/1/connection/credential/secret/secret_key")
                .and_then(Value::as_str),
            Some(MASK)
        );
    }
}
