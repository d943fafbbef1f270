//! Keys in the host's environment: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and, with temporary keys, `AWS_SESSION_TOKEN`
//! (and `AWS_CREDENTIAL_EXPIRATION` when whoever set them knows it).

use super::document::parse_timestamp;
use super::{AwsCredentials, CredentialsError, Env, Outcome};

const PROVIDER: &str = "environment";

pub(crate) fn provide(env: &Env) -> Result<Outcome, CredentialsError> {
    match (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        (None, None) => Ok(Outcome::Skipped(
            "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set".into(),
        )),
        (Some(access_key_id), Some(secret_access_key)) => {
            let expiration = match env.get("AWS_CREDENTIAL_EXPIRATION") {
                None => None,
                Some(text) => Some(parse_timestamp(&text).ok_or_else(|| {
                    CredentialsError::provider(
                        PROVIDER,
                        format!("AWS_CREDENTIAL_EXPIRATION {text:?} is not an ISO 8601 time"),
                    )
                })?),
            };
            Ok(Outcome::Found(AwsCredentials {
                access_key_id,
                secret_access_key,
                session_token: env.get("AWS_SESSION_TOKEN"),
                expiration,
                provider: PROVIDER,
            }))
        }
        (Some(_), None) => Err(CredentialsError::provider(
            PROVIDER,
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
        )),
        (None, Some(_)) => Err(CredentialsError::provider(
            PROVIDER,
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_keys_or_neither() {
        let half = Env::from_pairs([("AWS_ACCESS_KEY_ID", "AKID")]);
        let err = provide(&half).err().expect("half a pair");
        assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
        assert!(matches!(
            provide(&Env::from_pairs([("AWS_ACCESS_KEY_ID", "  ")])),
            Ok(Outcome::Skipped(_))
        ));
        let full = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_CREDENTIAL_EXPIRATION", "2030-01-01T00:00:00Z"),
        ]);
        let Ok(Outcome::Found(keys)) = provide(&full) else {
            panic!("keys expected");
        };
        assert_eq!(keys.session_token, None);
        assert_eq!(keys.expiration, parse_timestamp("2030-01-01T00:00:00Z"));
    }
}
