//! Object keys as archive entry paths, reversibly. Keys are arbitrary UTF-8
//! (`a//b`, `./x`, `../y`, `dir/`, `/lead`, control characters), entry paths
//! are not (no empty, `.` or `..` components, no NUL, no leading `/`; and
//! before 0.2.0 the host refused `\`, so it stays encoded and archives
//! written then keep restoring). Each `/`-separated segment of the key is
//! encoded on its own, so the archive keeps the key's tree shape:
//!
//! - `%`, `\` and control characters become `%XX`;
//! - an empty segment becomes `%`, `.` becomes `%2E`, `..` becomes `%2E%2E`.
//!
//! A lone `%` can only come from an empty segment (a real `%` is `%25`), so
//! decoding is unambiguous. The exact key also travels as an attribute; the
//! path is for people browsing the archive and a cross-check.

/// The entry path of `key` (relative to the configured prefix).
pub fn to_path(key: &str) -> String {
    key.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// The key an entry path stands for, or why it is not one [`to_path`] makes.
pub fn to_key(path: &str) -> Result<String, String> {
    let segments: Result<Vec<String>, String> = path.split('/').map(decode_segment).collect();
    let key = segments
        .map_err(|why| format!("entry path {path:?} is not an encoded object key: {why}"))?
        .join("/");
    if to_path(&key) != path {
        return Err(format!(
            "entry path {path:?} is not in the canonical encoding of an object key"
        ));
    }
    Ok(key)
}

fn encode_segment(segment: &str) -> String {
    match segment {
        "" => return "%".into(),
        "." => return "%2E".into(),
        ".." => return "%2E%2E".into(),
        _ => {}
    }
    let mut out = String::with_capacity(segment.len());
    for c in segment.chars() {
        if c == '%' || c == '\\' || (c.is_control() && c.is_ascii()) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn decode_segment(segment: &str) -> Result<String, String> {
    if segment == "%" {
        return Ok(String::new());
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a bad `%` escape")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "an escape that is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &[
        "photos/2024/a.jpg",
        "a//b",
        "dir/",
        "/leading",
        "./x/../y/.",
        "..",
        "",
        "/",
        "100%/50%25",
        "back\\slash",
        "nul\0and\ttab\u{7f}",
        "with space/ünïcode/日本語.txt",
        "%",
        "%2E",
        "...",
        "a/.hidden",
    ];

    #[test]
    fn every_key_maps_to_a_valid_entry_path() {
        for key in KEYS {
            let path = to_path(key);
            plugin_util::entry_path::validate(path.as_bytes())
                .unwrap_or_else(|e| panic!("{key:?}: {e}"));
            assert!(!path.contains('\\'), "{key:?} → {path:?}");
            assert_eq!(to_key(&path).as_deref(), Ok(*key), "{key:?} → {path:?}");
        }
    }

    #[test]
    fn keeps_ordinary_keys_readable() {
        assert_eq!(to_path("photos/2024/a.jpg"), "photos/2024/a.jpg");
        assert_eq!(to_path("a//b"), "a/%/b");
        assert_eq!(to_path("dir/"), "dir/%");
        assert_eq!(to_path("./x/.."), "%2E/x/%2E%2E");
        assert_eq!(to_path("100%"), "100%25");
        assert_eq!(to_path("a\\b"), "a%5Cb");
    }

    #[test]
    fn distinct_keys_get_distinct_paths() {
        let mut paths: Vec<_> = KEYS.iter().map(|k| to_path(k)).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), KEYS.len());
    }

    #[test]
    fn refuses_paths_it_would_not_make() {
        for bad in ["a/%4", "%zz", "a%2", "%C3", "x%2Fy", "%2e"] {
            assert!(to_key(bad).is_err(), "{bad:?}");
        }
    }
}
