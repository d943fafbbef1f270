//! OAuth tokens of the host's Azure managed identity for `USER-ASSIGNED-
//! IDENTITY` stores: fetched from the App Service / Container Apps identity
//! endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) or else from the
//! instance metadata service, kept in memory only, and refreshed before they
//! expire. Each adapter call gets the current token as a `bearer` credential.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drhost_runtime::{CallCredentials, PluginContext};
use serde_json::Value;

use super::AzureConnection;
use crate::aws_credentials::http::{HttpFailure, agent, send};

/// The audience of Azure Storage tokens.
const STORAGE_RESOURCE: &str = "https://storage.azure.com/";
/// Tokens are replaced this long before they expire.
const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// Where tokens come from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// The instance metadata service (VMs, AKS nodes).
    Imds { url: String },
    /// The identity endpoint App Service and Container Apps provide.
    IdentityEndpoint { url: String, header: String },
}

impl TokenSource {
    pub fn from_environment() -> Self {
        match (
            std::env::var("IDENTITY_ENDPOINT"),
            std::env::var("IDENTITY_HEADER"),
        ) {
            (Ok(url), Ok(header)) if !url.is_empty() => Self::IdentityEndpoint { url, header },
            _ => Self::Imds { url: IMDS.into() },
        }
    }

    /// A token and when it expires (blocking).
    fn fetch(&self, client_id: Option<&str>) -> Result<(String, SystemTime), String> {
        let http = agent(Duration::from_secs(2), Duration::from_secs(10));
        let (request, what) = match self {
            Self::Imds { url } => (
                http.get(url)
                    .query("api-version", "2018-02-01")
                    .set("Metadata", "true"),
                "the instance metadata service",
            ),
            Self::IdentityEndpoint { url, header } => (
                http.get(url)
                    .query("api-version", "2019-08-01")
                    .set("X-IDENTITY-HEADER", header),
                "the identity endpoint (IDENTITY_ENDPOINT)",
            ),
        };
        let mut request = request.query("resource", STORAGE_RESOURCE);
        if let Some(id) = client_id {
            request = request.query("client_id", id);
        }
        let body = send(request, None).map_err(|failure| {
            let why = match failure {
                HttpFailure::Unreachable(reason) => format!("is not reachable ({reason})"),
                // The body may name the identity's details; the status says enough.
                HttpFailure::Status(status, _) => format!("answered HTTP {status}"),
            };
            format!(
                "no managed-identity token for Azure Storage: {what} {why}{}",
                client_id
                    .map(|id| format!(" (client id {id})"))
                    .unwrap_or_default()
            )
        })?;
        parse_token(&body).ok_or_else(|| {
            format!("no managed-identity token for Azure Storage: {what} answered no usable token")
        })
    }
}

fn parse_token(body: &str) -> Option<(String, SystemTime)> {
    let value: Value = serde_json::from_str(body).ok()?;
    let token = value.get("access_token")?.as_str()?.to_string();
    let seconds = |key: &str| -> Option<u64> {
        match value.get(key)? {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    };
    let expires = match (seconds("expires_on"), seconds("expires_in")) {
        (Some(on), _) => UNIX_EPOCH + Duration::from_secs(on),
        (None, Some(within)) => SystemTime::now() + Duration::from_secs(within),
        (None, None) => return None,
    };
    Some((token, expires))
}

/// The host's managed-identity tokens, per client id, shared by every
/// store that uses one.
pub struct ManagedIdentityTokens {
    source: TokenSource,
    current: tokio::sync::Mutex<HashMap<Option<String>, (String, SystemTime)>>,
}

impl ManagedIdentityTokens {
    pub fn new(source: TokenSource) -> Self {
        Self {
            source,
            current: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// A token good for one store call. Concurrent callers wait for one fetch.
    pub async fn get(&self, client_id: Option<&str>) -> Result<String, String> {
        let mut current = self.current.lock().await;
        let key = client_id.map(str::to_string);
        if let Some((token, expires)) = current.get(&key)
            && expires
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > REFRESH_AHEAD)
        {
            return Ok(token.clone());
        }
        let source = self.source.clone();
        let (token, expires) =
            tokio::task::spawn_blocking(move || source.fetch(key.as_deref()).map(|t| (key, t)))
                .await
                .map_err(|e| format!("the token lookup ended abnormally: {e}"))?
                .map(|(key, (token, expires))| {
                    current.insert(key, (token.clone(), expires));
                    (token, expires)
                })?;
        tracing::info!(
            expires_in_s = expires
                .duration_since(SystemTime::now())
                .map(|d| d.as_secs())
                .unwrap_or(0),
            "Azure managed-identity token obtained"
        );
        Ok(token)
    }
}

/// The per-call configuration of a `USER-ASSIGNED-IDENTITY` store.
pub struct ManagedIdentityCall {
    pub connection: AzureConnection,
    pub append_only: bool,
    pub tokens: Arc<ManagedIdentityTokens>,
}

#[async_trait]
impl CallCredentials for ManagedIdentityCall {
    async fn context_for_call(&self, ctx: &PluginContext) -> Result<PluginContext, String> {
        let client_id = match &self.connection.credential {
            super::AzureCredential::ManagedIdentity { client_id } => client_id.as_deref(),
            _ => None,
        };
        let token = self.tokens.get(client_id).await?;
        Ok(PluginContext {
            config_json: self
                .connection
                .adapter_config(self.append_only, Some(&token)),
            secrets: vec![token],
            ..ctx.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::TestServer;

    #[tokio::test]
    async fn imds_tokens_are_asked_for_storage_with_the_client_id_and_reused() {
        let expires = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + 3600;
        let server = TestServer::start(move |request| {
            if request.header("metadata") != Some("true") {
                return (400, String::new());
            }
            (
                200,
                format!(
                    r#"{{"access_token":"tok-1","expires_on":"{expires}","token_type":"Bearer"}}"#
                ),
            )
        });
        let tokens = ManagedIdentityTokens::new(TokenSource::Imds {
            url: format!("{}/metadata/identity/oauth2/token", server.url()),
        });
        assert_eq!(tokens.get(Some("cid-1")).await.expect("token"), "tok-1");
        assert_eq!(tokens.get(Some("cid-1")).await.expect("token"), "tok-1");
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "the second call reuses the token");
        let path = &requests[0].path;
        assert!(
            path.contains("resource=https%3A%2F%2Fstorage.azure.com%2F")
                && path.contains("client_id=cid-1")
                && path.contains("api-version=2018-02-01"),
            "{path}"
        );
    }

    #[tokio::test]
    async fn a_refusal_or_silence_is_named_without_the_answer() {
        let server =
            TestServer::start(|_| (400, r#"{"error":"identity not found: secret"}"#.into()));
        let tokens = ManagedIdentityTokens::new(TokenSource::IdentityEndpoint {
            url: server.url(),
            header: "h".into(),
        });
        let error = tokens.get(Some("cid")).await.expect_err("refused");
        assert!(
            error.contains("answered HTTP 400") && error.contains("cid"),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");
        assert_eq!(server.requests()[0].header("x-identity-header"), Some("h"));

        let closed = ManagedIdentityTokens::new(TokenSource::Imds {
            url: format!("http://127.0.0.1:{}/t", TestServer::closed_port()),
        });
        let error = closed.get(None).await.expect_err("nothing listens");
        assert!(error.contains("not reachable"), "{error}");
    }
}
