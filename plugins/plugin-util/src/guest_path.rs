//! Guest paths as plain strings: WASI 0.2 names files with Unicode strings, and
//! the host's `posix-fs` interface takes them in the same form.

/// Checks that `root` is an absolute guest path without `.`, `..` or empty
/// components, and drops trailing slashes so that [`join`] never doubles one.
pub fn normalize_root(root: &str) -> Result<String, String> {
    if !root.starts_with('/') {
        return Err(format!("must be an absolute guest path, not `{root}`"));
    }
    if root.contains('\0') {
        return Err("must not contain NUL".into());
    }
    let trimmed = root.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok("/".into());
    }
    if trimmed[1..]
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "must not contain empty, `.` or `..` components: `{root}`"
        ));
    }
    Ok(trimmed.to_owned())
}

/// `base` and the relative, `/`-separated `rel` joined with one `/`; an empty
/// `rel` names `base` itself. `base` may itself be relative (or empty).
pub fn join(base: &str, rel: &str) -> String {
    match (base, rel) {
        (_, "") => base.to_owned(),
        ("", _) => rel.to_owned(),
        _ if base.ends_with('/') => format!("{base}{rel}"),
        _ => format!("{base}/{rel}"),
    }
}

/// The part of the absolute guest path `path` below the directory `base`
/// (empty for `base` itself), or `None` if `path` is not inside `base`.
/// `base` may carry trailing slashes, as preopen names sometimes do.
pub fn relative_to<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    let trimmed = base.trim_end_matches('/');
    if trimmed.is_empty() {
        // `base` is `/` (or a relative empty name, which contains nothing).
        return if base.is_empty() {
            None
        } else {
            path.strip_prefix('/')
        };
    }
    match path.strip_prefix(trimmed)? {
        "" => Some(""),
        rest => rest.strip_prefix('/'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_roots() {
        assert_eq!(normalize_root("/data").unwrap(), "/data");
        assert_eq!(normalize_root("/data//").unwrap(), "/data");
        assert_eq!(normalize_root("///").unwrap(), "/");
        assert!(normalize_root("data").is_err());
        assert!(normalize_root("").is_err());
        assert!(normalize_root("/a//b").is_err());
        assert!(normalize_root("/a/./b").is_err());
        assert!(normalize_root("/a/..").is_err());
        assert!(normalize_root("/a\0").is_err());
    }

    #[test]
    fn joins_with_one_slash() {
        assert_eq!(join("/data", "a/b"), "/data/a/b");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/data", ""), "/data");
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a/b");
    }

    #[test]
    fn finds_paths_below_a_base() {
        assert_eq!(relative_to("/data", "/data"), Some(""));
        assert_eq!(relative_to("/data/a/b", "/data"), Some("a/b"));
        assert_eq!(relative_to("/data/a", "/data/"), Some("a"));
        assert_eq!(relative_to("/database", "/data"), None);
        assert_eq!(relative_to("/other", "/data"), None);
        assert_eq!(relative_to("/data", "/"), Some("data"));
        assert_eq!(relative_to("/", "/"), Some(""));
        assert_eq!(relative_to("/data", ""), None);
    }
}
