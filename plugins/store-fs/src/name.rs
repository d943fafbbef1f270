//! Object names: `/`-separated segments of `[a-z0-9._-]`, at most 1024 bytes.
//! Checked before a name becomes a path, so no name can leave the store root.

/// Longest accepted object name, in bytes.
const MAX_NAME: usize = 1024;

/// Prefix of the adapter's temporary files. Segments starting with it are
/// reserved, so an object can never collide with (or be listed as) one.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Why `name` is not a valid object name, or `Ok`.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty object name".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "object name of {} bytes exceeds {MAX_NAME}",
            name.len()
        ));
    }
    for segment in name.split('/') {
        validate_segment(segment).map_err(|why| format!("object name {name:?}: {why}"))?;
    }
    Ok(())
}

/// Why one `/`-free segment cannot appear in an object name, or `Ok`.
pub fn validate_segment(segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("empty segment".into());
    }
    if segment == "." || segment == ".." {
        return Err(format!("segment {segment:?} is not allowed"));
    }
    if segment.starts_with(TEMP_PREFIX) {
        return Err(format!(
            "segments starting with {TEMP_PREFIX:?} are reserved"
        ));
    }
    if let Some(c) = segment
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-'))
    {
        return Err(format!(
            "character {c:?} is not allowed (only a-z 0-9 . _ -)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_store_names() {
        for ok in [
            "config",
            "packs/3f/3fa9c0",
            "a.b_c-d",
            "x/.y",
            "..a",
            "a/b./c",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        assert!(validate(&"a".repeat(1024)).is_ok());
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            ".",
            "..",
            "a/../b",
            "a/./b",
            "A",
            "a b",
            "a\\b",
            "ä",
            "a\0",
            ".tmp-1234",
            "x/.tmp-y",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        assert!(validate(&"a".repeat(1025)).is_err());
    }
}
