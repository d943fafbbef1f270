//! S3-compatible backup stores: the registration settings of the reference
//! API (`{"type":"S3","provider":{"cloudServices":[{"connection":…}]}}`,
//! spec §9), turned into what the `store-s3` adapter is configured and
//! granted with, and shown back without the secret.

mod iam_role;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use iam_role::IamRoleKeys;

/// Shown in place of a secret in every view.
pub const REDACTED_SECRET: &str = crate::masking::MASK;

/// Where and how an S3 store keeps its objects. Persisted in the store
/// registry (a file private to the host's user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Connection {
    /// `http(s)://host[:port]`; AWS's regional endpoint when not given.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// Key prefix of every object (`rootDir`), without leading or trailing `/`.
    pub prefix: String,
    /// `endpoint/bucket/key` instead of `bucket.endpoint/key`.
    pub path_style: bool,
    /// Stored as `access_key` and `secret_key` (as before IAM-ROLE existed),
    /// or `"credential": "IAM-ROLE"`.
    #[serde(flatten)]
    pub credential: S3Credential,
}

/// How an S3 store's requests are signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum S3Credential {
    /// `{"type":"ACCESS-KEY","secret":{"access_key":…,"secret_key":…}}`:
    /// keys given at registration, kept in the store registry.
    AccessKey {
        access_key: String,
        secret_key: String,
    },
    /// `{"type":"IAM-ROLE"}`: the host's own AWS identity, from the standard
    /// provider chain ([`crate::aws_credentials`]) when each call is made;
    /// nothing is kept.
    IamRole { credential: IamRole },
}

/// The stored marker of an IAM-ROLE store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IamRole {
    #[serde(rename = "IAM-ROLE")]
    IamRole,
}

impl S3Connection {
    /// Parses `settings` of `stores/register`. The connection is the first
    /// cloud service's; drhost adds `endpoint` and `pathStyle` to it for
    /// S3-compatible servers other than AWS.
    pub fn from_settings(settings: &Value) -> Result<Self, String> {
        let connection = crate::stores::cloud_connection(
            settings,
            "S3",
            "bucketName, region, rootDir, credential",
            &[
                "bucketName",
                "region",
                "rootDir",
                "credential",
                "endpoint",
                "pathStyle",
            ],
        )?;
        let text = |key: &str| connection.get(key).and_then(Value::as_str).map(str::trim);
        let bucket = text("bucketName")
            .filter(|b| !b.is_empty())
            .ok_or("connection.bucketName is required")?;
        check_bucket_name(bucket)?;
        let region = text("region").unwrap_or("us-east-1");
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!("connection.region {region:?} is not a region name"));
        }
        let endpoint = match text("endpoint") {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
            || drhost_runtime::normalize_authority(&endpoint, None).is_none()
            || endpoint
                .split("://")
                .nth(1)
                .is_some_and(|rest| rest.contains('/'))
        {
            return Err(format!(
                "connection.endpoint {endpoint:?} must be http(s)://host[:port] with no path"
            ));
        }
        let path_style = match connection.get("pathStyle") {
            None => text("endpoint").is_some(),
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("connection.pathStyle must be true or false".into()),
        };
        let prefix = text("rootDir").unwrap_or("").trim_matches('/').to_string();
        if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
            return Err(format!(
                "connection.rootDir {prefix:?} must not contain '.', '..' or '//' segments"
            ));
        }
        let credential = connection
            .get("credential")
            .ok_or("connection.credential is required")?;
        let kind = credential.get("type").and_then(Value::as_str).unwrap_or("");
        let secret = |key: &str| {
            credential
                .pointer(&format!("/secret/{key}"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or(format!("credential.secret.{key} is required"))
        };
        let credential = if kind.eq_ignore_ascii_case("ACCESS-KEY") {
            S3Credential::AccessKey {
                access_key: secret("access_key")?,
                secret_key: secret("secret_key")?,
            }
        } else if kind.eq_ignore_ascii_case("IAM-ROLE") {
            S3Credential::IamRole {
                credential: IamRole::IamRole,
            }
        } else {
            return Err(format!(
                "credential type {kind:?} is not supported by this host: use {{\"type\":\"IAM-ROLE\"}} \
                 (the host's AWS credentials) or {{\"type\":\"ACCESS-KEY\",\"secret\":\
                 {{\"access_key\":…,\"secret_key\":…}}}}"
            ));
        };
        Ok(Self {
            endpoint,
            region: region.to_string(),
            bucket: bucket.to_string(),
            prefix,
            path_style,
            credential,
        })
    }

    /// The keys given at registration; `None` for an IAM-ROLE store, whose
    /// keys come per call ([`IamRoleKeys`]).
    pub fn static_keys(&self) -> Option<(&str, &str)> {
        match &self.credential {
            S3Credential::AccessKey {
                access_key,
                secret_key,
            } => Some((access_key, secret_key)),
            S3Credential::IamRole { .. } => None,
        }
    }

    /// The `store-s3` adapter's configuration with these keys (it holds the
    /// secret and the token: pass them listed for redaction).
    pub fn adapter_config(
        &self,
        access_key: &str,
        secret_key: &str,
        session_token: Option<&str>,
    ) -> String {
        let mut config = json!({
            "endpoint": self.endpoint,
            "region": self.region,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "path_style": self.path_style,
            "access_key": access_key,
            "secret_key": secret_key,
        });
        if let Some(token) = session_token {
            config["session_token"] = json!(token);
        }
        config.to_string()
    }

    /// The one authority the adapter may reach: the endpoint, or for
    /// virtual-host addressing the bucket's name under it.
    pub fn authority(&self) -> String {
        let authority =
            drhost_runtime::normalize_authority(&self.endpoint, None).unwrap_or_default();
        if self.path_style {
            authority
        } else {
            format!("{}.{authority}", self.bucket)
        }
    }

    /// `settings.provider` as registered, with every secret replaced (of
    /// every cloud service, not only the first, which is the one used), so
    /// views echo the operator's shape without the credentials.
    pub fn redacted_provider(settings: &Value) -> Value {
        crate::masking::masked(settings.get("provider").unwrap_or(&Value::Null))
    }

    /// True when one's objects could lie among the other's: the same bucket,
    /// with one key prefix equal to or inside the other (whole segments, so
    /// `team-a2` is not inside `team-a`). Garbage collection of the outer
    /// store would otherwise list the inner's objects.
    pub fn overlaps(&self, other: &Self) -> bool {
        self.endpoint.eq_ignore_ascii_case(&other.endpoint)
            && self.bucket == other.bucket
            && (prefix_contains(&self.prefix, &other.prefix)
                || prefix_contains(&other.prefix, &self.prefix))
    }
}

/// Whether every key under `inner` also lies under `outer` (prefixes without
/// leading or trailing `/`; the empty prefix is the whole bucket).
pub(crate) fn prefix_contains(outer: &str, inner: &str) -> bool {
    outer.is_empty()
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// S3's bucket naming rules (3–63 of `a-z0-9.-`), which also keep the name
/// safe inside a host name and a URL path.
fn check_bucket_name(bucket: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "connection.bucketName {bucket:?} is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(connection: Value) -> Value {
        json!({"type": "S3", "provider": {"name": "AWS", "cloudServices": [{
            "name": "AWS S3", "type": "objectStore", "usage": "BACKUP", "category": "storage",
            "connection": connection}]}})
    }

    fn key() -> Value {
        json!({"type": "ACCESS-KEY", "secret": {"access_key": "AK", "secret_key": "SK"}})
    }

    #[test]
    fn the_reference_shape_with_an_endpoint_parses() {
        let s = settings(
            json!({"bucketName": "drhost", "region": "garage", "rootDir": "/team-a/",
            "endpoint": "http://127.0.0.1:3900/", "credential": key()}),
        );
        let c = S3Connection::from_settings(&s).expect("parses");
        assert_eq!(c.endpoint, "http://127.0.0.1:3900");
        assert_eq!(c.prefix, "team-a");
        assert!(c.path_style);
        assert_eq!(c.authority(), "127.0.0.1:3900");
        assert_eq!(c.static_keys(), Some(("AK", "SK")));
        assert!(
            c.adapter_config("AK", "SK", None)
                .contains("\"secret_key\":\"SK\"")
        );
    }

    /// Esri's own scripts register S3 stores with `{"type":"IAM-ROLE"}` only.
    #[test]
    fn the_reference_iam_role_form_parses_and_keeps_no_key() {
        let s = settings(json!({"bucketName": "bkt", "region": "us-east-1",
            "rootDir": "backups", "credential": {"type": "IAM-ROLE"}}));
        let c = S3Connection::from_settings(&s).expect("parses");
        assert_eq!(c.static_keys(), None);
        let stored = serde_json::to_value(&c).expect("serializes");
        assert_eq!(stored["credential"], "IAM-ROLE");
        assert!(stored.get("secret_key").is_none(), "{stored}");
        let again: S3Connection = serde_json::from_value(stored).expect("loads");
        assert_eq!(again, c);
        let config = c.adapter_config("ASIA1", "temp-secret", Some("temp-token"));
        assert!(
            config.contains("\"session_token\":\"temp-token\""),
            "{config}"
        );
    }

    /// Registries written before IAM-ROLE existed still load.
    #[test]
    fn registries_with_access_keys_load_as_before() {
        let stored = json!({"endpoint": "http://127.0.0.1:3900", "region": "garage",
            "bucket": "bkt", "prefix": "", "path_style": true,
            "access_key": "AK", "secret_key": "SK"});
        let c: S3Connection = serde_json::from_value(stored.clone()).expect("loads");
        assert_eq!(c.static_keys(), Some(("AK", "SK")));
        assert_eq!(serde_json::to_value(&c).expect("serializes"), stored);
    }

    #[test]
    fn aws_defaults_to_virtual_hosts() {
        let s = settings(json!({"bucketName": "b-1", "region": "eu-west-1", "credential": key()}));
        let c = S3Connection::from_settings(&s).expect("parses");
        assert_eq!(c.endpoint, "https://s3.eu-west-1.amazonaws.com");
        assert!(!c.path_style);
        assert_eq!(c.authority(), "b-1.s3.eu-west-1.amazonaws.com:443");
    }

    #[test]
    fn bad_settings_are_refused_with_the_field_named() {
        let cases = [
            (json!({"type": "S3"}), "cloudServices"),
            (
                settings(json!({"region": "r", "credential": key()})),
                "bucketName",
            ),
            (
                settings(json!({"bucketName": "UPPER", "credential": key()})),
                "bucketName",
            ),
            (settings(json!({"bucketName": "bkt"})), "credential"),
            (
                settings(
                    json!({"bucketName": "bkt", "credential": {"type": "USER-ASSIGNED-IDENTITY"}}),
                ),
                "USER-ASSIGNED-IDENTITY",
            ),
            (
                settings(json!({"bucketName": "bkt", "credential": {"type": "ACCESS-KEY"}})),
                "credential.secret.access_key",
            ),
            (
                settings(json!({"bucketName": "bkt", "endpoint": "ftp://x", "credential": key()})),
                "endpoint",
            ),
            (
                settings(
                    json!({"bucketName": "bkt", "endpoint": "http://h/p", "credential": key()}),
                ),
                "endpoint",
            ),
            (
                settings(json!({"bucketName": "bkt", "rootDir": "a/../b", "credential": key()})),
                "rootDir",
            ),
        ];
        for (s, field) in cases {
            let err = S3Connection::from_settings(&s).expect_err("refused");
            assert!(err.contains(field), "{err} should name {field}");
        }
    }

    #[test]
    fn prefixes_in_one_bucket_overlap_by_whole_segments() {
        let at = |bucket: &str, prefix: &str| {
            let s = settings(json!({"bucketName": bucket, "rootDir": prefix, "credential": key()}));
            S3Connection::from_settings(&s).expect("parses")
        };
        assert!(at("bkt", "team-a").overlaps(&at("bkt", "team-a")));
        assert!(at("bkt", "team-a").overlaps(&at("bkt", "team-a/packs")));
        assert!(at("bkt", "team-a/packs").overlaps(&at("bkt", "team-a")));
        assert!(at("bkt", "").overlaps(&at("bkt", "team-a")));
        assert!(!at("bkt", "team-a").overlaps(&at("bkt", "team-a2")));
        assert!(!at("bkt", "team-a").overlaps(&at("other", "team-a")));
    }

    #[test]
    fn views_never_show_the_secret() {
        let s = settings(json!({"bucketName": "bkt", "credential": key()}));
        let shown = S3Connection::redacted_provider(&s).to_string();
        assert!(!shown.contains("\"SK\""), "{shown}");
        assert!(shown.contains(REDACTED_SECRET));
        assert!(shown.contains("\"AK\""));
    }

    #[test]
    fn views_never_show_the_secret_of_a_second_cloud_service() {
        let mut s = settings(json!({"bucketName": "bkt", "credential": key()}));
        if let Some(services) = s
            .pointer_mut("/provider/cloudServices")
            .and_then(Value::as_array_mut)
        {
            services.push(json!({"name": "spare", "connection": {"bucketName": "b2",
                "credential": {"type": "ACCESS-KEY",
                               "secret": {"access_key": "AK2", "secret_key": "SK2"}}}}));
        }
        let shown = S3Connection::redacted_provider(&s).to_string();
        assert!(
            !shown.contains("SK2") && !shown.contains("\"SK\""),
            "{shown}"
        );
        assert!(shown.contains("AK2"), "{shown}");
    }
}
