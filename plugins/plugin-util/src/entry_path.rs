//! Archive entry paths: relative, `/`-separated, no `.`/`..`/empty components,
//! no NUL. The host checks them too; plugins check again where a path comes
//! from outside (a database server's archive) or is about to become a file
//! name on a restore target.

/// Why `path` is not a well-formed entry path, or `Ok` if it is.
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

/// The proper ancestors of a valid entry path, outermost first
/// (`a/b/c` → `a`, `a/b`).
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_relative_paths() {
        for ok in ["a", "a/b", ".hidden", "a/..b", "x y/ü", "a/.../b"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_escapes_and_odd_forms() {
        for bad in [
            "", "/a", "a/", "a//b", ".", "..", "a/./b", "a/..", "../a", "a\0b",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists_ancestors_outermost_first() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
    }
}
