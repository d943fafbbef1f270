//! What an archive entry must look like before anything is written for it:
//! a path that stays below the root, times in range, and link targets a
//! filesystem can hold. A violation is `invalid-data`: the archive is not
//! one this stage wrote.

use guest_sdk::{EntryKind, EntryMeta, PluginError};
use plugin_util::entry_path::{self, show};

const NANOS_PER_SECOND: u32 = 1_000_000_000;

pub fn entry(meta: &EntryMeta) -> Result<(), PluginError> {
    let bad = |why: String| Err(PluginError::InvalidData(why));
    if meta.path.is_empty() {
        // The empty path is the root itself, which can only be a directory.
        if meta.kind != EntryKind::Directory {
            return bad(format!(
                "an entry of kind {:?} has the empty path, which only the root directory may have",
                meta.kind
            ));
        }
    } else {
        entry_path::validate(&meta.path).map_err(PluginError::InvalidData)?;
    }
    if meta.mtime_nanoseconds >= NANOS_PER_SECOND {
        return bad(format!(
            "entry {}: mtime nanoseconds {} out of range",
            show(&meta.path),
            meta.mtime_nanoseconds
        ));
    }
    match meta.kind {
        EntryKind::Symlink => match meta.link_target.as_deref() {
            Some(target) if !target.is_empty() && !target.contains(&0) => Ok(()),
            _ => bad(format!(
                "symlink entry {} has no valid link target",
                show(&meta.path)
            )),
        },
        EntryKind::HardLink => match meta.link_target.as_deref() {
            Some(first) if first == meta.path.as_slice() => bad(format!(
                "hard-link entry {} names itself as its file",
                show(&meta.path)
            )),
            Some(first) => entry_path::validate(first).map_err(|why| {
                PluginError::InvalidData(format!(
                    "hard-link entry {} does not name a file entry: {why}",
                    show(&meta.path)
                ))
            }),
            None => bad(format!(
                "hard-link entry {} names no file entry",
                show(&meta.path)
            )),
        },
        EntryKind::File | EntryKind::Directory => Ok(()),
    }
}
