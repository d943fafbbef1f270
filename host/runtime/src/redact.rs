//! Keeps the secrets a plugin is handed (database passwords, access keys) out
//! of everything the host records about it: its log lines, its output, its
//! status messages and its errors. A plugin needs the secret to do its work,
//! but neither a buggy nor a hostile one may get it into the job log.

use std::borrow::Cow;
use std::sync::Arc;

/// What replaces a secret in recorded text.
pub const REDACTED: &str = "[redacted]";

/// The secrets of one plugin call.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Arc<[String]>,
}

impl Redactor {
    pub(crate) fn new(secrets: &[String]) -> Self {
        Self {
            secrets: secrets.iter().filter(|s| !s.is_empty()).cloned().collect(),
        }
    }

    /// `text` with every occurrence of a secret replaced.
    pub(crate) fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for secret in self.secrets.iter() {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), REDACTED));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_of_every_secret_is_replaced() {
        let redactor = Redactor::new(&["hunter2".into(), String::new(), "k3y".into()]);
        assert_eq!(
            redactor.apply("pw hunter2, again hunter2, key k3y"),
            "pw [redacted], again [redacted], key [redacted]"
        );
        assert!(matches!(redactor.apply("nothing here"), Cow::Borrowed(_)));
    }
}
