//! The container credentials endpoint: ECS task roles
//! (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, on 169.254.170.2) and EKS Pod
//! Identity or other agents (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the
//! token of `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN` in `Authorization`).

use std::time::Duration;

use super::document;
use super::http::{self, HttpFailure};
use super::{AwsCredentials, CredentialsError, Env, Outcome};

const PROVIDER: &str = "container credentials endpoint";
const ECS_ENDPOINT: &str = "http://169.254.170.2";
/// Plain-HTTP hosts a full URI may name besides loopback: the ECS and EKS
/// agents' link-local addresses (the SDKs' rule: anything else must be
/// HTTPS, or the token would cross a network in the clear).
const LINK_LOCAL_AGENTS: &[&str] = &["169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"];

pub(crate) fn provide(env: &Env) -> Result<Outcome, CredentialsError> {
    let url = if let Some(relative) = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        if !relative.starts_with('/') {
            return Err(CredentialsError::provider(
                PROVIDER,
                format!("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI {relative:?} must start with '/'"),
            ));
        }
        format!("{ECS_ENDPOINT}{relative}")
    } else if let Some(full) = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        check_full_uri(&full).map_err(|m| CredentialsError::provider(PROVIDER, m))?;
        full
    } else {
        return Ok(Outcome::Skipped(
            "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and \
             AWS_CONTAINER_CREDENTIALS_FULL_URI are not set"
                .into(),
        ));
    };
    let token = match env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        Some(file) => Some(
            std::fs::read_to_string(&file)
                .map_err(|e| {
                    CredentialsError::provider(
                        PROVIDER,
                        format!("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {file}: {e}"),
                    )
                })?
                .trim()
                .to_string(),
        ),
        None => env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    };
    fetch(&url, token.as_deref()).map(Outcome::Found)
}

fn fetch(url: &str, token: Option<&str>) -> Result<AwsCredentials, CredentialsError> {
    let mut request = http::agent(Duration::from_secs(2), Duration::from_secs(10)).get(url);
    if let Some(token) = token {
        if token.contains(['\r', '\n']) {
            return Err(CredentialsError::provider(
                PROVIDER,
                "the authorization token contains a line break",
            ));
        }
        request = request.set("Authorization", token);
    }
    let body = http::send(request, None).map_err(|failure| {
        CredentialsError::provider(
            PROVIDER,
            match failure {
                HttpFailure::Unreachable(reason) => format!("cannot reach {url}: {reason}"),
                HttpFailure::Status(status, _) => format!("{url} answered HTTP {status}"),
            },
        )
    })?;
    document::from_json(PROVIDER, &body)
}

/// A full URI must be HTTPS, or HTTP to loopback or an agent's address.
fn check_full_uri(uri: &str) -> Result<(), String> {
    if uri.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = uri.strip_prefix("http://") else {
        return Err(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI {uri:?} must start with https:// or http://"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = if authority.starts_with('[') {
        authority
            .find(']')
            .map_or(authority, |end| &authority[..=end])
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    let loopback = host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !authority.contains('@') && (loopback || LINK_LOCAL_AGENTS.contains(&host)) {
        Ok(())
    } else {
        Err(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI {uri:?} is plain HTTP to {host}: only loopback \
             and the ECS/EKS agents' addresses may be, anything else must be https://"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::TestServer;

    #[test]
    fn full_uris_are_https_or_local() {
        for ok in [
            "https://creds.example.com/v1",
            "http://127.0.0.1:8080/creds",
            "http://localhost/creds",
            "http://[::1]:9/x",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
        ] {
            assert!(check_full_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.5/creds",
            "http://127.0.0.1@evil.example/creds",
            "ftp://127.0.0.1/",
        ] {
            assert!(check_full_uri(bad).is_err(), "{bad}");
        }
    }

    /// A local endpoint in the agent's role: the token from the file goes in
    /// `Authorization`, and the document's keys come back.
    #[test]
    fn the_endpoint_is_asked_with_the_token_from_its_file() {
        let server = TestServer::start(|request| {
            if request.header("authorization") == Some("Bearer pod-token") {
                (
                    200,
                    r#"{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"s","Token":"t",
                        "Expiration":"2030-01-01T00:00:00Z"}"#
                        .into(),
                )
            } else {
                (401, "no".into())
            }
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "Bearer pod-token\n").expect("token");
        let url = format!("{}/v1/credentials", server.url());
        let token_file = token_file.display().to_string();
        let env = Env::from_pairs([
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", url.as_str()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.as_str(),
            ),
        ]);
        let Ok(Outcome::Found(keys)) = provide(&env) else {
            panic!("keys expected");
        };
        assert_eq!(keys.access_key_id, "ASIACONTAINER");
        assert_eq!(server.requests()[0].path, "/v1/credentials");

        let wrong = Env::from_pairs([
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", url.as_str()),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer other"),
        ]);
        let err = provide(&wrong).err().expect("refused");
        assert!(err.to_string().contains("HTTP 401"), "{err}");
    }
}
