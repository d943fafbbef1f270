//! The shared credentials and config files (`~/.aws/credentials`,
//! `~/.aws/config`, or `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`),
//! profile `AWS_PROFILE` or `default`. A profile gives static keys
//! (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`), or
//! a role to assume with a web identity token (`role_arn` and
//! `web_identity_token_file`). The credentials file wins over the config
//! file where both set a key, as in the AWS CLI.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::sts::{self, WebIdentity};
use super::{AwsCredentials, CredentialsError, Env, Outcome};

const PROVIDER: &str = "shared credentials files";

/// Keys that name other ways of getting a profile's credentials, which
/// drhost does not implement: said rather than silently skipped.
const UNSUPPORTED: &[&str] = &[
    "source_profile",
    "credential_source",
    "credential_process",
    "sso_session",
    "sso_start_url",
];

pub(crate) fn provide(env: &Env) -> Result<Outcome, CredentialsError> {
    let explicit = env.get("AWS_PROFILE");
    let name = explicit.clone().unwrap_or_else(|| "default".into());
    let home = env.get("HOME").map(PathBuf::from);
    let in_home = |file: &str| home.as_ref().map(|h| h.join(".aws").join(file));
    let credentials_file = env
        .get("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| in_home("credentials"));
    let config_file = env
        .get("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| in_home("config"));
    let files = [&credentials_file, &config_file]
        .iter()
        .filter_map(|f| f.as_ref().map(|f| f.display().to_string()))
        .collect::<Vec<_>>()
        .join(" and ");

    let mut keys = HashMap::new();
    let mut found = false;
    // The config file names profiles `[profile NAME]` (`[default]` too).
    if let Some(text) = read_optional(config_file.as_deref())? {
        let wanted = format!("profile {name}");
        if let Some(section) = section(&text, |s| {
            s == wanted || (name == "default" && s == "default")
        }) {
            keys.extend(section);
            found = true;
        }
    }
    if let Some(text) = read_optional(credentials_file.as_deref())?
        && let Some(section) = section(&text, |s| s == name)
    {
        keys.extend(section);
        found = true;
    }
    if !found {
        return match explicit {
            Some(_) => Err(CredentialsError::provider(
                PROVIDER,
                format!("profile '{name}' (AWS_PROFILE) is not in {files}"),
            )),
            None => Ok(Outcome::Skipped(format!(
                "shared files: no profile 'default' in {}",
                if files.is_empty() {
                    "(HOME is not set)"
                } else {
                    &files
                }
            ))),
        };
    }
    let key = |k: &str| keys.get(k).filter(|v| !v.is_empty()).cloned();
    match (key("aws_access_key_id"), key("aws_secret_access_key")) {
        (Some(access_key_id), Some(secret_access_key)) => {
            return Ok(Outcome::Found(AwsCredentials {
                access_key_id,
                secret_access_key,
                session_token: key("aws_session_token"),
                expiration: None,
                provider: PROVIDER,
            }));
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(CredentialsError::provider(
                PROVIDER,
                format!(
                    "profile '{name}' has only one of aws_access_key_id and aws_secret_access_key"
                ),
            ));
        }
        (None, None) => {}
    }
    if let (Some(role_arn), Some(token_file)) = (key("role_arn"), key("web_identity_token_file")) {
        let identity = WebIdentity {
            token_file: token_file.into(),
            role_arn,
            session_name: key("role_session_name"),
            region: env.region().or_else(|| key("region")),
        };
        return sts::assume_role(env, &identity).map(Outcome::Found);
    }
    if let Some(unsupported) = UNSUPPORTED.iter().find(|k| keys.contains_key(**k)) {
        return Err(CredentialsError::provider(
            PROVIDER,
            format!(
                "profile '{name}' gets its credentials through {unsupported}, which drhost does \
                 not support: give the profile aws_access_key_id and aws_secret_access_key, or \
                 role_arn with web_identity_token_file"
            ),
        ));
    }
    match explicit {
        Some(_) => Err(CredentialsError::provider(
            PROVIDER,
            format!(
                "profile '{name}' has no credentials (aws_access_key_id and \
                 aws_secret_access_key, or role_arn with web_identity_token_file)"
            ),
        )),
        // A default profile that only sets a region is common on machines
        // whose keys come from elsewhere (an instance role).
        None => Ok(Outcome::Skipped(format!(
            "shared files: profile 'default' in {files} has no credentials"
        ))),
    }
}

/// The file's text; `None` when there is no such file.
fn read_optional(path: Option<&Path>) -> Result<Option<String>, CredentialsError> {
    let Some(path) = path else {
        return Ok(None);
    };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CredentialsError::provider(
            PROVIDER,
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

/// The `key = value` pairs of the first section whose name `wanted` accepts
/// (names with inner blanks collapsed). Comment lines start with `#` or `;`;
/// indented lines continue a nested setting (`s3 =` …) and are skipped.
fn section(text: &str, wanted: impl Fn(&str) -> bool) -> Option<HashMap<String, String>> {
    let mut current: Option<HashMap<String, String>> = None;
    let mut in_wanted = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            if in_wanted {
                break;
            }
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            in_wanted = wanted(&name);
            if in_wanted {
                current = Some(HashMap::new());
            }
            continue;
        }
        if !in_wanted || line.starts_with([' ', '\t']) {
            continue;
        }
        if let (Some(section), Some((key, value))) = (current.as_mut(), trimmed.split_once('=')) {
            section.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }

    fn found(outcome: Result<Outcome, CredentialsError>) -> AwsCredentials {
        match outcome {
            Ok(Outcome::Found(keys)) => keys,
            Ok(Outcome::Skipped(why)) => panic!("skipped: {why}"),
            Err(e) => panic!("failed: {e}"),
        }
    }

    #[test]
    fn profiles_come_from_both_files_the_credentials_file_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let credentials = write(
            dir.path(),
            "credentials",
            "# keys\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n\
             [team]\naws_access_key_id=AKIDTEAM\naws_secret_access_key=t\naws_session_token = tok\n",
        );
        let config = write(
            dir.path(),
            "config",
            "[default]\nregion = eu-west-1\n[profile team]\naws_access_key_id = FROMCONFIG\n\
             s3 =\n  max_concurrent_requests = 4\n[profile config-only]\n\
             aws_access_key_id = AKIDCFG\naws_secret_access_key = c\n",
        );
        let env = |profile: Option<&str>| {
            let mut pairs = vec![
                ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
                ("AWS_CONFIG_FILE", config.as_str()),
            ];
            if let Some(p) = profile {
                pairs.push(("AWS_PROFILE", p));
            }
            Env::from_pairs(pairs)
        };
        assert_eq!(found(provide(&env(None))).access_key_id, "AKIDDEFAULT");
        let team = found(provide(&env(Some("team"))));
        assert_eq!(team.access_key_id, "AKIDTEAM");
        assert_eq!(team.session_token.as_deref(), Some("tok"));
        assert_eq!(
            found(provide(&env(Some("config-only")))).access_key_id,
            "AKIDCFG"
        );
        let missing = provide(&env(Some("nobody")))
            .err()
            .expect("no such profile");
        assert!(missing.to_string().contains("'nobody'"), "{missing}");
    }

    #[test]
    fn a_profile_without_keys_is_skipped_unless_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write(
            dir.path(),
            "config",
            "[default]\nregion = us-east-1\n[profile chained]\nrole_arn = arn:aws:iam::1:role/r\n\
             source_profile = default\n",
        );
        let env = |profile: &str| {
            Env::from_pairs([
                ("AWS_CONFIG_FILE", config.as_str()),
                ("HOME", "/nonexistent"),
                ("AWS_PROFILE", profile),
            ])
        };
        let default = Env::from_pairs([("AWS_CONFIG_FILE", config.as_str()), ("HOME", "/x")]);
        assert!(matches!(provide(&default), Ok(Outcome::Skipped(_))));
        let chained = provide(&env("chained")).err().expect("unsupported");
        assert!(chained.to_string().contains("source_profile"), "{chained}");
        let named = provide(&env("default")).err().expect("named but empty");
        assert!(named.to_string().contains("has no credentials"), "{named}");
        let nothing = Env::from_pairs([("HOME", "/nonexistent")]);
        assert!(matches!(provide(&nothing), Ok(Outcome::Skipped(_))));
    }
}
