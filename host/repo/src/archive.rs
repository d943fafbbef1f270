//! The entries a stage writes into, and reads back from, a backup. Mirrors the
//! `drhost:plugin/archive` WIT interface.

use serde::{Deserialize, Serialize};

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
}

/// Metadata of one archive entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// Relative, `/`-separated, no `.`/`..` components, no NUL (see [`EntryMeta::validate_path`]).
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub mtime_seconds: i64,
    pub mtime_nanoseconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<(String, String)>,
}

/// Why an entry's path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid entry path {path:?}: {reason}")]
pub struct InvalidPath {
    pub path: String,
    pub reason: &'static str,
}

impl EntryMeta {
    /// Longest path accepted, in bytes.
    pub const MAX_PATH_LEN: usize = 4096;

    /// Checks that the path cannot escape the stage root when restored.
    pub fn validate_path(path: &str) -> Result<(), InvalidPath> {
        let refuse = |reason| {
            Err(InvalidPath {
                path: path.chars().take(200).collect(),
                reason,
            })
        };
        if path.is_empty() {
            return refuse("empty");
        }
        if path.len() > Self::MAX_PATH_LEN {
            return refuse("longer than 4096 bytes");
        }
        if path.contains('\0') {
            return refuse("contains NUL");
        }
        if path.starts_with('/') {
            return refuse("absolute");
        }
        if path.contains('\\') {
            return refuse("contains a backslash");
        }
        for component in path.split('/') {
            match component {
                "" => return refuse("empty component"),
                "." | ".." => return refuse("contains a `.` or `..` component"),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_escape_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "a\0b",
            "a\\b",
        ] {
            assert!(EntryMeta::validate_path(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "a/b/c.txt", ".hidden", "a/..b", "ünïcode/ok"] {
            assert!(EntryMeta::validate_path(good).is_ok(), "{good:?} refused");
        }
    }
}
