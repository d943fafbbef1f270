//! Observation of regular-file contents as they stream through backup or
//! restore, so a stage can derive facts (e.g. digests) without a second read.

/// Called for every regular file, in archive order. The default methods do
/// nothing, so `()` serves stages that need no observation.
pub trait FileHook {
    /// Whether the hook must see every file's content. A backup then reads
    /// every file again instead of taking unchanged ones over from the
    /// previous backup, and backups and restores pass the content through
    /// the guest rather than letting the host copy it.
    fn needs_every_file(&self) -> bool {
        true
    }
    /// A file's content is about to stream; `path` is its entry path (raw
    /// bytes). `hard-link` entries have no content and are not shown.
    fn begin(&mut self, _path: &[u8]) {}
    /// The next piece of the current file's content.
    fn chunk(&mut self, _data: &[u8]) {}
    /// The current file's content is complete.
    fn end(&mut self) {}
}

impl FileHook for () {
    fn needs_every_file(&self) -> bool {
        false
    }
}
