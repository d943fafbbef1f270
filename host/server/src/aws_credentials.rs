//! AWS credentials for S3 stores registered with `"credential":{"type":
//! "IAM-ROLE"}`: the host finds them the way the AWS SDKs do, through the
//! standard provider chain, and hands the store adapter only the resulting
//! keys, fresh for every call ([`CredentialCache`]). Nothing found here is
//! written to a state file.
//!
//! The chain, in order; the first provider that is configured decides, and
//! one that is configured but fails stops the chain with its reason (as the
//! SDKs do: falling through to other credentials would hide the mistake):
//!
//! 1. environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!    `AWS_SESSION_TOKEN` ([`env_keys`]);
//! 2. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`, traded
//!    for temporary keys with STS `AssumeRoleWithWebIdentity` ([`sts`]);
//! 3. shared files: the profile `AWS_PROFILE` (else `default`) of
//!    `~/.aws/credentials` and `~/.aws/config` ([`profile`]);
//! 4. container: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
//!    `AWS_CONTAINER_CREDENTIALS_FULL_URI` (ECS, EKS Pod Identity)
//!    ([`container`]);
//! 5. EC2 instance metadata, IMDSv2 only ([`imds`]).

mod cache;
mod container;
mod document;
mod env_keys;
pub(crate) mod http;
mod imds;
mod profile;
mod sts;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

pub use cache::CredentialCache;

/// AWS keys, and where they came from.
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Present with temporary keys, which are valid only with it.
    pub session_token: Option<String>,
    /// When temporary keys stop working; `None` for long-term keys.
    pub expiration: Option<SystemTime>,
    /// The provider that gave them, for logs and messages.
    pub provider: &'static str,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expiration", &self.expiration)
            .field("provider", &self.provider)
            .finish()
    }
}

/// Why no credentials could be had. No variant ever quotes a secret, a
/// token or a response body that could hold one.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialsError {
    /// No provider of the chain is configured; says what each looked for.
    #[error("no AWS credentials were found ({})", .tried.join("; "))]
    NotFound { tried: Vec<String> },
    /// A provider is configured but failed.
    #[error("{provider}: {message}")]
    Provider {
        provider: &'static str,
        message: String,
    },
}

impl CredentialsError {
    pub(crate) fn provider(provider: &'static str, message: impl Into<String>) -> Self {
        Self::Provider {
            provider,
            message: message.into(),
        }
    }
}

/// Looks an environment variable up.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The environment variables the chain reads: the process's, or a fixed set
/// (tests, which must not change the process's own).
#[derive(Clone)]
pub struct Env {
    vars: Arc<Lookup>,
}

impl Env {
    pub fn process() -> Self {
        Self {
            vars: Arc::new(|name| std::env::var(name).ok()),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let map: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self {
            vars: Arc::new(move |name| map.get(name).cloned()),
        }
    }

    /// A variable's value, trimmed; `None` when unset or blank, which the
    /// SDKs treat alike.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.vars)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The region for STS: `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    fn region(&self) -> Option<String> {
        self.get("AWS_REGION")
            .or_else(|| self.get("AWS_DEFAULT_REGION"))
    }
}

/// What one provider of the chain made of the environment.
pub(crate) enum Outcome {
    Found(AwsCredentials),
    /// Not configured; says what it looked for.
    Skipped(String),
}

type Provider = fn(&Env) -> Result<Outcome, CredentialsError>;

/// The providers, in the chain's order.
const CHAIN: [Provider; 5] = [
    env_keys::provide,
    sts::provide_from_env,
    profile::provide,
    container::provide,
    imds::provide,
];

/// Resolves credentials through the chain once (blocking: providers may
/// read files and make HTTP requests).
pub fn resolve(env: &Env) -> Result<AwsCredentials, CredentialsError> {
    let mut tried = Vec::new();
    for provider in CHAIN {
        match provider(env)? {
            Outcome::Found(credentials) => return Ok(credentials),
            Outcome::Skipped(why) => tried.push(why),
        }
    }
    Err(CredentialsError::NotFound { tried })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_configured_says_what_each_provider_looked_for() {
        let env = Env::from_pairs([
            ("HOME", "/nonexistent-home"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        let err = resolve(&env).expect_err("no credentials");
        let text = err.to_string();
        for needle in [
            "AWS_ACCESS_KEY_ID",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "/nonexistent-home/.aws/credentials",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_EC2_METADATA_DISABLED",
        ] {
            assert!(text.contains(needle), "{text} should name {needle}");
        }
    }

    #[test]
    fn the_environment_comes_first_and_debug_hides_the_secrets() {
        let env = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_SESSION_TOKEN", "env-token"),
            // Configured too, but later in the chain: never consulted.
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
        ]);
        let credentials = resolve(&env).expect("found");
        assert_eq!(credentials.access_key_id, "AKIDENV");
        assert_eq!(credentials.provider, "environment");
        let shown = format!("{credentials:?}");
        assert!(
            !shown.contains("env-secret") && !shown.contains("env-token"),
            "{shown}"
        );
    }

    #[test]
    fn a_configured_provider_that_fails_stops_the_chain() {
        let env = Env::from_pairs([
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:1/creds",
            ),
        ]);
        let err = resolve(&env).expect_err("the token file is missing");
        assert!(err.to_string().contains("/nonexistent/token"), "{err}");
    }
}
