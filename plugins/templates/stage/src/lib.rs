//! A drhost stage to start from: backs up the directories, regular files
//! and symlinks below its root (`/data` in the sandbox: the operator's
//! `source`, read-only, during a backup; `target`, read-write, during a
//! restore) and restores them.
//!
//! The component's entry points are in this file; the logic ([`backup`],
//! [`restore`]) talks to the host only through `guest_sdk`'s traits, so
//! `cargo test` runs it natively: `guest_sdk::native::NativeFs` on
//! temporary directories, the archive and host in memory.

pub mod backup;
pub mod config;
pub mod restore;

use guest_sdk::stage_world::exports::drhost::plugin::stage::{
    Guest, StageInfo, StageKind, StageSummary,
};
use guest_sdk::{
    ArchiveReader, ArchiveWriter, Attribute, GuestFs, GuestHost, PluginError, PosixFs,
};

/// Message codes: third-party plugins use 9000–9999 (`wit/stage.wit`,
/// `report.message`).
pub const BACKUP_STARTED: u32 = 9001;
pub const BACKUP_COMPLETED: u32 = 9002;
pub const RESTORE_STARTED: u32 = 9003;
pub const RESTORE_COMPLETED: u32 = 9004;

/// Totals of a backup or restore.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub items: u64,
    pub bytes: u64,
    pub skipped: u64,
}

/// The component.
pub struct DirTemplate;

impl Guest for DirTemplate {
    fn describe() -> StageInfo {
        StageInfo {
            name: "stage-dir-template".into(),
            kind: StageKind::Other,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn validate(config: String) -> Result<(), PluginError> {
        let root = config::root(&config)?;
        match GuestFs.stat(root.as_bytes()) {
            Ok(stat) if stat.type_ == guest_sdk::FileType::Directory => Ok(()),
            Ok(_) => Err(PluginError::InvalidConfig(format!(
                "{root} is not a directory"
            ))),
            Err(e) => Err(PluginError::InvalidConfig(format!(
                "{root} cannot be used ({e:?}); is it granted to the stage (`source`/`target`)?"
            ))),
        }
    }

    fn backup(out: &ArchiveWriter) -> Result<StageSummary, PluginError> {
        let root = config::root(&guest_sdk::bindings::drhost::plugin::host::config())?;
        let totals = backup::run(&GuestFs, out, &GuestHost, &root)?;
        Ok(summary(totals))
    }

    fn restore(
        input: &ArchiveReader,
        _metadata: Vec<Attribute>,
    ) -> Result<StageSummary, PluginError> {
        let root = config::root(&guest_sdk::bindings::drhost::plugin::host::config())?;
        let totals = restore::run(&GuestFs, input, &GuestHost, &root)?;
        Ok(summary(totals))
    }
}

fn summary(totals: Totals) -> StageSummary {
    StageSummary {
        items: totals.items,
        bytes: totals.bytes,
        // Recorded in the backup's manifest; `restore` gets it back.
        metadata: vec![("skipped-entries".into(), totals.skipped.to_string())],
    }
}

// Only the component exports the entry points: their names
// (`drhost:plugin/stage@0.2.1#backup`) are not symbols a native linker
// accepts, and `cargo test` links this crate natively.
#[cfg(target_arch = "wasm32")]
guest_sdk::stage_world::export!(DirTemplate);
