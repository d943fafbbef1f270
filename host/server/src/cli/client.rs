//! A blocking client of the admin API: TLS trusting one CA file, a token
//! from `generateToken`, and the API's error JSON turned into [`ClientError`].

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

/// Token lifetime asked for, in minutes; the host caps it at its maximum
/// (24 h by default). A restore may run for hours and the CLI polls it
/// throughout, so the default hour would be too short.
const TOKEN_MINUTES: &str = "1440";
/// How long one request may take before it counts as a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with its error JSON; `message` is shown as is.
    #[error("{message}")]
    Api { code: i64, message: String },
    /// The host could not be reached (connection, TLS, timeout).
    #[error("cannot reach {url}: {reason}")]
    Transport { url: String, reason: String },
    /// The host answered something that is not the API's JSON.
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse { url: String, reason: String },
    /// The connection settings are unusable.
    #[error("{0}")]
    Config(String),
}

/// How to reach the host.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `https://host:port/<context>`, without a trailing slash.
    pub url: String,
    /// PEM file of the certificate(s) to trust; `None` means the built-in
    /// public roots (for a host with a publicly trusted certificate).
    pub cacert: Option<std::path::PathBuf>,
    /// Allow `http://` (loopback only).
    pub insecure_http: bool,
}

/// A logged-in client.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Client {
    /// Checks the endpoint and builds the TLS configuration; not logged in
    /// yet, so a refused URL is reported before a password is asked for.
    pub fn connect(endpoint: &Endpoint) -> Result<Self, ClientError> {
        let base = endpoint.url.trim_end_matches('/').to_owned();
        let agent = agent(&base, endpoint)?;
        Ok(Client {
            agent,
            base,
            token: String::new(),
        })
    }

    /// Gets a token from `generateToken`.
    pub fn login(&mut self, username: &str, password: &str) -> Result<(), ClientError> {
        let url = format!("{}/sharing/rest/generateToken", self.base);
        let form = [
            ("username", username),
            ("password", password),
            ("client", "referer"),
            ("referer", "drhost-cli"),
            ("expiration", TOKEN_MINUTES),
            ("f", "json"),
        ];
        let answer = answer(&url, self.agent.post(&url).send_form(&form))?;
        self.token = answer
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| ClientError::BadResponse {
                url: url.clone(),
                reason: "generateToken answered no token".to_owned(),
            })?
            .to_owned();
        Ok(())
    }

    /// `GET /admin{path}?f=json`.
    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        let url = format!("{}/admin{path}", self.base);
        let request = self
            .agent
            .get(&url)
            .query("f", "json")
            .set("Authorization", &format!("Bearer {}", self.token));
        answer(&url, request.call())
    }

    /// `POST /admin{path}` with `form` and `f=json`.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<Value, ClientError> {
        let url = format!("{}/admin{path}", self.base);
        let mut fields = form.to_vec();
        fields.push(("f", "json"));
        let request = self
            .agent
            .post(&url)
            .set("Authorization", &format!("Bearer {}", self.token));
        answer(&url, request.send_form(&fields))
    }
}

/// Refuses plain HTTP except to loopback with `--insecure-http`, and trusts
/// only the given CA file for HTTPS.
fn agent(base: &str, endpoint: &Endpoint) -> Result<ureq::Agent, ClientError> {
    let url = url_parts(base)?;
    let builder = ureq::AgentBuilder::new().timeout(REQUEST_TIMEOUT);
    match url.scheme.as_str() {
        "http" => {
            if !endpoint.insecure_http {
                return Err(ClientError::Config(format!(
                    "{base} is plain HTTP, which would send the password and passcode in clear; \
                     use https, or --insecure-http for a host on loopback"
                )));
            }
            if !is_loopback(&url.host) {
                return Err(ClientError::Config(format!(
                    "--insecure-http is only allowed for a loopback host, not {}",
                    url.host
                )));
            }
            Ok(builder.build())
        }
        "https" => match endpoint.cacert.as_deref() {
            Some(cacert) => Ok(builder.tls_config(Arc::new(tls_config(cacert)?)).build()),
            // ureq's own configuration: rustls (ring) and the public web roots.
            None => Ok(builder.build()),
        },
        other => Err(ClientError::Config(format!(
            "unsupported URL scheme '{other}' in {base}; use https://"
        ))),
    }
}

/// A rustls configuration (ring provider) trusting only the certificates in
/// `cacert`: a host's self-signed certificate is pinned, not trusted by name.
fn tls_config(cacert: &Path) -> Result<rustls::ClientConfig, ClientError> {
    let unreadable = |reason: String| {
        ClientError::Config(format!(
            "cannot use the CA certificate {}: {reason}",
            cacert.display()
        ))
    };
    let bytes = std::fs::read(cacert).map_err(|e| unreadable(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    if certs.is_empty() {
        return Err(unreadable("no certificate in it".to_owned()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| unreadable(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Scheme and host of a URL.
struct UrlParts {
    scheme: String,
    host: String,
}

fn url_parts(base: &str) -> Result<UrlParts, ClientError> {
    let invalid = || ClientError::Config(format!("not a valid URL: {base}"));
    let (scheme, rest) = base.split_once("://").ok_or_else(invalid)?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        // `[::1]:6443`
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(invalid());
    }
    Ok(UrlParts {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_owned(),
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The JSON of an answer, or the API's error (HTTP status ≥ 400, or an
/// `error` object in a 200 answer, which ArcGIS servers also send).
fn answer(url: &str, result: Result<ureq::Response, ureq::Error>) -> Result<Value, ClientError> {
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(e)) => {
            return Err(ClientError::Transport {
                url: url.to_owned(),
                reason: transport_reason(&e),
            });
        }
    };
    let status = response.status();
    let text = response.into_string().map_err(|e| ClientError::Transport {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    parse_answer(url, status, &text)
}

/// What went wrong, without the URL ureq repeats, and with a hint for the
/// usual cause of a TLS failure: the host's self-signed certificate not pinned.
fn transport_reason(error: &ureq::Transport) -> String {
    let mut reason = error.kind().to_string();
    if let Some(message) = error.message() {
        reason.push_str(&format!(": {message}"));
    }
    // The cause (a refused connection, a certificate problem) is in the chain.
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if reason.contains("UnknownIssuer") || reason.contains("invalid peer certificate") {
        reason.push_str(
            " (trust the host's certificate with --cacert, or --state-dir to use \
             <state-dir>/tls/cert.pem)",
        );
    }
    reason
}

fn parse_answer(url: &str, status: u16, text: &str) -> Result<Value, ClientError> {
    let value: Value = serde_json::from_str(text).map_err(|_| ClientError::BadResponse {
        url: url.to_owned(),
        reason: format!("HTTP {status}, not JSON"),
    })?;
    if let Some(error) = value.get("error") {
        return Err(ClientError::Api {
            code: error
                .get("code")
                .and_then(Value::as_i64)
                .unwrap_or(i64::from(status)),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("The host reported an error without a message.")
                .to_owned(),
        });
    }
    if status >= 400 {
        return Err(ClientError::BadResponse {
            url: url.to_owned(),
            reason: format!("HTTP {status} without the API's error object"),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str, insecure_http: bool) -> Endpoint {
        Endpoint {
            url: url.to_owned(),
            cacert: None,
            insecure_http,
        }
    }

    #[test]
    fn plain_http_only_to_loopback_and_only_when_asked() {
        for url in [
            "http://127.0.0.1:6443/arcgis",
            "http://localhost/arcgis",
            "http://[::1]:8080/arcgis",
        ] {
            assert!(agent(url, &endpoint(url, true)).is_ok(), "{url}");
            let refused = agent(url, &endpoint(url, false)).expect_err(url);
            assert!(refused.to_string().contains("--insecure-http"), "{refused}");
        }
        let remote = "http://dr.example.org/arcgis";
        let refused = agent(remote, &endpoint(remote, true)).expect_err("remote");
        assert!(
            refused.to_string().contains("only allowed for a loopback"),
            "{refused}"
        );
        assert!(agent("ftp://x/arcgis", &endpoint("ftp://x", true)).is_err());
        assert!(agent("nonsense", &endpoint("nonsense", true)).is_err());
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.pem");
        let error = tls_config(&missing).expect_err("missing");
        assert!(error.to_string().contains("nope.pem"), "{error}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let error = tls_config(&empty).expect_err("empty");
        assert!(error.to_string().contains("no certificate"), "{error}");
    }

    #[test]
    fn api_errors_carry_the_api_message() {
        let body = r#"{"error":{"code":400,"message":"The passcode is incorrect.","details":[]}}"#;
        for status in [200, 400] {
            match parse_answer("u", status, body) {
                Err(ClientError::Api { code, message }) => {
                    assert_eq!(
                        (code, message.as_str()),
                        (400, "The passcode is incorrect.")
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            parse_answer("u", 502, "<html>"),
            Err(ClientError::BadResponse { .. })
        ));
        assert!(matches!(
            parse_answer("u", 500, "{}"),
            Err(ClientError::BadResponse { .. })
        ));
        assert_eq!(
            parse_answer("u", 200, r#"{"status":"success"}"#).expect("ok")["status"],
            "success"
        );
    }
}
