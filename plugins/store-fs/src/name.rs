//! Object names: `/`-separated segments of `[a-z0-9._-]`, at most 1024 bytes.
//! Checked before a name becomes a path, so no name can leave the store root.

/// Prefix of the adapter's temporary files. Segments starting with it are
/// reserved, so an object can never collide with (or be listed as) one.
pub const TEMP_PREFIX: &str = ".tmp-";
/// Reserved segment: a write-once store's record of refused deletes.
pub const DELETE_LOG: &str = ".refused-deletes";

/// Why `name` is not a valid object name, or `Ok`.
pub fn validate(name: &str) -> Result<(), String> {
    plugin_util::object_name::validate_with(name, validate_segment)
}

/// Why one `/`-free segment cannot appear in an object name, or `Ok`: the
/// contract's rules, and this adapter's reserved names (temporary files
/// and the delete log).
pub fn validate_segment(segment: &str) -> Result<(), String> {
    plugin_util::object_name::segment(segment)?;
    if segment == DELETE_LOG {
        return Err(format!("{DELETE_LOG:?} is reserved"));
    }
    if segment.starts_with(TEMP_PREFIX) {
        return Err(format!(
            "segments starting with {TEMP_PREFIX:?} are reserved"
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
