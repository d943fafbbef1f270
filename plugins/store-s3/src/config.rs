//! The store configuration: the `s3-client` connection keys plus the secret
//! in `secret_key`, e.g.
//! `{"endpoint": "http://127.0.0.1:3900", "region": "garage", "bucket":
//! "drhost", "prefix": "backups/team-a", "access_key": "GK...",
//! "secret_key": "..."}`, and `session_token` with temporary keys (an
//! IAM-ROLE store, whose host fills in fresh keys for every call).

use s3_client::Settings;
use s3_client::settings;

const SECRET_KEY: &str = "secret_key";

pub fn parse(text: &str) -> Result<Settings, String> {
    let mut known = settings::KEYS.to_vec();
    known.extend([SECRET_KEY, settings::SESSION_TOKEN]);
    settings::connection(&settings::object(text, &known)?, SECRET_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let s = parse(
            r#"{"endpoint":"http://127.0.0.1:3900","region":"garage","bucket":"drhost",
                "prefix":"backups/team-a","path_style":true,"access_key":"GK31c2f218a2e44f485b94239e",
                "secret_key":"b892c0665f0ada8a4755dae98baa3b133590e11dae3bcc1f9d769d67f16c3835"}"#,
        )
        .unwrap();
        assert_eq!(s.endpoint.url, "http://127.0.0.1:3900");
        assert_eq!(s.region, "garage");
        assert_eq!(s.bucket, "drhost");
        assert_eq!(s.prefix, "backups/team-a/");
        assert!(s.path_style);
        assert!(!format!("{s:?}").contains("b892c0665f"));
    }

    #[test]
    fn takes_the_session_token_of_temporary_keys() {
        let s = parse(
            r#"{"endpoint":"http://127.0.0.1:3900","bucket":"b","access_key":"ASIA1",
                "secret_key":"s","session_token":"FwoGZXIvYXdzEB"}"#,
        )
        .unwrap();
        assert_eq!(
            s.credentials.session_token.as_deref(),
            Some("FwoGZXIvYXdzEB")
        );
        assert!(!format!("{s:?}").contains("FwoGZXIvYXdzEB"));
        let bad = parse(
            r#"{"endpoint":"http://127.0.0.1:3900","bucket":"b","access_key":"a",
                "secret_key":"s","session_token":7}"#,
        )
        .unwrap_err();
        assert!(bad.contains("session_token"), "{bad}");
    }

    #[test]
    fn refuses_a_stage_style_password() {
        let err = parse(
            r#"{"endpoint":"http://127.0.0.1:3900","bucket":"b","access_key":"a","password":"p"}"#,
        )
        .unwrap_err();
        assert!(
            err.contains("unknown configuration key `password`"),
            "{err}"
        );
        assert!(!err.contains("\"p\""));
    }
}
