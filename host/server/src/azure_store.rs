//! Azure Blob backup stores: the reference's `AZURE_BLOBSTORE` registration
//! settings (spec §9, as Esri's `register-az-backup-store` sends them),
//! turned into what the `store-azure` adapter is configured and granted with.

pub mod managed_identity;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use managed_identity::{ManagedIdentityTokens, TokenSource};

/// Where and how an Azure Blob store keeps its objects. Persisted in the
/// store registry (a file private to the host's user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureConnection {
    /// `http(s)://host[:port][/account]`: the account's blob endpoint
    /// (`https://<account>.blob.core.windows.net` unless given; emulators
    /// such as Azurite put the account in the path).
    pub endpoint: String,
    pub account: String,
    pub container: String,
    /// Name prefix of every object (`rootDir`), without leading or trailing `/`.
    pub prefix: String,
    pub credential: AzureCredential,
}

/// How an Azure store's requests are authorized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum AzureCredential {
    /// `STORAGE-ACCOUNT-KEY`: Shared Key signing with the account key.
    SharedKey { key: String },
    /// `SAS-TOKEN` (drhost's form): a shared access signature limited to
    /// what the operator granted.
    Sas { token: String },
    /// `USER-ASSIGNED-IDENTITY`: OAuth tokens of the host's managed
    /// identity, fetched per call ([`ManagedIdentityTokens`]); nothing kept.
    ManagedIdentity { client_id: Option<String> },
}

/// Keys a connection of the reference form may carry; anything else is
/// refused rather than silently dropped.
const CONNECTION_KEYS: &[&str] = &[
    "containerName",
    "rootDir",
    "accountEndpointUrl",
    "credential",
];

impl AzureConnection {
    /// Parses `settings` of `stores/register` (the first cloud service's
    /// connection).
    pub fn from_settings(settings: &Value) -> Result<Self, String> {
        let connection = crate::stores::cloud_connection(
            settings,
            "AZURE_BLOBSTORE",
            "containerName, rootDir, accountEndpointUrl, credential",
            CONNECTION_KEYS,
        )?;
        let text = |key: &str| connection.get(key).and_then(Value::as_str).map(str::trim);
        let credential = connection
            .get("credential")
            .ok_or("connection.credential is required")?;
        let account = credential
            .pointer("/secret/storageAccountName")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .ok_or("credential.secret.storageAccountName is required")?;
        check_account_name(account)?;
        let container = text("containerName")
            .filter(|c| !c.is_empty())
            .ok_or("connection.containerName is required")?;
        check_container_name(container)?;
        let endpoint = match endpoint_url(connection.get("accountEndpointUrl"))? {
            Some(url) => url,
            None => format!("https://{account}.blob.core.windows.net"),
        };
        let prefix = text("rootDir").unwrap_or("").trim_matches('/').to_string();
        if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
            return Err(format!(
                "connection.rootDir {prefix:?} must not contain '.', '..' or '//' segments"
            ));
        }
        Ok(Self {
            endpoint,
            account: account.to_string(),
            container: container.to_string(),
            prefix,
            credential: parse_credential(credential)?,
        })
    }

    /// The `store-azure` adapter's configuration, with `token` for a
    /// managed-identity store (pass the secrets it holds for redaction).
    pub fn adapter_config(&self, append_only: bool, token: Option<&str>) -> String {
        let credential = match (&self.credential, token) {
            (AzureCredential::SharedKey { key }, _) => json!({"type": "shared-key", "key": key}),
            (AzureCredential::Sas { token }, _) => json!({"type": "sas", "token": token}),
            (AzureCredential::ManagedIdentity { .. }, token) => {
                json!({"type": "bearer", "token": token.unwrap_or_default()})
            }
        };
        json!({
            "endpoint": self.endpoint,
            "appendOnly": append_only,
            "account": self.account,
            "container": self.container,
            "prefix": self.prefix,
            "credential": credential,
        })
        .to_string()
    }

    /// The secret the configuration holds when it is static.
    pub fn static_secret(&self) -> Option<&str> {
        match &self.credential {
            AzureCredential::SharedKey { key } => Some(key),
            AzureCredential::Sas { token } => Some(token),
            AzureCredential::ManagedIdentity { .. } => None,
        }
    }

    /// The one authority the adapter may reach.
    pub fn authority(&self) -> String {
        drhost_runtime::normalize_authority(&self.endpoint, None).unwrap_or_default()
    }

    /// True when one's objects could lie among the other's (same
    /// container, one prefix inside the other).
    pub fn overlaps(&self, other: &Self) -> bool {
        self.endpoint.eq_ignore_ascii_case(&other.endpoint)
            && self.account == other.account
            && self.container == other.container
            && (crate::s3_store::prefix_contains(&self.prefix, &other.prefix)
                || crate::s3_store::prefix_contains(&other.prefix, &self.prefix))
    }
}

/// `accountEndpointUrl`: a URL, or (as Esri's CLI sends its default, a
/// Python one-element tuple) an array holding one.
fn endpoint_url(value: Option<&Value>) -> Result<Option<String>, String> {
    let url = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(url)) => url,
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::String(url)] => url,
            _ => return Err("connection.accountEndpointUrl must be one URL".into()),
        },
        Some(_) => return Err("connection.accountEndpointUrl must be a URL".into()),
    };
    crate::stores::http_endpoint("connection.accountEndpointUrl", url).map(Some)
}

fn parse_credential(credential: &Value) -> Result<AzureCredential, String> {
    let kind = credential.get("type").and_then(Value::as_str).unwrap_or("");
    let secret = |key: &str| {
        credential
            .pointer(&format!("/secret/{key}"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(format!("credential.secret.{key} is required"))
    };
    if kind.eq_ignore_ascii_case("STORAGE-ACCOUNT-KEY") {
        let key = secret("storageAccountKey")?;
        use base64::Engine as _;
        match base64::engine::general_purpose::STANDARD.decode(&key) {
            Ok(bytes) if !bytes.is_empty() => Ok(AzureCredential::SharedKey { key }),
            _ => Err("credential.secret.storageAccountKey must be the account key (base64)".into()),
        }
    } else if kind.eq_ignore_ascii_case("SAS-TOKEN") {
        let token = secret("sasToken")?;
        let token = token.trim_start_matches('?').to_string();
        if !token.split('&').any(|pair| pair.starts_with("sig=")) {
            return Err("credential.secret.sasToken must be a SAS token (with sig=...)".into());
        }
        Ok(AzureCredential::Sas { token })
    } else if kind.eq_ignore_ascii_case("USER-ASSIGNED-IDENTITY") {
        let client_id = credential
            .get("managedIdentityClientId")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string);
        Ok(AzureCredential::ManagedIdentity { client_id })
    } else {
        Err(format!(
            "credential type {kind:?} is not supported by this host: use STORAGE-ACCOUNT-KEY \
             (secret.storageAccountName, secret.storageAccountKey), SAS-TOKEN \
             (secret.storageAccountName, secret.sasToken) or USER-ASSIGNED-IDENTITY \
             (managedIdentityClientId, secret.storageAccountName)"
        ))
    }
}

/// Azure's rules: 3–24 lower-case letters and digits.
fn check_account_name(account: &str) -> Result<(), String> {
    if (3..=24).contains(&account.len())
        && account
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!(
            "credential.secret.storageAccountName {account:?} is not a storage account name \
             (3-24 of a-z, 0-9)"
        ))
    }
}

/// Azure's rules: 3–63 of `a-z0-9-`, starting and ending with a letter or
/// digit, no `--`.
fn check_container_name(container: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&container.len())
        && container
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !container.starts_with('-')
        && !container.ends_with('-')
        && !container.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "connection.containerName {container:?} is not a container name \
             (3-63 of a-z, 0-9, '-')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(connection: Value) -> Value {
        json!({"type": "AZURE_BLOBSTORE", "provider": {"name": "AZURE", "cloudServices": [{
            "name": "Azure Blob Store", "type": "objectStore", "usage": "BACKUP",
            "category": "storage", "connection": connection}]}})
    }

    #[test]
    fn esris_cli_form_parses_with_its_tuple_endpoint() {
        let form = settings(json!({
            "containerName": "backups", "rootDir": "/backups/",
            "accountEndpointUrl": ["https://acct1.blob.core.windows.net/"],
            "credential": {"managedIdentityClientId": "0000-1111", "type": "USER-ASSIGNED-IDENTITY",
                "secret": {"storageAccountName": "acct1"}}}));
        let connection = AzureConnection::from_settings(&form).expect("parses");
        assert_eq!(connection.endpoint, "https://acct1.blob.core.windows.net");
        assert_eq!(connection.prefix, "backups");
        assert_eq!(
            connection.credential,
            AzureCredential::ManagedIdentity {
                client_id: Some("0000-1111".into())
            }
        );
        assert_eq!(connection.authority(), "acct1.blob.core.windows.net:443");
        assert!(connection.static_secret().is_none());
    }

    #[test]
    fn keys_and_sas_tokens_parse_and_default_the_endpoint() {
        let key = settings(json!({"containerName": "drc", "credential": {
            "type": "STORAGE-ACCOUNT-KEY",
            "secret": {"storageAccountName": "acct1", "storageAccountKey": "a2V5"}}}));
        let connection = AzureConnection::from_settings(&key).expect("parses");
        assert_eq!(connection.endpoint, "https://acct1.blob.core.windows.net");
        assert_eq!(connection.static_secret(), Some("a2V5"));
        let config: Value =
            serde_json::from_str(&connection.adapter_config(false, None)).expect("json");
        assert_eq!(
            config["credential"],
            json!({"type": "shared-key", "key": "a2V5"})
        );
        let sas = settings(json!({"containerName": "drc",
            "accountEndpointUrl": "http://127.0.0.1:10000/devstoreaccount1",
            "credential": {"type": "SAS-TOKEN",
            "secret": {"storageAccountName": "devstoreaccount1", "sasToken": "?sv=1&sig=abc"}}}));
        let connection = AzureConnection::from_settings(&sas).expect("parses");
        assert_eq!(connection.static_secret(), Some("sv=1&sig=abc"));
        assert_eq!(connection.authority(), "127.0.0.1:10000");
    }

    #[test]
    fn bad_forms_are_refused_naming_the_field() {
        for (connection, expected) in [
            (
                json!({"credential": {"type": "SAS-TOKEN", "secret": {"storageAccountName": "acct1", "sasToken": "sig=x"}}}),
                "containerName is required",
            ),
            (
                json!({"containerName": "Bad_Name", "credential": {"type": "SAS-TOKEN", "secret": {"storageAccountName": "acct1", "sasToken": "sig=x"}}}),
                "not a container name",
            ),
            (
                json!({"containerName": "drc", "credential": {"type": "SAS-TOKEN", "secret": {"storageAccountName": "Acct", "sasToken": "sig=x"}}}),
                "not a storage account name",
            ),
            (
                json!({"containerName": "drc", "credential": {"type": "SAS-TOKEN", "secret": {"storageAccountName": "acct1", "sasToken": "sv=1"}}}),
                "must be a SAS token",
            ),
            (
                json!({"containerName": "drc", "credential": {"type": "STORAGE-ACCOUNT-KEY", "secret": {"storageAccountName": "acct1", "storageAccountKey": "not base64!"}}}),
                "account key (base64)",
            ),
            (
                json!({"containerName": "drc", "credential": {"type": "PASSWORD", "secret": {"storageAccountName": "acct1"}}}),
                "not supported",
            ),
            (
                json!({"containerName": "drc", "accountEndpointUrl": "ftp://x", "credential": {"type": "USER-ASSIGNED-IDENTITY", "secret": {"storageAccountName": "acct1"}}}),
                "must be http(s)",
            ),
            (
                json!({"containerName": "drc", "plugin": "/x.wasm", "credential": {"type": "USER-ASSIGNED-IDENTITY", "secret": {"storageAccountName": "acct1"}}}),
                "plugin",
            ),
        ] {
            let error = AzureConnection::from_settings(&settings(connection.clone()))
                .expect_err(&connection.to_string());
            assert!(error.contains(expected), "{connection}: {error}");
        }
    }

    #[test]
    fn containers_overlap_by_whole_prefix_segments() {
        let at = |prefix: &str| AzureConnection {
            endpoint: "https://a.blob.core.windows.net".into(),
            account: "a".into(),
            container: "dr".into(),
            prefix: prefix.into(),
            credential: AzureCredential::Sas {
                token: "sig=x".into(),
            },
        };
        assert!(at("").overlaps(&at("x")));
        assert!(at("team/a").overlaps(&at("team")));
        assert!(!at("team-a2").overlaps(&at("team-a")));
    }
}
