//! Atomic, durable object files: content goes to a uniquely named temporary
//! file in the object's directory, is synced, renamed over the final name, and
//! the directory is synced so the rename survives a crash.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use plugin_util::guest_path::join;

use crate::name::TEMP_PREFIX;

/// How often creating a temporary file is retried when its name is taken or
/// a concurrent `delete` pruned its (empty) directory in between.
const ATTEMPTS: usize = 8;

/// A temporary file's name, removed on drop unless committed or discarded.
pub struct Temp {
    dir: String,
    path: String,
    settled: bool,
}

/// Creates a new temporary file in directory `rel_dir` (relative to `root`),
/// creating missing directories.
pub fn create_temp(root: &str, rel_dir: &str) -> io::Result<(Temp, File)> {
    let dir = join(root, rel_dir);
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        ensure_dir(root, rel_dir)?;
        let path = join(&dir, &format!("{TEMP_PREFIX}{:016x}", unique()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => {
                let temp = Temp {
                    dir,
                    path,
                    settled: false,
                };
                return Ok((temp, file));
            }
            Err(e) if matches!(e.kind(), ErrorKind::AlreadyExists | ErrorKind::NotFound) => {
                last_error = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| ErrorKind::AlreadyExists.into()))
}

impl Temp {
    /// Makes `file`'s content durable and visible under `path`, atomically.
    pub fn commit(mut self, file: File, path: &str) -> io::Result<()> {
        file.sync_all()?;
        drop(file);
        fs::rename(&self.path, path)?;
        self.settled = true;
        sync_dir(&self.dir)
    }

    /// Removes the temporary file, reporting a failure to do so.
    pub fn discard(mut self, file: File) -> io::Result<()> {
        drop(file);
        self.settled = true;
        fs::remove_file(&self.path)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.settled {
            // Best effort: a leftover temporary file is skipped by `list`.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates `rel_dir` and its missing ancestors below `root`, syncing the parent
/// of each new directory so the object's path survives a crash too.
fn ensure_dir(root: &str, rel_dir: &str) -> io::Result<()> {
    if fs::metadata(join(root, rel_dir)).is_ok_and(|meta| meta.is_dir()) {
        return Ok(());
    }
    let mut parent = root.to_owned();
    for segment in rel_dir.split('/').filter(|s| !s.is_empty()) {
        let path = join(&parent, segment);
        match fs::create_dir(&path) {
            Ok(()) => sync_dir(&parent)?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        parent = path;
    }
    Ok(())
}

/// Flushes a directory's entries to stable storage. Some platforms cannot
/// sync a directory at all; only that refusal is tolerated.
fn sync_dir(dir: &str) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(()),
        other => other,
    }
}

/// A value unlikely to repeat across calls and plugin instances: std's
/// `RandomState` is seeded per instance by the platform
/// (`wasi:random/insecure-seed` on WASI), and a counter and the clock tell
/// calls within one instance apart. `create_new` turns the remaining chance
/// of a clash into a retry, never into two writers sharing a file.
fn unique() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    RandomState::new().hash_one((call, SystemTime::now()))
}
