//! Object names as the store contract defines them (`/`-separated
//! `[a-z0-9._-]` segments). S3 would take any key, but a name outside the
//! contract means a confused caller, and refusing it keeps the bucket's
//! layout what the operator expects.

const MAX_NAME: usize = 1024;

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
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!("object name {name:?}: empty, `.` or `..` segment"));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-'))
        {
            return Err(format!(
                "object name {name:?}: character {c:?} is not allowed (only a-z 0-9 . _ -)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_store_names_only() {
        for ok in ["config", "packs/3f/3fa9c0", "a.b_c-d", "x/.y"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "..", "a/./b", "A", "a b", "ä"] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        assert!(validate(&"a".repeat(1025)).is_err());
    }
}
