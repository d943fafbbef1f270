//! Object names as the store contract defines them (`/`-separated
//! `[a-z0-9._-]` segments). S3 would take any key, but a name outside the
//! contract means a confused caller, and refusing it keeps the bucket's
//! layout what the operator expects.

pub use plugin_util::object_name::validate;

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
