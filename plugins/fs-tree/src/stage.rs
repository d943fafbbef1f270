//! The `stage` export shared by the directory stages: configuration, status
//! messages and the tree backup/restore, parameterised by [`DirStage`].

use guest_sdk::bindings::drhost::plugin::{host, report};
use guest_sdk::{ArchiveReader, ArchiveWriter, FileType, GuestFs, GuestHost, PosixFs, Progress};

use crate::bindings::exports::drhost::plugin::stage::{Guest, StageInfo, StageSummary};
use crate::hook::FileHook;
use crate::{Attribute, PluginError, StageKind, backup, restore};

/// Where the stage reads (backup) or writes (restore) when the configuration
/// names no `root`.
const DEFAULT_ROOT: &str = "/data";

/// Summary metadata key counting the entries a backup had to leave out, so
/// the manifest shows the backup is incomplete even after the logs are gone.
const SKIPPED: &str = "skipped-entries";

/// A status message: its stage-specific code and text.
pub type Message = (u32, &'static str);

/// The status messages a stage reports at the start and successful end of a
/// backup and a restore.
pub struct Messages {
    pub backup_started: Message,
    pub backup_completed: Message,
    pub restore_started: Message,
    pub restore_completed: Message,
}

/// A stage that backs up and restores one directory tree. Implementing it
/// implements the exported `stage` interface.
pub trait DirStage {
    const NAME: &'static str;
    const KIND: StageKind;
    /// The stage crate's own version (its `CARGO_PKG_VERSION`).
    const VERSION: &'static str;
    const MESSAGES: Messages;

    /// Observes file contents during backup.
    type BackupHook: FileHook + Default;
    /// Observes file contents during restore.
    type RestoreHook: FileHook + Default;

    /// The summary metadata recorded in the backup manifest.
    fn backup_metadata(hook: Self::BackupHook) -> Result<Vec<Attribute>, PluginError>;

    /// Checks a finished restore against what `backup_metadata` recorded.
    fn verify_restore(hook: Self::RestoreHook, metadata: &[Attribute]) -> Result<(), PluginError>;
}

impl<T: DirStage> Guest for T {
    fn describe() -> StageInfo {
        StageInfo {
            name: T::NAME.into(),
            kind: T::KIND,
            version: T::VERSION.into(),
        }
    }

    fn validate(config: String) -> Result<(), PluginError> {
        let root = configured_root(&config)?;
        // Through `posix-fs`, as backup and restore go: what they use is what
        // must be reachable.
        match GuestFs.stat(root.as_bytes()) {
            Ok(stat) if matches!(stat.type_, FileType::Directory) => Ok(()),
            Ok(_) => Err(PluginError::InvalidConfig(format!(
                "`root` {root} is not a directory"
            ))),
            Err(PluginError::NotFound(_)) => Err(PluginError::InvalidConfig(format!(
                "`root` {root} does not exist or is not granted to this plugin"
            ))),
            Err(PluginError::Denied(e) | PluginError::Io(e) | PluginError::Other(e)) => Err(
                PluginError::InvalidConfig(format!("`root` {root} cannot be used: {e}")),
            ),
            Err(e) => Err(e),
        }
    }

    fn backup(out: &ArchiveWriter) -> Result<StageSummary, PluginError> {
        let root = configured_root(&host::config())?;
        say(T::MESSAGES.backup_started);
        let mut hook = T::BackupHook::default();
        let totals = backup::backup(&root, out, &GuestHost, &GuestFs, &mut hook)?;
        let mut metadata = T::backup_metadata(hook)?;
        if totals.skipped > 0 {
            metadata.push((SKIPPED.to_owned(), totals.skipped.to_string()));
        }
        say(T::MESSAGES.backup_completed);
        Ok(summary(&totals, metadata))
    }

    fn restore(
        input: &ArchiveReader,
        metadata: Vec<Attribute>,
    ) -> Result<StageSummary, PluginError> {
        let root = configured_root(&host::config())?;
        say(T::MESSAGES.restore_started);
        let mut hook = T::RestoreHook::default();
        let totals = restore::restore(&root, input, &GuestHost, &GuestFs, &mut hook)?;
        T::verify_restore(hook, &metadata)?;
        say(T::MESSAGES.restore_completed);
        Ok(summary(&totals, Vec::new()))
    }
}

fn configured_root(config: &str) -> Result<String, PluginError> {
    plugin_util::config::root(config, DEFAULT_ROOT).map_err(PluginError::InvalidConfig)
}

fn say((code, text): Message) {
    report::message(code, text);
}

fn summary(totals: &Progress, metadata: Vec<Attribute>) -> StageSummary {
    StageSummary {
        items: totals.items,
        bytes: totals.bytes,
        metadata,
    }
}
