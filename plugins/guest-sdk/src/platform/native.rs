//! Native (test) implementation through std's Unix extensions. Symlink times
//! are not settable without libc here; restore treats that as unsupported.

use std::fs::File;
use std::io;
use std::path::PathBuf;

use plugin_util::mtime;

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

    pub fn create_file(&self, rel: &str) -> io::Result<NewFile> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.root.join(rel))?;
        Ok(NewFile(file))
    }

    pub fn symlink(&self, rel: &str, target: &str) -> io::Result<()> {
        std::os::unix::fs::symlink(target, self.root.join(rel))
    }

    pub fn set_mtime(
        &self,
        rel: &str,
        is_symlink: bool,
        seconds: i64,
        nanos: u32,
    ) -> io::Result<()> {
        if is_symlink {
            return Err(io::ErrorKind::Unsupported.into());
        }
        let time = mtime::from_parts(seconds, nanos).ok_or(io::ErrorKind::InvalidInput)?;
        File::open(self.root.join(rel))?.set_modified(time)
    }
}

pub struct NewFile(File);

impl NewFile {
    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut self.0, data)
    }
}
