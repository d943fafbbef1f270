//! The stage configuration: the `s3-client` connection keys, the secret key
//! in `password` (the host fills it from the operator's `password_file` or
//! `password_env` and redacts it everywhere) and an optional
//! `restore_bucket` (default: `bucket`).

use s3_client::Settings;
use s3_client::settings;

const SECRET_KEY: &str = "password";
const RESTORE_BUCKET: &str = "restore_bucket";

#[derive(Debug)]
pub struct Config {
    /// The bucket backed up.
    pub source: Settings,
    /// Where a restore writes: `source` with `restore_bucket` if named.
    pub target: Settings,
    /// Whether `restore_bucket` was named (validation then checks it).
    pub separate_target: bool,
}

pub fn parse(text: &str) -> Result<Config, String> {
    let mut known = settings::KEYS.to_vec();
    known.extend([SECRET_KEY, RESTORE_BUCKET]);
    let map = settings::object(text, &known)?;
    let source = settings::connection(&map, SECRET_KEY).map_err(|e| {
        if e.contains("`password` is missing") {
            format!(
                "{e}: name the file or environment variable holding it as the stage's \
                 `password_file` or `password_env`"
            )
        } else {
            e
        }
    })?;
    let mut target = source.clone();
    let restore_bucket = settings::string(&map, RESTORE_BUCKET)?;
    if let Some(bucket) = restore_bucket {
        target.bucket = settings::bucket_name(bucket, RESTORE_BUCKET)?;
    }
    Ok(Config {
        source,
        target,
        separate_target: restore_bucket.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        r#""endpoint": "http://127.0.0.1:3900", "bucket": "media", "access_key": "GK1""#;

    #[test]
    fn takes_the_secret_from_password() {
        let c = parse(&format!(
            r#"{{{BASE}, "password": "hunter2", "prefix": "photos"}}"#
        ))
        .unwrap();
        assert_eq!(c.source.credentials.secret_key, "hunter2");
        assert_eq!(c.source.prefix, "photos/");
        assert_eq!(c.target.bucket, "media");
        assert!(!c.separate_target);
        assert!(!format!("{c:?}").contains("hunter2"));

        let c = parse(&format!(
            r#"{{{BASE}, "password": "p", "restore_bucket": "media-restored"}}"#
        ))
        .unwrap();
        assert_eq!(c.source.bucket, "media");
        assert_eq!(c.target.bucket, "media-restored");
        assert!(c.separate_target);
    }

    #[test]
    fn says_where_the_secret_comes_from() {
        let err = parse(&format!("{{{BASE}}}")).unwrap_err();
        assert!(
            err.contains("`password` is missing") && err.contains("password_file"),
            "{err}"
        );
        let err = parse(&format!(r#"{{{BASE}, "secret_key": "s"}}"#)).unwrap_err();
        assert!(
            err.contains("unknown configuration key `secret_key`"),
            "{err}"
        );
        assert!(!err.contains("\"s\""));
        let err = parse(&format!(
            r#"{{{BASE}, "password": "p", "restore_bucket": "a/b"}}"#
        ))
        .unwrap_err();
        assert!(err.contains("`restore_bucket`"), "{err}");
    }
}
