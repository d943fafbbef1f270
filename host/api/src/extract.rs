//! Facts read from request headers: the caller's token and the public base
//! URL used in `jobsUrl`.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::params::Params;

/// `X-Esri-Authorization`, used by the ArcGIS API for Python and web-tier setups.
pub(crate) const ESRI_AUTHORIZATION: &str = "x-esri-authorization";

/// The request's token (spec §2.2), by precedence: `token` parameter (body or
/// query), `X-Esri-Authorization: Bearer`, `Authorization: Bearer`. Empty
/// values count as absent.
pub(crate) fn request_token<'a>(params: &'a Params, headers: &'a HeaderMap) -> Option<&'a str> {
    params
        .text("token")
        .or_else(|| headers.get(ESRI_AUTHORIZATION).and_then(bearer))
        .or_else(|| headers.get(header::AUTHORIZATION).and_then(bearer))
}

fn bearer(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `<scheme>://<host>` as the client sees this server: the `Host` header
/// (`localhost` if absent or odd) and `X-Forwarded-Proto` (`http` unless it
/// says `https`).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .map(str::trim)
        .filter(|value| value.eq_ignore_ascii_case("https"))
        .map_or("http", |_| "https");
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| is_plausible_host(host))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn token_precedence() {
        let both = headers(&[
            ("authorization", "Bearer a"),
            (ESRI_AUTHORIZATION, "bearer e"),
        ]);
        let body = Params::from_parts(Some("token=q"), b"token=b").expect("params");
        let query = Params::from_parts(Some("token=q"), b"").expect("params");
        let none = Params::default();
        let empty = Params::from_parts(Some("token="), b"").expect("params");
        assert_eq!(request_token(&body, &both), Some("b"));
        assert_eq!(request_token(&query, &both), Some("q"));
        assert_eq!(request_token(&none, &both), Some("e"));
        assert_eq!(request_token(&empty, &both), Some("e"));
        let auth_only = headers(&[("authorization", "Bearer  a ")]);
        assert_eq!(request_token(&none, &auth_only), Some("a"));
        let basic = headers(&[("authorization", "Basic YWRtaW46eA==")]);
        assert_eq!(request_token(&none, &basic), None);
        assert_eq!(
            request_token(&none, &headers(&[("authorization", "Bearer ")])),
            None
        );
    }

    #[test]
    fn base_urls() {
        assert_eq!(base_url(&headers(&[("host", "h:8080")])), "http://h:8080");
        assert_eq!(
            base_url(&headers(&[
                ("host", "h"),
                ("x-forwarded-proto", "HTTPS, http")
            ])),
            "https://h"
        );
        assert_eq!(
            base_url(&headers(&[("host", "h"), ("x-forwarded-proto", "gopher")])),
            "http://h"
        );
        assert_eq!(
            base_url(&headers(&[("host", "a/b\"c")])),
            "http://localhost"
        );
        assert_eq!(base_url(&HeaderMap::new()), "http://localhost");
    }
}
