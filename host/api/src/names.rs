//! Checks of the names that appear in paths and parameters (stores, backups,
//! jobs) before they reach [`crate::DrOps`], which validates them further.

use crate::error::ApiError;

/// Longest accepted name, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Store,
    Backup,
    Job,
    Plugin,
}

impl NameKind {
    fn label(self) -> &'static str {
        match self {
            NameKind::Store => "backup store name",
            NameKind::Backup => "backup name",
            NameKind::Job => "job id",
            NameKind::Plugin => "plugin name",
        }
    }

    /// Names that would collide with an operation's path segment.
    fn reserved(self) -> &'static [&'static str] {
        match self {
            NameKind::Store => &["register"],
            NameKind::Backup => &["create"],
            NameKind::Job | NameKind::Plugin => &[],
        }
    }
}

/// Checks a name taken from a path. The message never echoes the name.
pub(crate) fn check(kind: NameKind, name: &str) -> Result<(), ApiError> {
    let problem = if name.is_empty() {
        Some("it must not be empty")
    } else if name.len() > MAX_NAME_BYTES {
        Some("it is too long (at most 255 bytes)")
    } else if name == "." || name == ".." {
        Some("it must not be '.' or '..'")
    } else if name.contains(['/', '\\']) {
        Some("it must not contain '/' or '\\'")
    } else if name.chars().any(char::is_control) {
        Some("it must not contain control characters")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(ApiError::BadRequest(format!(
            "Invalid {}: {problem}.",
            kind.label()
        ))),
        None => Ok(()),
    }
}

/// Checks the name of something about to be created (from a parameter): as
/// [`check`], and not a word that its path would confuse with an operation.
pub(crate) fn check_new(kind: NameKind, name: &str) -> Result<(), ApiError> {
    check(kind, name)?;
    if kind.reserved().contains(&name) {
        return Err(ApiError::BadRequest(format!(
            "Invalid {}: '{name}' is reserved.",
            kind.label()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "default",
            "store-1",
            "schedule1-2021-10-26-22-00-46",
            "a b",
            "é",
            "..x",
        ] {
            assert_eq!(check(NameKind::Store, name), Ok(()), "{name}");
        }
        assert_eq!(check(NameKind::Store, &"a".repeat(255)), Ok(()));
    }

    #[test]
    fn rejects_bad_names() {
        let long = "a".repeat(10_000);
        for name in ["", ".", "..", "a/b", "a\\b", "a\0b", "a\nb", &long] {
            let error = check(NameKind::Backup, name).unwrap_err();
            assert!(matches!(error, ApiError::BadRequest(_)), "{name:?}");
            assert!(!error.to_string().contains("aaaa"));
        }
    }

    #[test]
    fn reserved_names() {
        assert!(check_new(NameKind::Store, "register").is_err());
        assert!(check_new(NameKind::Backup, "create").is_err());
        assert!(check_new(NameKind::Backup, "register").is_ok());
    }
}
