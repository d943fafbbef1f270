//! Native (test) implementation through std's Unix extensions.

use std::io;
use std::path::PathBuf;

pub struct Target {
    root: PathBuf,
}

impl Target {
    pub fn open(root: &str) -> io::Result<Self> {
        let root = PathBuf::from(root);
        if !std::fs::metadata(&root)?.is_dir() {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        Ok(Self { root })
    }

    pub fn symlink(&self, rel: &str, target: &str) -> io::Result<()> {
        std::os::unix::fs::symlink(target, self.root.join(rel))
    }
}
