//! Where a `HOSTED` store's directory may lie.
//!
//! Garbage collection of a store deletes what that store's listing shows, so
//! a store whose directory nests inside another's (or around it, or around
//! the host's own state) puts the other's files in reach of its deletes.
//! Directories are compared after resolving symlinks: a link inside the store
//! roots that points elsewhere is judged by where it points.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

/// How a store directory relates to a directory it must stay clear of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Same,
    Inside,
    Contains,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Relation::Same => "is",
            Relation::Inside => "lies inside",
            Relation::Contains => "contains",
        })
    }
}

/// How `path` relates to `other` (both resolved), if they overlap. Compares
/// whole components, so `/s/default2` does not lie inside `/s/default`.
pub fn relation(path: &Path, other: &Path) -> Option<Relation> {
    if path == other {
        Some(Relation::Same)
    } else if path.starts_with(other) {
        Some(Relation::Inside)
    } else if other.starts_with(path) {
        Some(Relation::Contains)
    } else {
        None
    }
}

/// Whether `path` lies strictly inside `dir`.
pub fn strictly_inside(path: &Path, dir: &Path) -> bool {
    relation(path, dir) == Some(Relation::Inside)
}

/// `path` made absolute with every symlink in its existing part resolved; the
/// part that does not exist yet is appended as written (`.` dropped, `..`
/// taken lexically: a missing directory cannot be a link). A dangling symlink
/// is an error, since where it will lead cannot be known.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    // The missing components, last first.
    let mut missing = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(mut resolved) => {
                for component in missing.iter().rev() {
                    match component {
                        Component::ParentDir => {
                            resolved.pop();
                        }
                        Component::Normal(name) => resolved.push(name),
                        _ => {}
                    }
                }
                return Ok(resolved);
            }
            Err(e) if is_missing(&e) => {
                if existing.symlink_metadata().is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} is a symbolic link to a missing target",
                            existing.display()
                        ),
                    ));
                }
                let (Some(last), Some(parent)) =
                    (existing.components().next_back(), existing.parent())
                else {
                    return Err(e);
                };
                missing.push(last);
                existing = parent;
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn relations_compare_whole_components() {
        let p = Path::new;
        assert_eq!(relation(p("/s/a"), p("/s/a")), Some(Relation::Same));
        assert_eq!(relation(p("/s/a/b"), p("/s/a")), Some(Relation::Inside));
        assert_eq!(relation(p("/s"), p("/s/a")), Some(Relation::Contains));
        assert_eq!(relation(p("/s/a2"), p("/s/a")), None);
        assert_eq!(relation(p("/s/a"), p("/s/a2")), None);
        assert!(strictly_inside(p("/s/a"), p("/s")));
        assert!(!strictly_inside(p("/s"), p("/s")));
    }

    #[test]
    fn resolves_links_in_the_existing_part_and_keeps_the_missing_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(base.join("real/sub")).expect("mkdir");
        symlink(base.join("real"), base.join("link")).expect("symlink");

        let resolved = resolve(&base.join("link/sub/new/./x/../y")).expect("resolve");
        assert_eq!(resolved, base.join("real/sub/new/y"));
        assert_eq!(
            resolve(&base.join("link")).expect("resolve"),
            base.join("real")
        );
        assert_eq!(
            resolve(&base.join("missing/a")).expect("resolve"),
            base.join("missing/a")
        );
    }

    #[test]
    fn a_dangling_link_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        symlink(dir.path().join("nowhere"), dir.path().join("dangling")).expect("symlink");
        let err = resolve(&dir.path().join("dangling/store")).expect_err("dangling");
        assert!(err.to_string().contains("missing target"), "{err}");
    }
}
