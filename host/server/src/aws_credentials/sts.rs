//! Web identity: an OIDC token in a file (Kubernetes service-account token,
//! EKS IRSA) traded with STS `AssumeRoleWithWebIdentity` for temporary keys
//! of a role. Configured by `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`
//! (`AWS_ROLE_SESSION_NAME` optional), or by a profile's
//! `web_identity_token_file` and `role_arn`. The request is unsigned: the
//! token is the proof. STS is `AWS_ENDPOINT_URL_STS` (or `AWS_ENDPOINT_URL`)
//! when set, else the regional endpoint of `AWS_REGION`, else the global one.

use std::path::PathBuf;
use std::time::Duration;

use super::document::parse_timestamp;
use super::http::{self, HttpFailure};
use super::{AwsCredentials, CredentialsError, Env, Outcome};

const PROVIDER: &str = "web identity (STS AssumeRoleWithWebIdentity)";

/// A role to assume with a token from a file.
pub(crate) struct WebIdentity {
    pub token_file: PathBuf,
    pub role_arn: String,
    pub session_name: Option<String>,
    /// The region whose STS endpoint to use, when none is configured.
    pub region: Option<String>,
}

pub(crate) fn provide_from_env(env: &Env) -> Result<Outcome, CredentialsError> {
    match (
        env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
        env.get("AWS_ROLE_ARN"),
    ) {
        (None, None) => Ok(Outcome::Skipped(
            "web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set".into(),
        )),
        (Some(token_file), Some(role_arn)) => assume_role(
            env,
            &WebIdentity {
                token_file: token_file.into(),
                role_arn,
                session_name: env.get("AWS_ROLE_SESSION_NAME"),
                region: env.region(),
            },
        )
        .map(Outcome::Found),
        (Some(_), None) => Err(CredentialsError::provider(
            PROVIDER,
            "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not",
        )),
        (None, Some(_)) => Err(CredentialsError::provider(
            PROVIDER,
            "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not",
        )),
    }
}

/// Trades the token in `identity.token_file` (read anew every time: the
/// orchestrator rotates it) for temporary keys of `identity.role_arn`.
pub(crate) fn assume_role(
    env: &Env,
    identity: &WebIdentity,
) -> Result<AwsCredentials, CredentialsError> {
    let token = std::fs::read_to_string(&identity.token_file).map_err(|e| {
        CredentialsError::provider(
            PROVIDER,
            format!(
                "cannot read the web identity token file {}: {e}",
                identity.token_file.display()
            ),
        )
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(CredentialsError::provider(
            PROVIDER,
            format!(
                "the web identity token file {} is empty",
                identity.token_file.display()
            ),
        ));
    }
    let endpoint = endpoint(env, identity.region.as_deref())?;
    let session_name = identity
        .session_name
        .clone()
        .unwrap_or_else(|| format!("drhost-{}", crate::clock::now_ms() / 1000));
    let agent = http::agent(Duration::from_secs(5), Duration::from_secs(30));
    let form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", identity.role_arn.as_str()),
        ("RoleSessionName", session_name.as_str()),
        ("WebIdentityToken", token),
    ];
    let body = http::send(
        agent
            .post(&format!("{endpoint}/"))
            .set("Accept", "application/xml"),
        Some(&form),
    )
    .map_err(|failure| {
        let message = match failure {
            HttpFailure::Unreachable(reason) => format!("cannot reach STS at {endpoint}: {reason}"),
            HttpFailure::Status(status, body) => format!(
                "STS at {endpoint} refused to let role {} be assumed (HTTP {status}, {}): {}",
                identity.role_arn,
                xml_text(&body, "Code").unwrap_or_default(),
                xml_text(&body, "Message").unwrap_or_default()
            ),
        };
        CredentialsError::provider(PROVIDER, message)
    })?;
    credentials(&body)
}

/// STS's endpoint, without a trailing `/`.
fn endpoint(env: &Env, region: Option<&str>) -> Result<String, CredentialsError> {
    let configured = env
        .get("AWS_ENDPOINT_URL_STS")
        .or_else(|| env.get("AWS_ENDPOINT_URL"));
    let endpoint = match (configured, region) {
        (Some(url), _) => url,
        (None, Some(region)) => format!("https://sts.{region}.amazonaws.com"),
        (None, None) => "https://sts.amazonaws.com".into(),
    };
    if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
        return Err(CredentialsError::provider(
            PROVIDER,
            format!("the STS endpoint {endpoint:?} must start with https:// or http://"),
        ));
    }
    Ok(endpoint.trim_end_matches('/').to_string())
}

/// The keys of an `AssumeRoleWithWebIdentityResponse`.
fn credentials(body: &str) -> Result<AwsCredentials, CredentialsError> {
    let credentials = element(body, "Credentials")
        .ok_or_else(|| CredentialsError::provider(PROVIDER, "STS answered without Credentials"))?;
    let field = |name: &str| {
        xml_text(credentials, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                CredentialsError::provider(PROVIDER, format!("STS answered without {name}"))
            })
    };
    let expiration = field("Expiration")?;
    Ok(AwsCredentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: Some(field("SessionToken")?),
        expiration: Some(parse_timestamp(&expiration).ok_or_else(|| {
            CredentialsError::provider(
                PROVIDER,
                format!("STS's Expiration {expiration:?} is not an ISO 8601 time"),
            )
        })?),
        provider: PROVIDER,
    })
}

/// The inside of the first `<name>…</name>` of `xml` (STS answers are flat
/// and small: no parser is needed for the handful of fields read).
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..start + end])
}

/// [`element`]'s text with XML's predefined entities decoded.
fn xml_text(xml: &str, name: &str) -> Option<String> {
    element(xml, name).map(|text| {
        text.trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::TestServer;

    #[test]
    fn an_answer_gives_temporary_keys() {
        let body = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <SessionToken>FwoG&amp;token</SessionToken>
      <SecretAccessKey>wJalr</SecretAccessKey>
      <Expiration>2030-01-01T00:00:00Z</Expiration>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"#;
        let keys = credentials(body).expect("keys");
        assert_eq!(keys.access_key_id, "ASIAEXAMPLE");
        assert_eq!(keys.session_token.as_deref(), Some("FwoG&token"));
        assert_eq!(keys.expiration, parse_timestamp("2030-01-01T00:00:00Z"));
        assert!(credentials("<Error/>").is_err());
    }

    #[test]
    fn the_endpoint_is_configured_regional_or_global() {
        let env = Env::from_pairs([]);
        assert_eq!(
            endpoint(&env, None).ok().as_deref(),
            Some("https://sts.amazonaws.com")
        );
        assert_eq!(
            endpoint(&env, Some("eu-west-1")).ok().as_deref(),
            Some("https://sts.eu-west-1.amazonaws.com")
        );
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1/"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2/"),
        ]);
        assert_eq!(
            endpoint(&env, Some("r")).ok().as_deref(),
            Some("http://127.0.0.1:2")
        );
        let env = Env::from_pairs([("AWS_ENDPOINT_URL_STS", "sts.local")]);
        assert!(endpoint(&env, None).is_err());
    }

    /// STS's refusal is told with its code and message; the token travels
    /// in the form body, read from its file.
    #[test]
    fn a_refusal_names_the_role_and_the_reason() {
        let server = TestServer::start(|_| {
            (
                403,
                "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>\
                 <Message>Couldn&apos;t retrieve verification key</Message></Error></ErrorResponse>"
                    .into(),
            )
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "eyJhbGciOi.jwt\n").expect("token");
        let (url, file) = (server.url(), token_file.display().to_string());
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL_STS", url.as_str()),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", file.as_str()),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/drhost"),
            ("AWS_ROLE_SESSION_NAME", "nightly"),
        ]);
        let err = provide_from_env(&env).err().expect("refused");
        let text = err.to_string();
        assert!(text.contains("InvalidIdentityToken"), "{text}");
        assert!(text.contains("Couldn't retrieve"), "{text}");
        assert!(text.contains("role/drhost"), "{text}");
        let request = &server.requests()[0];
        assert_eq!(request.method, "POST");
        for field in [
            "Action=AssumeRoleWithWebIdentity",
            "WebIdentityToken=eyJhbGciOi.jwt",
            "RoleSessionName=nightly",
        ] {
            assert!(request.body.contains(field), "{}", request.body);
        }
        assert!(!request.body.contains("%0A"), "the token is trimmed");
    }

    #[test]
    fn half_a_configuration_is_an_error() {
        let env = Env::from_pairs([("AWS_ROLE_ARN", "arn:aws:iam::1:role/r")]);
        let err = provide_from_env(&env).err().expect("no token file");
        assert!(
            err.to_string().contains("AWS_WEB_IDENTITY_TOKEN_FILE"),
            "{err}"
        );
    }
}
