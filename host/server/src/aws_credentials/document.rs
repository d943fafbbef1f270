//! The credentials document the container endpoint and instance metadata
//! serve (`AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`), and the
//! ISO 8601 timestamps they and STS give expirations in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{AwsCredentials, CredentialsError};

/// The keys in a JSON credentials document. Messages name fields only: the
/// body holds the secret.
pub(crate) fn from_json(
    provider: &'static str,
    body: &str,
) -> Result<AwsCredentials, CredentialsError> {
    let document: Value = serde_json::from_str(body).map_err(|_| {
        CredentialsError::provider(provider, "the answer is not a JSON credentials document")
    })?;
    if let Some(code) = document.get("Code").and_then(Value::as_str)
        && code != "Success"
    {
        let message = document
            .get("Message")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(CredentialsError::provider(
            provider,
            format!("the credentials were not issued ({code}): {message}"),
        ));
    }
    let field = |name: &str| {
        document
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let missing =
        |name: &str| CredentialsError::provider(provider, format!("the answer has no {name}"));
    let expiration = match field("Expiration") {
        None => None,
        Some(text) => Some(parse_timestamp(&text).ok_or_else(|| {
            CredentialsError::provider(
                provider,
                format!("the answer's Expiration {text:?} is not an ISO 8601 time"),
            )
        })?),
    };
    Ok(AwsCredentials {
        access_key_id: field("AccessKeyId").ok_or_else(|| missing("AccessKeyId"))?,
        secret_access_key: field("SecretAccessKey").ok_or_else(|| missing("SecretAccessKey"))?,
        session_token: field("Token"),
        expiration,
        provider,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, as AWS writes times.
pub(crate) fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let (date, rest) = text.trim().split_once(['T', 't', ' '])?;
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    let (clock, offset) = if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (clock, zone) = rest.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (h, m) = zone.get(1..)?.split_once(':')?;
        let minutes: i64 = h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?;
        (clock, sign * minutes * 60)
    };
    let whole = clock.split('.').next()?;
    let mut parts = whole.splitn(3, ':');
    let hour: i64 = parts.next()?.parse().ok()?;
    let minute: i64 = parts.next()?.parse().ok()?;
    let second: i64 = parts.next()?.parse().ok()?;
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..=60).contains(&second);
    if !valid {
        return None;
    }
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(seconds))
    }

    #[test]
    fn timestamps_in_the_forms_aws_writes() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), at(0));
        assert_eq!(parse_timestamp("2019-11-09T13:34:41Z"), at(1_573_306_481));
        assert_eq!(
            parse_timestamp("2019-11-09T13:34:41.123Z"),
            at(1_573_306_481)
        );
        assert_eq!(
            parse_timestamp("2019-11-09T14:34:41+01:00"),
            at(1_573_306_481)
        );
        assert_eq!(parse_timestamp("2024-02-29T00:00:00Z"), at(1_709_164_800));
        for bad in [
            "",
            "2019-11-09",
            "2019-13-01T00:00:00Z",
            "soon",
            "2019-11-09T25:00:00Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn documents_give_keys_or_name_what_is_missing() {
        let ok = from_json(
            "container",
            r#"{"AccessKeyId":"ASIA1","SecretAccessKey":"s3cr3t","Token":"tok",
                "Expiration":"2030-01-01T00:00:00Z","RoleArn":"arn:x"}"#,
        )
        .expect("keys");
        assert_eq!(ok.access_key_id, "ASIA1");
        assert_eq!(ok.session_token.as_deref(), Some("tok"));
        assert_eq!(ok.expiration, parse_timestamp("2030-01-01T00:00:00Z"));

        let missing = from_json("container", r#"{"AccessKeyId":"A","Token":"s3cr3t"}"#)
            .expect_err("no secret");
        assert!(missing.to_string().contains("SecretAccessKey"), "{missing}");
        assert!(!missing.to_string().contains("s3cr3t"), "{missing}");
        let refused = from_json(
            "instance metadata",
            r#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"not allowed"}"#,
        )
        .expect_err("refused");
        assert!(
            refused.to_string().contains("AssumeRoleUnauthorizedAccess"),
            "{refused}"
        );
        assert!(from_json("container", "<html>").is_err());
    }
}
