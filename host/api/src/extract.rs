//! The caller's token, from the request's parameters and headers. (Absolute
//! URLs come from the configured public URL, never from the `Host` header,
//! which the client chooses.)

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
}
