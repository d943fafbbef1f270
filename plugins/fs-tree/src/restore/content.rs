//! A file's content from the archive into a new file, sparse (all-zero
//! 4 KiB blocks stay holes): by the host, without the bytes entering the
//! sandbox, unless the stage's hook must see them.

use guest_sdk::{EntrySource, Host, PluginError, PosixFile, Progress};

use crate::hook::FileHook;

/// Copies the current entry's content into `file` and sets its size; the
/// hook, if it asks for content, and the progress see every byte.
pub fn copy(
    source: &impl EntrySource,
    file: &impl PosixFile,
    hook: &mut impl FileHook,
    progress: &mut Progress,
    host: &impl Host,
) -> Result<(), PluginError> {
    if !hook.needs_every_file() {
        let copied = source.copy_to_file(file, false)?;
        progress.add_bytes(copied.size, host);
        return Ok(());
    }
    guest_sdk::content::copy_observed(source, file, |data| {
        hook.chunk(data);
        progress.add_bytes(data.len() as u64, host);
        Ok(())
    })?;
    Ok(())
}
