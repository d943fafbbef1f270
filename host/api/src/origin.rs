//! Login CSRF: a page elsewhere could make a visitor's browser post the
//! attacker's credentials to `generateToken` with `f=html` and so sign the
//! visitor into the attacker's account, where whatever they then enter
//! (store credentials, passcodes) is the attacker's to read.
//!
//! Browsers say where a request comes from: `Sec-Fetch-Site` (all current
//! ones) and `Origin` (on every POST). A sign-in is refused when
//! `Sec-Fetch-Site` is anything but `same-origin` or `none` (typed by the
//! user), or, without it, when `Origin` names another site than the `Host`
//! the request was sent to. Clients that send neither (scripts, CLIs) are
//! not browsers and keep working.
//!
//! `Origin` alone can be `null` for our own sign-in form, because the pages
//! are served with `Referrer-Policy: no-referrer`; browsers that send it so
//! also send `Sec-Fetch-Site`, which then decides.

use axum::http::{HeaderMap, header};

const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Whether the request was sent by a browser on behalf of another site.
pub(crate) fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get(SEC_FETCH_SITE) {
        return !matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.to_str(), host) {
        (Ok(origin), Some(host)) => !same_authority(origin, host),
        _ => true,
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the server at `host`
/// (the `Host` header), default ports aside.
fn same_authority(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let normalise = |authority: &str| {
        let authority = authority.to_ascii_lowercase();
        match authority.strip_suffix(default_port) {
            Some(bare) => bare.to_owned(),
            None => authority,
        }
    };
    !authority.is_empty() && !authority.contains('/') && normalise(authority) == normalise(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn browsers_posting_from_other_sites_are_cross_site() {
        let host = ("host", "drhost.example:6443");
        for (pairs, cross) in [
            (vec![host], false),
            (vec![host, ("sec-fetch-site", "same-origin")], false),
            (vec![host, ("sec-fetch-site", "none")], false),
            (vec![host, ("sec-fetch-site", "cross-site")], true),
            (vec![host, ("sec-fetch-site", "same-site")], true),
            // Our own form under `no-referrer`: Origin null, Sec-Fetch-Site decides.
            (
                vec![host, ("origin", "null"), ("sec-fetch-site", "same-origin")],
                false,
            ),
            (
                vec![
                    host,
                    ("origin", "https://drhost.example:6443"),
                    ("sec-fetch-site", "cross-site"),
                ],
                true,
            ),
            (vec![host, ("origin", "https://drhost.example:6443")], false),
            (vec![host, ("origin", "https://DRHOST.example:6443")], false),
            (vec![host, ("origin", "https://evil.example")], true),
            (vec![host, ("origin", "https://drhost.example:6444")], true),
            (vec![host, ("origin", "null")], true),
            (vec![host, ("origin", "drhost.example:6443")], true),
            (vec![("origin", "https://drhost.example:6443")], true),
            (
                vec![
                    ("host", "drhost.example"),
                    ("origin", "https://drhost.example:443"),
                ],
                false,
            ),
            (
                vec![
                    ("host", "drhost.example:80"),
                    ("origin", "http://drhost.example"),
                ],
                false,
            ),
            (
                vec![
                    ("host", "drhost.example"),
                    ("origin", "ftp://drhost.example"),
                ],
                true,
            ),
        ] {
            assert_eq!(cross_site(&headers(&pairs)), cross, "{pairs:?}");
        }
    }
}
