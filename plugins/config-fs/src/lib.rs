//! drhost stage `config-fs`: backs up and restores a system-configuration
//! directory (granted at `/data` unless the configuration names another
//! `root`) and records a manifest of its keys — every regular file's path
//! with the SHA-256 of its content — which a restore must reproduce exactly.

mod keys;

use fs_tree::{Attribute, DirStage, Messages, PluginError, StageKind};

use keys::KeyDigests;

struct ConfigFs;

impl DirStage for ConfigFs {
    const NAME: &'static str = "config-fs";
    const KIND: StageKind = StageKind::SystemConfiguration;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const MESSAGES: Messages = Messages {
        backup_started: (
            4023,
            "Started runtime infrastructure & configuration backup.",
        ),
        backup_completed: (
            4025,
            "Completed runtime infrastructure & configuration backup.",
        ),
        restore_started: (
            5023,
            "Started runtime infrastructure & configuration restore.",
        ),
        restore_completed: (
            5025,
            "Completed runtime infrastructure & configuration restore.",
        ),
    };

    type BackupHook = KeyDigests;
    type RestoreHook = KeyDigests;

    fn backup_metadata(keys: KeyDigests) -> Result<Vec<Attribute>, PluginError> {
        Ok(keys.to_metadata())
    }

    fn verify_restore(restored: KeyDigests, metadata: &[Attribute]) -> Result<(), PluginError> {
        let expected = keys::from_metadata(metadata).map_err(PluginError::InvalidData)?;
        restored.verify(&expected).map_err(PluginError::InvalidData)
    }
}

fs_tree::bindings::export!(ConfigFs);
