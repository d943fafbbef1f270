//! The entries a stage writes into, and reads back from, a backup. Mirrors the
//! `drhost:plugin/archive` WIT interface, and holds the one check of an
//! entry's metadata that the runtime (entries from plugins) and the manifest
//! (entries read back) share.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::owner_name::OwnerName;

/// Attributes per entry (WIT contract).
pub const MAX_ATTRIBUTES: usize = 64;
/// Total bytes of an entry's attribute keys and values.
pub const MAX_ATTRIBUTE_BYTES: usize = 64 * 1024;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    /// A further name of a file entry written earlier in the same stage;
    /// `link_target` is that entry's path.
    #[serde(rename = "hardlink")]
    HardLink,
}

/// A name as raw bytes: an entry path or a link target. POSIX names are
/// bytes, not text, and a backup must give back exactly what was there.
///
/// Serialised as a JSON string when the bytes are UTF-8 (every name written
/// before 0.2 was), otherwise as `{"hex": "..."}`.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawName(pub Vec<u8>);

impl RawName {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl PartialEq<&str> for RawName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl From<&str> for RawName {
    fn from(s: &str) -> Self {
        Self(s.as_bytes().to_vec())
    }
}

impl From<String> for RawName {
    fn from(s: String) -> Self {
        Self(s.into_bytes())
    }
}

impl From<Vec<u8>> for RawName {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

/// Shown as text, with bytes that are not UTF-8 (and control characters)
/// escaped, so a name in an error message is readable and unambiguous.
impl fmt::Display for RawName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Long names are cut: messages go into job records and logs.
        const SHOWN: usize = 200;
        let shown = &self.0[..self.0.len().min(SHOWN)];
        for chunk in shown.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() || c == '\\' {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if self.0.len() > SHOWN {
            write!(f, "…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RawName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// A name that is not UTF-8, as it is stored: `{"hex": "..."}`.
#[derive(Serialize, Deserialize)]
struct HexName {
    hex: String,
}

impl Serialize for RawName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => HexName {
                hex: hex::encode(&self.0),
            }
            .serialize(serializer),
        }
    }
}

/// Text, or the hex form. A visitor rather than `#[serde(untagged)]`,
/// which buffers every name before trying each form: a manifest holds one
/// or two names per entry, and that buffering was a tenth of its parse.
impl<'de> Deserialize<'de> for RawName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{self, value};

        struct NameVisitor;
        impl<'de> de::Visitor<'de> for NameVisitor {
            type Value = RawName;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a name as text or as {"hex": "..."}"#)
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawName, E> {
                Ok(RawName(text.as_bytes().to_vec()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<RawName, E> {
                Ok(RawName(text.into_bytes()))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawName, A::Error> {
                let HexName { hex } = HexName::deserialize(value::MapAccessDeserializer::new(map))?;
                hex::decode(hex)
                    .map(RawName)
                    .map_err(|e| de::Error::custom(format!("bad hex name: {e}")))
            }
        }
        deserializer.deserialize_any(NameVisitor)
    }
}

/// Who owned an entry: numeric ids and, where the backed-up machine had
/// them, the names (a restore may map by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<OwnerName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<OwnerName>,
}

/// Longest user or group name kept.
pub(crate) const MAX_OWNER_NAME: usize = 256;

/// Metadata of one archive entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// Relative, `/`-separated, no `.`/`..` components, no NUL; empty for
    /// the stage's root (see [`EntryMeta::validate`]).
    pub path: RawName,
    pub kind: EntryKind,
    pub mode: u32,
    pub mtime_seconds: i64,
    pub mtime_nanoseconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<RawName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<(String, String)>,
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid entry {path:?}: {reason}")]
pub struct InvalidEntry {
    pub path: RawName,
    pub reason: String,
}

impl EntryMeta {
    /// Longest path or link target accepted, in bytes.
    pub const MAX_PATH_LEN: usize = 4096;

    /// Checks the metadata as the WIT contract states it: a path that cannot
    /// escape the stage root when restored, a link target exactly where the
    /// kind has one, permission bits only, times and attributes in range.
    pub fn validate(&self) -> Result<(), InvalidEntry> {
        let refuse = |reason: String| {
            Err(InvalidEntry {
                path: self.path.clone(),
                reason,
            })
        };
        if self.path.is_empty() {
            if self.kind != EntryKind::Directory {
                return refuse("the empty path (the stage root) must be a directory".into());
            }
        } else if let Err(reason) = check_relative_path(self.path.as_bytes()) {
            return refuse(reason.into());
        }
        match (self.kind, &self.link_target) {
            (EntryKind::Symlink | EntryKind::HardLink, None) => {
                return refuse("a link without a target".into());
            }
            (EntryKind::Symlink, Some(t))
                if t.is_empty() || t.len() > Self::MAX_PATH_LEN || t.as_bytes().contains(&0) =>
            {
                return refuse("symlink target is empty, longer than 4096 bytes or has NUL".into());
            }
            (EntryKind::HardLink, Some(t)) => {
                if let Err(reason) = check_relative_path(t.as_bytes()) {
                    return refuse(format!("hard-link target: {reason}"));
                }
                if t == &self.path {
                    return refuse("a hard link to itself".into());
                }
            }
            (EntryKind::File | EntryKind::Directory, Some(_)) => {
                return refuse("only links have a link target".into());
            }
            _ => {}
        }
        if self.mode & !0o7777 != 0 {
            return refuse(format!("mode {:o} has bits outside 0o7777", self.mode));
        }
        if self.mtime_nanoseconds >= 1_000_000_000 {
            return refuse("mtime nanoseconds out of range".into());
        }
        if let Some(owner) = &self.owner {
            let names = [&owner.user, &owner.group];
            if names.into_iter().flatten().any(|n| {
                n.is_empty() || n.len() > MAX_OWNER_NAME || n.chars().any(char::is_control)
            }) {
                return refuse("owner name is empty, too long or has control characters".into());
            }
        }
        if self.attributes.len() > MAX_ATTRIBUTES {
            return refuse(format!("more than {MAX_ATTRIBUTES} attributes"));
        }
        let bytes: usize = self.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
        if bytes > MAX_ATTRIBUTE_BYTES {
            return refuse("attributes exceed 64 KiB".into());
        }
        Ok(())
    }
}

/// A non-empty relative path that stays below the root it is joined to.
/// Any byte but NUL and `/` is allowed in a component: backslashes,
/// newlines and bytes that are not UTF-8 are all valid POSIX names.
fn check_relative_path(path: &[u8]) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty");
    }
    if path.len() > EntryMeta::MAX_PATH_LEN {
        return Err("longer than 4096 bytes");
    }
    if path.contains(&0) {
        return Err("contains NUL");
    }
    if path.first() == Some(&b'/') {
        return Err("absolute");
    }
    for component in path.split(|&b| b == b'/') {
        match component {
            b"" => return Err("empty component"),
            b"." | b".." => return Err("contains a `.` or `..` component"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(path: &[u8], kind: EntryKind, target: Option<&[u8]>) -> EntryMeta {
        EntryMeta {
            path: RawName(path.to_vec()),
            kind,
            mode: 0o644,
            mtime_seconds: 0,
            mtime_nanoseconds: 0,
            link_target: target.map(|t| RawName(t.to_vec())),
            owner: None,
            attributes: vec![],
        }
    }

    #[test]
    fn paths_that_could_escape_are_refused() {
        for bad in [
            &b"/etc/passwd"[..],
            b"../x",
            b"a/../../x",
            b"a//b",
            b"a/./b",
            b"a\0b",
            b"a/",
        ] {
            let entry = meta(bad, EntryKind::File, None);
            assert!(entry.validate().is_err(), "{:?} accepted", entry.path);
        }
        for good in [
            &b"a"[..],
            b"a/b/c.txt",
            b".hidden",
            b"a/..b",
            "ünïcode/ok".as_bytes(),
            b"systemd/system-systemd\\x2dcryptsetup.slice",
            b"new\nline",
            b"latin1-\xe9t\xe9",
        ] {
            let entry = meta(good, EntryKind::File, None);
            assert!(entry.validate().is_ok(), "{:?} refused", entry.path);
        }
    }

    #[test]
    fn only_a_directory_may_have_the_empty_root_path() {
        assert!(meta(b"", EntryKind::Directory, None).validate().is_ok());
        assert!(meta(b"", EntryKind::File, None).validate().is_err());
    }

    #[test]
    fn links_need_a_fitting_target() {
        assert!(
            meta(b"l", EntryKind::Symlink, Some(b"/usr/bin/cpp-14"))
                .validate()
                .is_ok()
        );
        assert!(meta(b"l", EntryKind::Symlink, None).validate().is_err());
        assert!(
            meta(b"l", EntryKind::Symlink, Some(b""))
                .validate()
                .is_err()
        );
        assert!(
            meta(b"h", EntryKind::HardLink, Some(b"dir/first"))
                .validate()
                .is_ok()
        );
        assert!(
            meta(b"h", EntryKind::HardLink, Some(b"/abs"))
                .validate()
                .is_err()
        );
        assert!(
            meta(b"h", EntryKind::HardLink, Some(b"../x"))
                .validate()
                .is_err()
        );
        assert!(
            meta(b"h", EntryKind::HardLink, Some(b"h"))
                .validate()
                .is_err()
        );
        assert!(meta(b"f", EntryKind::File, Some(b"x")).validate().is_err());
    }

    #[test]
    fn names_round_trip_through_json_whatever_their_bytes() {
        for bytes in [&b"plain/name"[..], b"bad-\xff\xfe", b"back\\slash\nnew"] {
            let name = RawName(bytes.to_vec());
            let json = serde_json::to_string(&name).unwrap();
            let back: RawName = serde_json::from_str(&json).unwrap();
            assert_eq!(back, name, "{json}");
        }
        // A UTF-8 name is a plain string, as in manifests written before 0.2.
        assert_eq!(
            serde_json::to_string(&RawName::from("a/b")).unwrap(),
            "\"a/b\""
        );
        assert_eq!(
            serde_json::to_string(&RawName(b"\xff".to_vec())).unwrap(),
            r#"{"hex":"ff"}"#
        );
        for refused in ["42", r#"{"hex":"zz"}"#, r#"{"text":"a"}"#, "null"] {
            assert!(
                serde_json::from_str::<RawName>(refused).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn names_display_with_invalid_bytes_escaped() {
        assert_eq!(
            RawName(b"a\\b\n\xffz".to_vec()).to_string(),
            "a\\\\b\\n\\xffz"
        );
        assert_eq!(RawName::from("ünï").to_string(), "ünï");
    }
}
