//! AWS Signature Version 4 for S3 (header-based): canonical request, string
//! to sign, signing key and the `Authorization` header. The payload is always
//! signed (its SHA-256 in `x-amz-content-sha256`): every request body is
//! buffered whole, so `UNSIGNED-PAYLOAD` is never needed.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::encode;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "s3";

/// An access key pair, and the session token of temporary keys (from STS or
/// an instance role). The secret and the token never appear in `Debug`
/// output, error texts or logs; the secret only keys the HMAC, the token
/// travels in the signed `x-amz-security-token` header.
#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What is signed of one request. `path` is already URI-encoded (as sent);
/// `query` holds raw names and values (encoded here); `headers` have
/// lowercase names and must include `host`, `x-amz-date` and
/// `x-amz-content-sha256`.
pub struct Canonical<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub payload_sha256: &'a str,
}

/// Hex SHA-256 of `data`, the `x-amz-content-sha256` value.
pub fn payload_hash(data: &[u8]) -> String {
    plugin_util::hex(&Sha256::digest(data))
}

/// The canonical query string: names and values encoded, sorted by name then
/// value, `name=value` joined by `&` (a name without value keeps its `=`).
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (encode::component(k), encode::component(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

impl Canonical<'_> {
    /// Header names sorted, `;`-joined.
    pub fn signed_headers(&self) -> String {
        let mut names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.join(";")
    }

    pub fn request(&self) -> String {
        let mut headers: Vec<(&str, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), collapse_spaces(v)))
            .collect();
        headers.sort();
        let mut canonical_headers = String::new();
        for (name, value) in &headers {
            canonical_headers.push_str(name);
            canonical_headers.push(':');
            canonical_headers.push_str(value);
            canonical_headers.push('\n');
        }
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            self.path,
            canonical_query(self.query),
            canonical_headers,
            self.signed_headers(),
            self.payload_sha256
        )
    }
}

/// `YYYYMMDD` of an `x-amz-date` (`YYYYMMDDTHHMMSSZ`).
fn date_of(amz_date: &str) -> &str {
    amz_date.get(..8).unwrap_or(amz_date)
}

fn scope(amz_date: &str, region: &str) -> String {
    format!("{}/{region}/{SERVICE}/aws4_request", date_of(amz_date))
}

pub fn string_to_sign(canonical_request: &str, amz_date: &str, region: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope(amz_date, region),
        plugin_util::hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub fn signing_key(secret_key: &str, amz_date: &str, region: &str) -> Vec<u8> {
    let k_date = hmac(
        format!("AWS4{secret_key}").as_bytes(),
        date_of(amz_date).as_bytes(),
    );
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, SERVICE.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The `Authorization` header value for `request` signed at `amz_date`.
pub fn authorization(
    credentials: &Credentials,
    region: &str,
    amz_date: &str,
    request: &Canonical<'_>,
) -> String {
    let to_sign = string_to_sign(&request.request(), amz_date, region);
    let key = signing_key(&credentials.secret_key, amz_date, region);
    let signature = plugin_util::hex(&hmac(&key, to_sign.as_bytes()));
    format!(
        "{ALGORITHM} Credential={}/{},SignedHeaders={},Signature={signature}",
        credentials.access_key,
        scope(amz_date, region),
        request.signed_headers()
    )
}

/// Trims and collapses runs of spaces, as canonical header values require.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    //! The examples of the S3 documentation's "Signature Calculations for the
    //! Authorization Header" page.

    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const DATE: &str = "20130524T000000Z";

    fn credentials() -> Credentials {
        Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    fn headers(extra: &[(&str, &str)], payload: &str) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = vec![
            ("host".into(), "examplebucket.s3.amazonaws.com".into()),
            ("x-amz-date".into(), DATE.into()),
            ("x-amz-content-sha256".into(), payload.into()),
        ];
        h.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        h
    }

    fn signature(auth: &str) -> &str {
        auth.rsplit_once("Signature=").map(|(_, s)| s).unwrap()
    }

    #[test]
    fn get_object_example() {
        let headers = headers(&[("range", "bytes=0-9")], EMPTY_SHA256);
        let request = Canonical {
            method: "GET",
            path: &encode::path("/test.txt"),
            query: &[],
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        assert_eq!(
            request.request(),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\n\
             host;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            string_to_sign(&request.request(), DATE, "us-east-1"),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let auth = authorization(&credentials(), "us-east-1", DATE, &request);
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn put_object_example() {
        let payload = payload_hash(b"Welcome to Amazon S3.");
        assert_eq!(
            payload,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let headers = headers(
            &[
                ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            &payload,
        );
        let request = Canonical {
            method: "PUT",
            path: &encode::path("/test$file.text"),
            query: &[],
            headers: &headers,
            payload_sha256: &payload,
        };
        let auth = authorization(&credentials(), "us-east-1", DATE, &request);
        assert!(auth.contains(
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
        ));
        assert_eq!(
            signature(&auth),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn get_bucket_lifecycle_example() {
        let headers = headers(&[], EMPTY_SHA256);
        let query = [("lifecycle".to_owned(), String::new())];
        let request = Canonical {
            method: "GET",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        let auth = authorization(&credentials(), "us-east-1", DATE, &request);
        assert_eq!(
            signature(&auth),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    #[test]
    fn list_objects_example() {
        let headers = headers(&[], EMPTY_SHA256);
        // Given out of order: the canonical form sorts them.
        let query = [
            ("prefix".to_owned(), "J".to_owned()),
            ("max-keys".to_owned(), "2".to_owned()),
        ];
        let request = Canonical {
            method: "GET",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        assert!(request.request().contains("\nmax-keys=2&prefix=J\n"));
        let auth = authorization(&credentials(), "us-east-1", DATE, &request);
        assert_eq!(
            signature(&auth),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    #[test]
    fn canonical_query_encodes_and_sorts() {
        let q = [
            ("start-after".to_owned(), "a b/c".to_owned()),
            ("list-type".to_owned(), "2".to_owned()),
            ("continuation-token".to_owned(), "1/2+3=".to_owned()),
        ];
        assert_eq!(
            canonical_query(&q),
            "continuation-token=1%2F2%2B3%3D&list-type=2&start-after=a%20b%2Fc"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let text = format!("{:?}", credentials());
        assert!(text.contains("AKIAIOSFODNN7EXAMPLE"));
        assert!(!text.contains("wJalrXUtnFEMI"));
    }
}
