//! Guest paths: the configured roots are strings (JSON configuration), the
//! paths below them raw bytes, as the host's `posix-fs` interface takes them.

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

/// [`join`] for byte paths: the guest path of the entry path `rel` below
/// `base` (the root itself when `rel` is empty).
pub fn join_bytes(base: &[u8], rel: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(base.len() + 1 + rel.len());
    out.extend_from_slice(base);
    if !rel.is_empty() {
        if !base.is_empty() && !base.ends_with(b"/") {
            out.push(b'/');
        }
        out.extend_from_slice(rel);
    }
    out
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
    fn joins_bytes_with_one_slash() {
        assert_eq!(join_bytes(b"/data", b"a/\xff"), b"/data/a/\xff");
        assert_eq!(join_bytes(b"/", b"a"), b"/a");
        assert_eq!(join_bytes(b"/data", b""), b"/data");
        assert_eq!(join_bytes(b"", b"a"), b"a");
    }
}
