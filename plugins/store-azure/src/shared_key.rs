//! Azure Storage's Shared Key authorization: the string-to-sign of a request
//! (its verb, the standard headers Azure signs, the canonicalized `x-ms-*`
//! headers and the canonicalized resource) and its HMAC-SHA256 under the
//! base64-decoded account key, sent as `SharedKey <account>:<signature>`.
//! Also the HMAC the tests use to sign SAS tokens the same way.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The standard headers Azure signs, in string-to-sign order. `Content-Length`
/// is signed empty when zero (every version since 2015-02-21).
const SIGNED_STANDARD_HEADERS: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
];

/// What is signed of one request.
pub struct Canonical<'a> {
    pub method: &'a str,
    pub account: &'a str,
    /// The URI path as sent (percent-encoded), e.g. `/container/a%20b`, or
    /// `/devstoreaccount1/container/blob` for a path-style endpoint.
    pub path: &'a str,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// Lowercase names.
    pub headers: &'a [(String, String)],
}

/// The string-to-sign of `request`.
pub fn string_to_sign(request: &Canonical<'_>) -> String {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let mut out = String::new();
    out.push_str(request.method);
    out.push('\n');
    for name in SIGNED_STANDARD_HEADERS {
        let value = header(name);
        if name == "content-length" && value == "0" {
            out.push('\n');
            continue;
        }
        out.push_str(value);
        out.push('\n');
    }
    out.push_str(&canonical_headers(request.headers));
    out.push_str(&canonical_resource(
        request.account,
        request.path,
        request.query,
    ));
    out
}

/// Every `x-ms-*` header as `name:value\n`, sorted by name, the value's
/// runs of whitespace folded to one space.
fn canonical_headers(headers: &[(String, String)]) -> String {
    let mut ms: Vec<(&str, String)> = headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-ms-"))
        .map(|(k, v)| {
            (
                k.as_str(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    ms.sort();
    ms.into_iter().map(|(k, v)| format!("{k}:{v}\n")).collect()
}

/// `/<account><path>`, then each query parameter as `\nname:value`, sorted
/// by (lowercased) name, the values of a repeated name sorted and joined
/// with commas.
fn canonical_resource(account: &str, path: &str, query: &[(String, String)]) -> String {
    let mut out = format!("/{account}{path}");
    let mut params: Vec<(String, Vec<&str>)> = Vec::new();
    for (name, value) in query {
        let name = name.to_ascii_lowercase();
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => params.push((name, vec![value])),
        }
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut values) in params {
        values.sort_unstable();
        out.push_str(&format!("\n{name}:{}", values.join(",")));
    }
    out
}

/// Base64 of HMAC-SHA256 of `message` under `key` (the decoded account key).
pub fn sign(key: &[u8], message: &str) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value for `request`.
pub fn authorization(account: &str, key: &[u8], request: &Canonical<'_>) -> String {
    format!(
        "SharedKey {account}:{}",
        sign(key, &string_to_sign(request))
    )
}

/// The account key as configured (base64), decoded.
pub fn decode_key(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.trim()).ok().filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Azurite's well-known development key (public, documented by Microsoft).
    const DEV_KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    type Pairs = Vec<(String, String)>;

    /// The headers and query of a Put Blob.
    fn put_request() -> (Pairs, Pairs) {
        let headers = vec![
            ("x-ms-version".to_owned(), "2023-11-03".to_owned()),
            (
                "x-ms-date".to_owned(),
                "Fri, 04 Dec 2026 13:15:38 GMT".to_owned(),
            ),
            ("x-ms-blob-type".to_owned(), "BlockBlob".to_owned()),
            ("content-length".to_owned(), "11".to_owned()),
        ];
        (headers, Vec::new())
    }

    #[test]
    fn builds_the_string_to_sign_of_a_put() {
        let (headers, query) = put_request();
        let canonical = Canonical {
            method: "PUT",
            account: "devstoreaccount1",
            path: "/devstoreaccount1/backups/packs/a%20b",
            query: &query,
            headers: &headers,
        };
        assert_eq!(
            string_to_sign(&canonical),
            "PUT\n\n\n11\n\n\n\n\n\n\n\n\n\
             x-ms-blob-type:BlockBlob\n\
             x-ms-date:Fri, 04 Dec 2026 13:15:38 GMT\n\
             x-ms-version:2023-11-03\n\
             /devstoreaccount1/devstoreaccount1/backups/packs/a%20b"
        );
        // Computed independently: Python's
        // base64.b64encode(hmac.new(base64.b64decode(DEV_KEY),
        //     string_to_sign.encode(), hashlib.sha256).digest()).
        assert_eq!(
            authorization(
                "devstoreaccount1",
                &decode_key(DEV_KEY).unwrap(),
                &canonical
            ),
            "SharedKey devstoreaccount1:F7za3fuQ7v+m1zc+c1N7uAiBH9na24OjheAES9+a8a8="
        );
    }

    #[test]
    fn canonicalizes_the_query_and_zero_lengths() {
        let headers = vec![
            (
                "x-ms-date".to_owned(),
                "Fri, 04 Dec 2026 13:15:38 GMT".to_owned(),
            ),
            ("x-ms-version".to_owned(), "2023-11-03".to_owned()),
            ("content-length".to_owned(), "0".to_owned()),
            ("x-ms-range".to_owned(), "bytes=0-9".to_owned()),
        ];
        let query = vec![
            ("restype".to_owned(), "container".to_owned()),
            ("comp".to_owned(), "list".to_owned()),
            ("prefix".to_owned(), "backups/x y".to_owned()),
            ("Include".to_owned(), "b".to_owned()),
            ("include".to_owned(), "a".to_owned()),
        ];
        let canonical = Canonical {
            method: "GET",
            account: "acct",
            path: "/backups",
            query: &query,
            headers: &headers,
        };
        let sts = string_to_sign(&canonical);
        assert_eq!(
            sts,
            "GET\n\n\n\n\n\n\n\n\n\n\n\n\
             x-ms-date:Fri, 04 Dec 2026 13:15:38 GMT\n\
             x-ms-range:bytes=0-9\n\
             x-ms-version:2023-11-03\n\
             /acct/backups\n\
             comp:list\n\
             include:a,b\n\
             prefix:backups/x y\n\
             restype:container"
        );
        assert_eq!(
            sign(&decode_key(DEV_KEY).unwrap(), &sts),
            "KxVTlR7DWhTWaJVGl4wob9w9rAE+SF37dkTtzJ5wYa8="
        );
    }

    #[test]
    fn refuses_keys_that_are_not_base64() {
        assert!(decode_key("not base64!").is_none());
        assert!(decode_key("").is_none());
        assert_eq!(decode_key("AAEC").as_deref(), Some(&[0u8, 1, 2][..]));
    }
}
