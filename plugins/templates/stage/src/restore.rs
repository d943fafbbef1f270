//! Restore: writes each entry below the root. A file or symlink is created
//! under a temporary name beside its final one, given its metadata and
//! renamed over the final name, so an interrupted restore leaves every
//! existing file either untouched or whole. Directories get their metadata
//! last, innermost first (writing into one changes its time). Names not in
//! the backup are left alone.

use guest_sdk::plugin_util::entry_path::{self, show};
use guest_sdk::plugin_util::guest_path::join_bytes;
use guest_sdk::{
    EntryKind, EntryMeta, EntrySource, FileType, Host, MetadataUpdate, PluginError, PosixFile,
    PosixFs, Progress, Timestamp,
};

use crate::{RESTORE_COMPLETED, RESTORE_STARTED, Totals};

/// Bytes asked of the archive per call.
const CHUNK: u32 = 1 << 20;
/// Appended to a name while its content is written.
const TEMP_SUFFIX: &[u8] = b".template-restore";

/// Restores the entries of `input` below `root`.
pub fn run(
    fs: &impl PosixFs,
    input: &impl EntrySource,
    host: &impl Host,
    root: &str,
) -> Result<Totals, PluginError> {
    host.message(RESTORE_STARTED, "Started directory restore.");
    let root = root.as_bytes();
    let mut progress = Progress::default();
    let mut directories = Vec::new();
    while let Some(meta) = input.next_entry()? {
        if !meta.path.is_empty() {
            entry_path::validate(&meta.path).map_err(PluginError::InvalidData)?;
        }
        let path = join_bytes(root, &meta.path);
        match meta.kind {
            EntryKind::Directory => {
                directory(fs, &path, &meta)?;
                directories.push((path, meta));
            }
            EntryKind::File => {
                let bytes = replace(fs, &path, &meta, |temp| {
                    let file = fs.create_file(temp)?;
                    copy(input, &file, &meta.path)
                })?;
                progress.add_bytes(bytes, host);
            }
            EntryKind::Symlink => {
                let target = meta.link_target.clone().ok_or_else(|| {
                    PluginError::InvalidData(format!("symlink {} has no target", show(&meta.path)))
                })?;
                replace(fs, &path, &meta, |temp| {
                    fs.symlink(&target, temp).map(|()| 0)
                })?;
            }
            EntryKind::HardLink => {
                return Err(PluginError::InvalidData(format!(
                    "{} is a hard link; this stage never writes those, so the backup is not its own",
                    show(&meta.path)
                )));
            }
        }
        progress.add_item(host);
    }
    // Parents come before their children, so the reverse order is innermost
    // first, and the root (the first entry) comes last.
    for (path, meta) in directories.iter().rev() {
        fs.set_metadata(path, &update(meta))?;
    }
    progress.finish(host);
    host.message(RESTORE_COMPLETED, "Completed directory restore.");
    Ok(Totals {
        items: progress.items,
        bytes: progress.bytes,
        skipped: 0,
    })
}

/// Makes sure a directory is at `path`; never replaces anything else.
fn directory(fs: &impl PosixFs, path: &[u8], meta: &EntryMeta) -> Result<(), PluginError> {
    match fs.stat(path) {
        Ok(stat) if stat.type_ == FileType::Directory => Ok(()),
        Ok(_) => Err(PluginError::InvalidData(format!(
            "cannot restore directory {}: something else is in the way",
            show(&meta.path)
        ))),
        Err(PluginError::NotFound(_)) => fs.create_dir(path),
        Err(e) => Err(e),
    }
}

/// Creates the entry at a temporary name with `create`, applies its
/// metadata, and renames it over `path`; removes the temporary name on any
/// failure. Returns what `create` returned (the bytes written).
fn replace(
    fs: &impl PosixFs,
    path: &[u8],
    meta: &EntryMeta,
    create: impl FnOnce(&[u8]) -> Result<u64, PluginError>,
) -> Result<u64, PluginError> {
    let temp = [path, TEMP_SUFFIX].concat();
    // A leftover of an interrupted restore.
    match fs.remove_file(&temp) {
        Ok(()) | Err(PluginError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let result = create(&temp).and_then(|bytes| {
        fs.set_metadata(&temp, &update(meta))?;
        fs.rename(&temp, path)?;
        Ok(bytes)
    });
    if result.is_err() {
        let _ = fs.remove_file(&temp);
    }
    result
}

/// Copies the current entry's content into `file`.
fn copy(input: &impl EntrySource, file: &impl PosixFile, name: &[u8]) -> Result<u64, PluginError> {
    let mut offset = 0u64;
    loop {
        let data = input.read(CHUNK)?;
        if data.is_empty() {
            break;
        }
        file.write_at(offset, &data)?;
        offset += data.len() as u64;
    }
    file.sync().map_err(|e| match e {
        PluginError::Io(why) => PluginError::Io(format!("{}: {why}", show(name))),
        other => other,
    })?;
    Ok(offset)
}

/// The recorded mode, owner and time; the host applies its owner policy.
fn update(meta: &EntryMeta) -> MetadataUpdate {
    MetadataUpdate {
        mode: Some(meta.mode & 0o7777),
        owner: meta.owner.clone(),
        mtime: Some(Timestamp {
            seconds: meta.mtime_seconds,
            nanoseconds: meta.mtime_nanoseconds,
        }),
    }
}
