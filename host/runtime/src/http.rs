//! Outgoing `wasi:http` for plugins, deny-by-default: a request leaves the
//! host only when its authority (`host:port`) is one the operator granted.
//!
//! The check sits in [`WasiHttpHooks::send_request`], the single point every
//! guest request passes through. wasmtime-wasi-http resolves and connects by
//! itself there (not through the WASI socket policy), so this hook is the
//! whole of the network policy for HTTP. The `Host` header is forbidden to
//! the guest and derived from the URI, so a guest cannot dress a request to a
//! granted authority up as one to another. For authorities an API client
//! chose, the addresses the authority resolves to are checked as well
//! ([`EndpointPolicy`]), on every request, so a name that later resolves
//! elsewhere is refused too. (wasmtime-wasi-http resolves the name once more
//! to connect: a resolver answering differently within that instant could
//! still lead elsewhere, which IP-literal endpoints rule out.)

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::endpoints::{EndpointPolicy, EndpointRefusal};
use crate::notes::SandboxDenials;

/// The authorities one call may reach, normalised by [`normalize_authority`].
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpPolicy {
    allowed: Arc<[String]>,
    /// Where the allowed authorities may resolve to; `None`: anywhere.
    addresses: Option<Arc<EndpointPolicy>>,
    plugin: Arc<str>,
    /// Where a refused request is recorded, so the call's failure names
    /// the missing grant.
    denials: SandboxDenials,
}

impl HttpPolicy {
    pub(crate) fn new(plugin: Arc<str>, granted: &[String]) -> Self {
        let allowed = granted
            .iter()
            .filter_map(|a| normalize_authority(a, None))
            .collect();
        Self {
            allowed,
            addresses: None,
            plugin,
            denials: SandboxDenials::default(),
        }
    }

    /// Records refused requests in `denials`.
    pub(crate) fn with_denials(mut self, denials: SandboxDenials) -> Self {
        self.denials = denials;
        self
    }

    pub(crate) fn with_addresses(mut self, addresses: Option<Arc<EndpointPolicy>>) -> Self {
        self.addresses = addresses;
        self
    }

    /// `Ok` with the normalised authority for a request the grant allows,
    /// else `Err` with the authority it named.
    fn check(&self, uri: &http::Uri) -> Result<String, String> {
        let scheme = uri.scheme_str();
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let normalized = normalize_authority(authority, scheme).unwrap_or_default();
        if !normalized.is_empty() && self.allowed.contains(&normalized) {
            Ok(normalized)
        } else {
            Err(if normalized.is_empty() {
                authority.to_string()
            } else {
                normalized
            })
        }
    }
}

/// `host:port` in lower case, with the scheme's default port filled in
/// (80 for `http`, 443 otherwise). Accepts `host`, `host:port`, `[v6]:port`
/// and a full URL (`https://host:port/path`), so operators can grant what
/// they configured as an endpoint. `None` for something that names no host.
pub fn normalize_authority(text: &str, scheme: Option<&str>) -> Option<String> {
    let text = text.trim();
    let (scheme, rest) = match text.split_once("://") {
        Some((s, rest)) => (Some(s), rest),
        None => (scheme, text),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials in the authority (`user:pw@host`) are never part of a grant.
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let parsed: http::uri::Authority = authority.parse().ok()?;
    let host = parsed.host().to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let port = parsed.port_u16().unwrap_or(match scheme {
        Some(s) if s.eq_ignore_ascii_case("http") => 80,
        _ => 443,
    });
    Some(if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let authority = match self.check(request.uri()) {
            Ok(authority) => authority,
            Err(authority) => {
                // The guest sees `HTTP-request-denied`; the operator sees who
                // tried what, and the call's failure names the missing grant.
                tracing::warn!(
                    plugin = %self.plugin,
                    %authority,
                    "refused a plugin's HTTP request to an authority it was not granted"
                );
                self.denials.record(format!(
                    "an HTTP request to {authority}: no `http_connect` grant of this plugin \
                     (for a store adapter: the store's endpoint) lists it"
                ));
                return Box::new(async { Err(Error::HttpRequestDenied) });
            }
        };
        let options = with_default_timeouts(options);
        let addresses = self.addresses.clone();
        let plugin = self.plugin.clone();
        Box::new(async move {
            use http_body_util::BodyExt;
            if let Some(policy) = addresses {
                check_addresses(&policy, &plugin, &authority).await?;
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options)
                .await
                .inspect_err(|error| {
                    // The guest learns only that the request failed (its
                    // errors say so in one text); the cause is for the operator.
                    tracing::info!(%plugin, %authority, %error, "a plugin's HTTP request failed");
                })?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

/// Refuses a request whose authority resolves to an address `policy` does
/// not allow (`HTTP-request-denied`), or to none (a DNS error, which the
/// guest cannot tell from other failures to connect).
async fn check_addresses(
    policy: &EndpointPolicy,
    plugin: &str,
    authority: &str,
) -> Result<(), Error> {
    match policy.check(authority).await {
        Ok(_) => Ok(()),
        Err(refusal @ EndpointRefusal::NotAllowed { .. }) => {
            tracing::warn!(%plugin, %refusal, "refused a plugin's HTTP request");
            Err(Error::HttpRequestDenied)
        }
        Err(refusal) => {
            tracing::info!(%plugin, %refusal, "a plugin's HTTP request failed");
            Err(Error::DnsError {
                rcode: None,
                info_code: None,
            })
        }
    }
}

/// wasmtime-wasi-http waits 600 s for each phase unless the guest says
/// otherwise, and a guest that passes `request-options` leaks their table
/// entry (wasmtime-wasi-http 48 reads, never deletes, the owned handle),
/// which fails a long call after ten thousand requests. So guests pass none,
/// and the host applies timeouts that suit object stores.
fn with_default_timeouts(options: Option<RequestOptions>) -> Option<RequestOptions> {
    let options = options.unwrap_or_default();
    Some(RequestOptions {
        connect_timeout: options.connect_timeout.or(Some(CONNECT_TIMEOUT)),
        // Completing a large multipart upload can take a server minutes.
        first_byte_timeout: options.first_byte_timeout.or(Some(FIRST_BYTE_TIMEOUT)),
        between_bytes_timeout: options
            .between_bytes_timeout
            .or(Some(BETWEEN_BYTES_TIMEOUT)),
    })
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(300);
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_are_normalised() {
        let n = |t: &str| normalize_authority(t, None);
        assert_eq!(n("127.0.0.1:3900").as_deref(), Some("127.0.0.1:3900"));
        assert_eq!(
            n("http://127.0.0.1:3900/").as_deref(),
            Some("127.0.0.1:3900")
        );
        assert_eq!(n("http://Example.COM").as_deref(), Some("example.com:80"));
        assert_eq!(
            n("https://s3.amazonaws.com/x?y").as_deref(),
            Some("s3.amazonaws.com:443")
        );
        assert_eq!(
            n("s3.amazonaws.com").as_deref(),
            Some("s3.amazonaws.com:443")
        );
        assert_eq!(n("http://u:p@h:1/").as_deref(), Some("h:1"));
        assert_eq!(n("[::1]:9000").as_deref(), Some("[::1]:9000"));
        assert_eq!(n(""), None);
        assert_eq!(n("http:///x"), None);
    }

    #[test]
    fn only_granted_authorities_pass() {
        let policy = HttpPolicy::new("p".into(), &["http://127.0.0.1:3900".into()]);
        let ok: http::Uri = "http://127.0.0.1:3900/bucket/key".parse().unwrap();
        assert!(policy.check(&ok).is_ok());
        for denied in [
            "http://127.0.0.1:3901/bucket",
            "http://localhost:3900/",
            "http://127.0.0.1/",
        ] {
            let uri: http::Uri = denied.parse().unwrap();
            assert!(policy.check(&uri).is_err(), "{denied}");
        }
        let none = HttpPolicy::new("p".into(), &[]);
        assert!(none.check(&ok).is_err());
    }
}
