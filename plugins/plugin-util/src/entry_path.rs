//! Archive entry paths: raw bytes relative to the stage's root,
//! `/`-separated, no leading `/`, no `.`/`..`/empty components, no NUL, at
//! most [`MAX_LEN`] bytes. The empty path names the root itself; whether an
//! entry may have it depends on its kind, so [`validate`] refuses it and
//! callers allow it where the contract does. The host checks paths too;
//! plugins check again where a path comes from outside (a database server's
//! archive) or is about to become a file name on a restore target.

use std::fmt::Write as _;

/// Longest entry path the contract allows, in bytes.
pub const MAX_LEN: usize = 4096;

/// Why `path` is not a well-formed non-empty entry path, or `Ok` if it is.
pub fn validate(path: &[u8]) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty entry path".into());
    }
    if path.len() > MAX_LEN {
        return Err(format!(
            "entry path {} is {} bytes long, more than {MAX_LEN}",
            show(&path[..64]),
            path.len()
        ));
    }
    if path.contains(&0) {
        return Err(format!("entry path {} contains NUL", show(path)));
    }
    if path.starts_with(b"/") {
        return Err(format!("entry path {} is absolute", show(path)));
    }
    if path
        .split(|&b| b == b'/')
        .any(|c| c.is_empty() || c == b"." || c == b"..")
    {
        return Err(format!(
            "entry path {} has an empty, `.` or `..` component",
            show(path)
        ));
    }
    Ok(())
}

/// The proper ancestors of a valid entry path, outermost first
/// (`a/b/c` → `a`, `a/b`).
pub fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'/')
        .map(move |(i, _)| &path[..i])
}

/// The parent of a valid entry path (empty for a top-level entry: the root).
pub fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[..i],
        None => &[],
    }
}

/// A path for messages, quoted: UTF-8 as it is (control characters
/// escaped), other bytes as `\xNN`, so any name is shown without loss.
pub fn show(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    out.push('"');
    for chunk in path.utf8_chunks() {
        out.extend(chunk.valid().chars().flat_map(char::escape_debug));
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_relative_paths_of_any_bytes() {
        for ok in [
            &b"a"[..],
            b"a/b",
            b".hidden",
            b"a/..b",
            "x y/ü".as_bytes(),
            b"a/.../b",
            b"back\\slash",
            b"new\nline",
            b"latin1-\xe9",
        ] {
            assert!(validate(ok).is_ok(), "{}", show(ok));
        }
        assert!(validate(&[b'a'; MAX_LEN]).is_ok());
    }

    #[test]
    fn refuses_escapes_and_odd_forms() {
        for bad in [
            &b""[..],
            b"/a",
            b"a/",
            b"a//b",
            b".",
            b"..",
            b"a/./b",
            b"a/..",
            b"../a",
            b"a\0b",
        ] {
            assert!(validate(bad).is_err(), "{}", show(bad));
        }
        let long = validate(&[b'a'; MAX_LEN + 1]).unwrap_err();
        assert!(long.contains("4097 bytes"), "{long}");
    }

    #[test]
    fn lists_ancestors_outermost_first() {
        assert_eq!(ancestors(b"a/b/c").collect::<Vec<_>>(), [&b"a"[..], b"a/b"]);
        assert_eq!(ancestors(b"a").count(), 0);
        assert_eq!(parent(b"a/b/c"), b"a/b");
        assert_eq!(parent(b"a"), b"");
    }

    #[test]
    fn shows_every_byte() {
        assert_eq!(show(b"a/b"), r#""a/b""#);
        assert_eq!(show(b"tab\there\n"), r#""tab\there\n""#);
        assert_eq!(show(b"x\xff\xfey"), r#""x\xff\xfey""#);
        assert_eq!(show("ü\\".as_bytes()), r#""ü\\""#);
    }
}
