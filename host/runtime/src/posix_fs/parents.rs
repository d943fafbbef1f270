//! Parent directories one call has opened, kept for the paths that follow.
//!
//! A restore places each file with three calls on its directory (create,
//! metadata, rename), and entries come directory by directory. Opening the
//! parent (cap-primitives' confined `openat2`) and closing it again for
//! every call cost a fifth of the stage's thread on a copy of `/usr/lib`.
//!
//! A kept handle names the directory the path led to when it was opened.
//! `posix-fs` forgets them all whenever one of its own calls could make a
//! path lead elsewhere: a rename that moves or replaces anything but a
//! regular file, and any removal (a symlink on the way may be gone). A
//! directory moved by another process while the call runs is still reached
//! at its old path, as it would be by a call already under way; it cannot
//! lead outside the grant, since the handle was opened inside it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Parent directories kept open at once, at most.
const KEPT: usize = 8;

#[derive(Default)]
pub(super) struct OpenParents {
    /// (grant index, path relative to the grant, handle), most recent last.
    recent: Vec<(usize, PathBuf, Arc<File>)>,
}

impl OpenParents {
    /// The handle of directory `parent` of grant `grant`, opened by `open`
    /// unless it is kept.
    pub fn get_or_open(
        &mut self,
        grant: usize,
        parent: &Path,
        open: impl FnOnce() -> io::Result<File>,
    ) -> io::Result<Arc<File>> {
        if let Some(at) = self
            .recent
            .iter()
            .rposition(|(g, p, _)| *g == grant && p == parent)
        {
            let kept = self.recent.remove(at);
            let handle = kept.2.clone();
            self.recent.push(kept);
            return Ok(handle);
        }
        let handle = Arc::new(open()?);
        if self.recent.len() >= KEPT {
            self.recent.remove(0);
        }
        self.recent
            .push((grant, parent.to_path_buf(), handle.clone()));
        Ok(handle)
    }

    pub fn forget_all(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_parent_is_not_opened_again_and_the_least_recent_goes_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut parents = OpenParents::default();
        let mut opens = 0;
        let mut open = |grant: usize, name: &str, parents: &mut OpenParents| {
            parents
                .get_or_open(grant, Path::new(name), || {
                    opens += 1;
                    File::open(dir.path())
                })
                .unwrap()
        };
        let first = open(0, "a", &mut parents);
        open(1, "a", &mut parents);
        assert!(Arc::ptr_eq(&first, &open(0, "a", &mut parents)));
        for i in 0..KEPT - 1 {
            open(0, &format!("d{i}"), &mut parents);
        }
        // `1/a` was used before `0/a`, so it went first.
        assert!(Arc::ptr_eq(&first, &open(0, "a", &mut parents)));
        open(1, "a", &mut parents);
        assert_eq!(opens, 2 + (KEPT - 1) + 1);
        parents.forget_all();
        assert!(parents.recent.is_empty());
    }
}
