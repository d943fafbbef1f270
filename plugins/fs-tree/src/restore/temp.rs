//! Temporary names: a file, symlink or hard link whose name is taken is made
//! under a temporary name beside its final one and renamed over it only when
//! complete, so a restore that fails midway never leaves a truncated or
//! half-written file where a good one was.

use guest_sdk::{PluginError, PosixFs};
use plugin_util::entry_path::show;
use plugin_util::guest_path::join_bytes;

/// Longest run of taken names before giving up: only leftovers of crashed
/// restores (or archive entries of the same names) can take them.
const MAX_TAKEN: u32 = 1000;

/// Hands out `.drhost-restore-<n>`: short (far below NAME_MAX, whatever the
/// final name's length), and `n` keeps growing across the whole restore so
/// a directory full of leftovers costs one probe per leftover, not per file.
#[derive(Default)]
pub struct TempNames {
    next: u64,
}

impl TempNames {
    /// Makes something under a fresh name in directory `dir` with `make`
    /// (which must fail if the name exists), returning the name and what
    /// `make` returned.
    pub fn make<T>(
        &mut self,
        fs: &impl PosixFs,
        dir: &[u8],
        make: impl Fn(&[u8]) -> Result<T, PluginError>,
    ) -> Result<(Vec<u8>, T), PluginError> {
        for _ in 0..MAX_TAKEN {
            let name = format!(".drhost-restore-{}", self.next);
            self.next += 1;
            let path = join_bytes(dir, name.as_bytes());
            if let Some(made) = make_if_free(fs, &path, &make)? {
                return Ok((path, made));
            }
        }
        Err(PluginError::Io(format!(
            "{}: {MAX_TAKEN} temporary names in a row are taken; remove the leftover \
             .drhost-restore-* files of an interrupted restore",
            show(dir)
        )))
    }
}

/// Makes something at `path` with `make` (which must fail if the name
/// exists); `None` if the name was taken.
pub fn make_if_free<T>(
    fs: &impl PosixFs,
    path: &[u8],
    make: impl Fn(&[u8]) -> Result<T, PluginError>,
) -> Result<Option<T>, PluginError> {
    match make(path) {
        Ok(made) => Ok(Some(made)),
        // The contract has no "exists" error: ask the filesystem whether the
        // name was taken or something else failed.
        Err(e) => fs.stat(path).map(|_| None).map_err(|_| e),
    }
}
