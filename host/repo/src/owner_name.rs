//! User and group names of entry owners, each distinct name kept once.
//!
//! A manifest is held in memory for a whole backup or restore, and a tree of
//! 100k entries names a handful of owners: as a `String` per entry, `root`
//! and `root` cost two allocations (64 bytes of heap) and 48 bytes of struct
//! for every entry, about 10 MB of a 122k-entry manifest. Shared, they cost
//! a 16-byte pointer each.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Distinct names kept for sharing. A machine has far fewer; past this
/// (a hostile plugin, say) names are still correct, only not shared.
const MAX_SHARED: usize = 4096;
/// Longest name kept for sharing: a valid owner name's limit. Names are
/// shared before an entry is checked, and the table lives as long as the
/// host, so a longer one (to be refused by the check) is never kept: the
/// table holds 1 MiB at most, whatever plugins send.
const MAX_SHARED_LEN: usize = crate::archive::MAX_OWNER_NAME;

static SHARED: LazyLock<Mutex<HashSet<Arc<str>>>> = LazyLock::new(Mutex::default);

/// A user or group name, compared and printed as the text it holds.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerName(Arc<str>);

impl OwnerName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn shared(name: &str) -> Self {
        // Every statement leaves the set consistent, so a poisoned lock's
        // set is still usable.
        let mut names = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = names.get(name) {
            return Self(known.clone());
        }
        let name: Arc<str> = Arc::from(name);
        if names.len() < MAX_SHARED && name.len() <= MAX_SHARED_LEN {
            names.insert(name.clone());
        }
        Self(name)
    }
}

impl Deref for OwnerName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for OwnerName {
    fn from(name: &str) -> Self {
        Self::shared(name)
    }
}

impl From<String> for OwnerName {
    fn from(name: String) -> Self {
        Self::shared(&name)
    }
}

impl From<OwnerName> for String {
    fn from(name: OwnerName) -> Self {
        name.0.to_string()
    }
}

impl fmt::Debug for OwnerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for OwnerName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OwnerName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

/// Takes the name as the `&str` the parser has (the JSON itself, or its
/// unescaping buffer): a known name then costs no allocation at all.
struct NameVisitor;

impl Visitor<'_> for NameVisitor {
    type Value = OwnerName;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a user or group name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<OwnerName, E> {
        Ok(OwnerName::shared(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_names_share_one_allocation() {
        let a = OwnerName::from("owner-name-test");
        let b: OwnerName = serde_json::from_str("\"owner-name-test\"").unwrap();
        assert!(serde_json::from_str::<OwnerName>("7").is_err());
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"owner-name-test\"");
        assert_eq!(&*OwnerName::from(String::from("other")), "other");
    }

    #[test]
    fn names_too_long_to_be_valid_are_not_kept() {
        let long = "x".repeat(MAX_SHARED_LEN + 1);
        let a = OwnerName::from(long.as_str());
        let b = OwnerName::from(long.as_str());
        assert!(!Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, b);
    }

    #[test]
    fn escaped_names_read_back_as_their_text() {
        let name: OwnerName = serde_json::from_str("\"a\\u00e9b\"").unwrap();
        assert_eq!(name.as_str(), "aéb");
    }
}
