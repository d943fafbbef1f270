//! Archive entry paths: relative, `/`-separated, no `.`/`..`/empty components,
//! no NUL. The host checks them too; the plugin checks again because on backup
//! they come from the server and on restore they become file names.

/// Why `path` is not a well-formed entry path, or `Ok`.
pub fn validate(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty entry path".into());
    }
    if path.contains('\0') {
        return Err(format!("entry path {path:?} contains NUL"));
    }
    if path.starts_with('/') {
        return Err(format!("entry path {path:?} is absolute"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "entry path {path:?} has an empty, `.` or `..` component"
        ));
    }
    Ok(())
}

/// The proper ancestors of a valid entry path, outermost first.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_relative_and_refuses_escapes() {
        for ok in ["a", "global/pg_control", "a/..b"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", ".", "..", "a/./b", "../a", "a\0b"] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
    }
}
