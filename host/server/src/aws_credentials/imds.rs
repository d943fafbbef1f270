//! EC2 instance metadata, IMDSv2 only: a session token from
//! `PUT /latest/api/token`, then the instance role's name and its keys from
//! `/latest/meta-data/iam/security-credentials/`. The endpoint is
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else 169.254.169.254 (or
//! fd00:ec2::254 with `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`);
//! `AWS_EC2_METADATA_DISABLED=true` turns it off. IMDSv1 (no token) is never
//! used: it is what server-side request forgery steals keys through.

use std::time::Duration;

use super::document;
use super::http::{self, HttpFailure};
use super::{AwsCredentials, CredentialsError, Env, Outcome};

const PROVIDER: &str = "EC2 instance metadata (IMDSv2)";
const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
/// The session token's lifetime; one is asked for per resolution anyway.
const TOKEN_TTL_SECONDS: &str = "21600";

pub(crate) fn provide(env: &Env) -> Result<Outcome, CredentialsError> {
    if env
        .get("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Ok(Outcome::Skipped(
            "instance metadata: AWS_EC2_METADATA_DISABLED is true".into(),
        ));
    }
    let endpoint = match env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
        Some(endpoint) => endpoint,
        None if env
            .get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
            .is_some_and(|m| m.eq_ignore_ascii_case("IPv6")) =>
        {
            "http://[fd00:ec2::254]".into()
        }
        None => "http://169.254.169.254".into(),
    };
    let endpoint = endpoint.trim_end_matches('/');
    // Off EC2 nothing answers: a short connect timeout keeps that cheap.
    let agent = http::agent(Duration::from_secs(1), Duration::from_secs(5));
    let token = match http::send(
        agent
            .put(&format!("{endpoint}/latest/api/token"))
            .set("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL_SECONDS),
        None,
    ) {
        Ok(token) => token.trim().to_string(),
        Err(HttpFailure::Unreachable(reason)) => {
            return Ok(Outcome::Skipped(format!(
                "instance metadata: nothing answers at {endpoint} ({reason})"
            )));
        }
        Err(HttpFailure::Status(status, _)) => {
            return Err(CredentialsError::provider(
                PROVIDER,
                format!("{endpoint} refused a session token (HTTP {status})"),
            ));
        }
    };
    let get = |path: &str| {
        http::send(
            agent
                .get(&format!("{endpoint}{path}"))
                .set("x-aws-ec2-metadata-token", &token),
            None,
        )
        .map_err(|failure| {
            CredentialsError::provider(
                PROVIDER,
                match failure {
                    HttpFailure::Unreachable(reason) => format!("{endpoint}{path}: {reason}"),
                    HttpFailure::Status(404, _) if path == CREDENTIALS_PATH => {
                        "the instance has no IAM role (instance profile) attached".into()
                    }
                    HttpFailure::Status(status, _) => {
                        format!("{endpoint}{path} answered HTTP {status}")
                    }
                },
            )
        })
    };
    let roles = get(CREDENTIALS_PATH)?;
    let role = roles
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| {
            CredentialsError::provider(
                PROVIDER,
                "the instance has no IAM role (instance profile) attached",
            )
        })?;
    if !role
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err(CredentialsError::provider(
            PROVIDER,
            format!("{role:?} is not a role name"),
        ));
    }
    let body = get(&format!("{CREDENTIALS_PATH}{role}"))?;
    let credentials: AwsCredentials = document::from_json(PROVIDER, &body)?;
    Ok(Outcome::Found(credentials))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::TestServer;

    /// A strict IMDSv2 in a local server: no token, no answer.
    #[test]
    fn keys_come_with_a_session_token_only() {
        let server =
            TestServer::start(
                |request| match (request.method.as_str(), request.path.as_str()) {
                    ("PUT", "/latest/api/token")
                        if request
                            .header("x-aws-ec2-metadata-token-ttl-seconds")
                            .is_some() =>
                    {
                        (200, "session-token".into())
                    }
                    (_, _)
                        if request.header("x-aws-ec2-metadata-token") != Some("session-token") =>
                    {
                        (401, String::new())
                    }
                    ("GET", "/latest/meta-data/iam/security-credentials/") => {
                        (200, "drhost-role\n".into())
                    }
                    ("GET", "/latest/meta-data/iam/security-credentials/drhost-role") => (
                        200,
                        r#"{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS",
                        "SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:00:00Z"}"#
                            .into(),
                    ),
                    _ => (404, String::new()),
                },
            );
        let url = server.url();
        let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.as_str())]);
        let Ok(Outcome::Found(keys)) = provide(&env) else {
            panic!("keys expected");
        };
        assert_eq!(keys.access_key_id, "ASIAIMDS");
        assert_eq!(server.requests().len(), 3);
    }

    #[test]
    fn no_role_and_no_service_are_told_apart() {
        let server = TestServer::start(|request| match request.path.as_str() {
            "/latest/api/token" => (200, "tok".into()),
            _ => (404, String::new()),
        });
        let url = server.url();
        let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.as_str())]);
        let err = provide(&env).err().expect("no role");
        assert!(err.to_string().contains("no IAM role"), "{err}");

        let closed = format!("http://127.0.0.1:{}", TestServer::closed_port());
        let env = Env::from_pairs([("AWS_EC2_METADATA_SERVICE_ENDPOINT", closed.as_str())]);
        assert!(matches!(provide(&env), Ok(Outcome::Skipped(_))));
    }
}
