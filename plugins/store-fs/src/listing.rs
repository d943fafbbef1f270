//! `list`: names below the store root in ascending byte order, walking only
//! the directories that can hold names after `start-after` with the prefix.
//!
//! Siblings are visited in order of their name with `/` appended for
//! directories: every name in directory `d` starts with `d/`, so this order
//! makes the depth-first walk yield full names in byte order (`a-b` < `a/x`
//! because `-` < `/`).

use std::cmp::Reverse;
use std::fs;
use std::io::{self, ErrorKind};

use plugin_util::guest_path::join;

use crate::name;

/// Most names returned by one `list` call.
pub const PAGE: usize = 1000;

/// One listed object: name relative to the root, and size in bytes.
pub type Listed = (String, u64);

/// Up to `limit` names starting with `prefix`, strictly after `start_after`.
pub fn list(
    root: &str,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> io::Result<Vec<Listed>> {
    // Start at the deepest directory the prefix names in full.
    let base = prefix.rfind('/').map_or("", |i| &prefix[..i]);
    if !base.is_empty() && name::validate(base).is_err() {
        return Ok(Vec::new()); // no valid name lies below such a directory
    }
    let Some(pending) = children(root, base)? else {
        return Ok(Vec::new());
    };
    let wanted = Wanted {
        prefix,
        start_after,
    };
    let mut out = Vec::new();
    let mut stack = vec![(base.to_owned(), pending)];
    while out.len() < limit {
        let Some((dir, pending)) = stack.last_mut() else {
            break;
        };
        let Some(child) = pending.pop() else {
            stack.pop();
            continue;
        };
        let name = join(dir, &child.name);
        if child.is_dir {
            if wanted.may_contain(&format!("{name}/"))
                && let Some(grandchildren) = children(root, &name)?
            {
                stack.push((name, grandchildren));
            }
        } else if wanted.is(&name) {
            match fs::symlink_metadata(join(root, &name)) {
                Ok(meta) => out.push((name, meta.len())),
                Err(e) if e.kind() == ErrorKind::NotFound => {} // deleted meanwhile
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

struct Wanted<'a> {
    prefix: &'a str,
    start_after: Option<&'a str>,
}

impl Wanted<'_> {
    fn is(&self, name: &str) -> bool {
        name.starts_with(self.prefix) && self.start_after.is_none_or(|after| name > after)
    }

    /// Whether a directory whose names all start with `key` (`dir/`) can hold
    /// a wanted name.
    fn may_contain(&self, key: &str) -> bool {
        let prefix_fits = key.starts_with(self.prefix) || self.prefix.starts_with(key);
        // If `after` sorts after `key` without starting with it, it sorts
        // after every name in the directory too.
        let after_fits = self
            .start_after
            .is_none_or(|after| after < key || after.starts_with(key));
        prefix_fits && after_fits
    }
}

struct Child {
    name: String,
    is_dir: bool,
}

impl Child {
    fn key(&self) -> String {
        if self.is_dir {
            format!("{}/", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// The object-name-worthy entries of directory `rel`, in reverse visiting
/// order (for `pop`); `None` if the directory does not exist. Temporary and
/// foreign files (bad names, symlinks, ...) are left out.
fn children(root: &str, rel: &str) -> io::Result<Option<Vec<Child>>> {
    let entries = match fs::read_dir(join(root, rel)) {
        Ok(entries) => entries,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name::validate_segment(&name).is_err() {
            continue;
        }
        let file_type = entry.file_type()?;
        if file_type.is_dir() || file_type.is_file() {
            let is_dir = file_type.is_dir();
            out.push(Child { name, is_dir });
        }
    }
    out.sort_by_cached_key(|c| Reverse(c.key()));
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &[
        "a-b",
        "a.c",
        "a/b-c",
        "a/b/c",
        "a/b/d",
        "a/bc",
        "a0",
        "packs/00/x",
        "packs/3f/3fa",
        "packs/3f/3fb",
        "packs/40/1",
        "z",
    ];

    fn store() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in NAMES {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, name.as_bytes()).unwrap();
        }
        // Things `list` must skip.
        fs::write(dir.path().join("packs/3f/.tmp-123"), b"partial").unwrap();
        fs::write(dir.path().join("UPPER"), b"foreign").unwrap();
        fs::create_dir(dir.path().join("lost+found")).unwrap();
        fs::write(dir.path().join("lost+found/x"), b"foreign").unwrap();
        dir
    }

    fn names(
        root: &tempfile::TempDir,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<String> {
        let listed = list(root.path().to_str().unwrap(), prefix, after, limit).unwrap();
        listed.into_iter().map(|(n, _)| n).collect()
    }

    fn expected(prefix: &str, after: Option<&str>) -> Vec<String> {
        let mut all: Vec<String> = NAMES
            .iter()
            .filter(|n| n.starts_with(prefix) && after.is_none_or(|a| **n > a))
            .map(|n| n.to_string())
            .collect();
        all.sort();
        all
    }

    #[test]
    fn lists_everything_in_byte_order_with_sizes() {
        let root = store();
        assert_eq!(names(&root, "", None, PAGE), expected("", None));
        let listed = list(root.path().to_str().unwrap(), "z", None, PAGE).unwrap();
        assert_eq!(listed, [("z".to_owned(), 1)]);
    }

    #[test]
    fn filters_by_prefix_and_start_after() {
        let root = store();
        let prefixes = [
            "",
            "a",
            "a/",
            "a/b",
            "a/b/",
            "packs/",
            "packs/3",
            "packs/3f/",
            "q",
            "packs/3f/3fb/",
        ];
        let afters = [
            None,
            Some("a"),
            Some("a/b"),
            Some("a/b/c"),
            Some("a/b0"),
            Some("packs/3f/3fa"),
            Some("zz"),
        ];
        for prefix in prefixes {
            for after in afters {
                assert_eq!(
                    names(&root, prefix, after, PAGE),
                    expected(prefix, after),
                    "{prefix:?} {after:?}"
                );
            }
        }
    }

    #[test]
    fn pages_through_with_start_after() {
        let root = store();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = names(&root, "", after.as_deref(), 3);
            let Some(last) = page.last() else { break };
            after = Some(last.clone());
            seen.extend(page);
        }
        assert_eq!(seen, expected("", None));
    }

    #[test]
    fn invalid_or_missing_prefix_directories_list_nothing() {
        let root = store();
        assert!(names(&root, "../", None, PAGE).is_empty());
        assert!(names(&root, "nope/", None, PAGE).is_empty());
        assert!(names(&root, "z/", None, PAGE).is_empty());
        assert!(names(&root, "lost+found/", None, PAGE).is_empty());
    }
}
