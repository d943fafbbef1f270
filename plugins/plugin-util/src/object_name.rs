//! Object names as the store-adapter contract defines them: `/`-separated
//! segments of `[a-z0-9._-]`, no empty, `.` or `..` segment, at most 1024
//! bytes. Every adapter checks them before a name becomes a path or a key.

/// Longest accepted object name, in bytes.
pub const MAX_NAME: usize = 1024;

/// Why `name` is not a valid object name, or `Ok`; `segment` checks each
/// segment (an adapter may add rules of its own on top of [`segment`]).
pub fn validate_with(
    name: &str,
    check_segment: impl Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty object name".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "object name of {} bytes exceeds {MAX_NAME}",
            name.len()
        ));
    }
    for part in name.split('/') {
        check_segment(part).map_err(|why| format!("object name {name:?}: {why}"))?;
    }
    Ok(())
}

/// [`validate_with`] the contract's own segment rules.
pub fn validate(name: &str) -> Result<(), String> {
    validate_with(name, segment)
}

/// Why one `/`-free segment cannot appear in an object name, or `Ok`.
pub fn segment(segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("empty segment".into());
    }
    if segment == "." || segment == ".." {
        return Err(format!("segment {segment:?} is not allowed"));
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
    fn accepts_contract_names_only() {
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
        assert!(validate(&"a".repeat(MAX_NAME)).is_ok());
        for bad in [
            "", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", "A", "a b", "a\\b", "ä", "a\0",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        assert!(validate(&"a".repeat(MAX_NAME + 1)).is_err());
    }
}
