//! The manifest of keys: entry path → SHA-256 (lowercase hex) of every
//! regular file, built while content streams through backup or restore.
//! Further names of a hard-linked file carry no content and no key.

use std::collections::BTreeMap;

use fs_tree::{Attribute, FileHook};
use plugin_util::entry_path::show;
use plugin_util::hex;
use sha2::{Digest, Sha256};

/// Metadata key holding the manifest as a JSON object.
const KEYS: &str = "keys";
/// Metadata key holding the number of keys, a cheap cross-check.
const KEY_COUNT: &str = "key-count";

/// Path → digest map, filled as a [`FileHook`].
#[derive(Default)]
pub struct KeyDigests {
    digests: BTreeMap<String, String>,
    current: Option<(String, Sha256)>,
}

impl FileHook for KeyDigests {
    fn begin(&mut self, path: &[u8]) {
        self.current = Some((key(path), Sha256::new()));
    }

    fn chunk(&mut self, data: &[u8]) {
        if let Some((_, hasher)) = &mut self.current {
            hasher.update(data);
        }
    }

    fn end(&mut self) {
        if let Some((path, hasher)) = self.current.take() {
            self.digests.insert(path, hex(&hasher.finalize()));
        }
    }
}

impl KeyDigests {
    /// The summary metadata recorded in the backup manifest.
    pub fn to_metadata(&self) -> Vec<Attribute> {
        // A map of strings always serializes; the fallback is unreachable.
        let keys = serde_json::to_string(&self.digests).unwrap_or_default();
        vec![
            (KEYS.to_owned(), keys),
            (KEY_COUNT.to_owned(), self.digests.len().to_string()),
        ]
    }

    /// Checks that every expected key was restored with its recorded digest.
    pub fn verify(&self, expected: &BTreeMap<String, String>) -> Result<(), String> {
        for (key, digest) in expected {
            match self.digests.get(key) {
                None => return Err(format!("configuration key {key:?} was not restored")),
                Some(restored) if restored != digest => {
                    return Err(format!(
                        "configuration key {key:?} restored with SHA-256 {restored}, \
                         but the backup recorded {digest}"
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// The manifest's name for the entry path `path`: the path itself when it
/// is UTF-8 (as every key was before paths became bytes), else `/` and the
/// path with its other bytes as `\xNN`. No entry path starts with `/`, and
/// the escaping is lossless, so no two paths share a key.
fn key(path: &[u8]) -> String {
    match std::str::from_utf8(path) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("/{}", show(path)),
    }
}

/// The manifest recorded by a backup, from the summary metadata handed back
/// to restore.
pub fn from_metadata(metadata: &[Attribute]) -> Result<BTreeMap<String, String>, String> {
    let value = |name: &str| {
        metadata
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| format!("backup metadata lacks {name:?}; cannot verify the restore"))
    };
    let keys: BTreeMap<String, String> = serde_json::from_str(value(KEYS)?)
        .map_err(|e| format!("backup metadata {KEYS:?} is not a JSON object of strings: {e}"))?;
    let count = value(KEY_COUNT)?;
    if count != keys.len().to_string() {
        return Err(format!(
            "backup metadata {KEY_COUNT:?} is {count}, but {KEYS:?} holds {} keys",
            keys.len()
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digests(files: &[(&str, &[&[u8]])]) -> KeyDigests {
        let mut keys = KeyDigests::default();
        for (path, chunks) in files {
            keys.begin(path.as_bytes());
            for chunk in *chunks {
                keys.chunk(chunk);
            }
            keys.end();
        }
        keys
    }

    #[test]
    fn digests_streamed_content() {
        let keys = digests(&[("a", &[b"ab", b"c"]), ("empty", &[])]);
        let meta = keys.to_metadata();
        assert_eq!(meta[1], ("key-count".to_owned(), "2".to_owned()));
        let parsed = from_metadata(&meta).unwrap();
        assert_eq!(
            parsed["a"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            parsed["empty"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn keys_paths_that_are_not_utf8_apart() {
        let mut keys = KeyDigests::default();
        for path in [&b"a\xff"[..], b"a\xfe", "a\\xff".as_bytes(), "ü".as_bytes()] {
            keys.begin(path);
            keys.end();
        }
        let names: Vec<&str> = keys.digests.keys().map(String::as_str).collect();
        assert_eq!(names, [r#"/"a\xfe""#, r#"/"a\xff""#, r"a\xff", "ü"]);
    }

    #[test]
    fn verifies_restored_keys() {
        let backup = digests(&[("a", &[b"abc"]), ("b/c", &[b"x"])]);
        let expected = from_metadata(&backup.to_metadata()).unwrap();
        assert!(
            digests(&[("b/c", &[b"x"]), ("a", &[b"abc"])])
                .verify(&expected)
                .is_ok()
        );
        let missing = digests(&[("a", &[b"abc"])]).verify(&expected).unwrap_err();
        assert!(missing.contains("\"b/c\" was not restored"), "{missing}");
        let changed = digests(&[("a", &[b"abd"]), ("b/c", &[b"x"])])
            .verify(&expected)
            .unwrap_err();
        assert!(changed.contains("\"a\" restored with"), "{changed}");
    }

    #[test]
    fn refuses_bad_metadata() {
        assert!(from_metadata(&[]).unwrap_err().contains("lacks \"keys\""));
        let bad_json = [
            ("keys".into(), "[1]".into()),
            ("key-count".into(), "1".into()),
        ];
        assert!(from_metadata(&bad_json).is_err());
        let bad_count = [
            ("keys".into(), "{}".into()),
            ("key-count".into(), "3".into()),
        ];
        assert!(
            from_metadata(&bad_count)
                .unwrap_err()
                .contains("holds 0 keys")
        );
    }
}
