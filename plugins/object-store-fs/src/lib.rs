//! drhost stage `object-store-fs`: backs up and restores an object store kept
//! as a directory tree (granted at `/data` unless the configuration names
//! another `root`). All the work is the shared tree walk of `fs-tree`.

use fs_tree::{Attribute, DirStage, Messages, PluginError, StageKind};

struct ObjectStoreFs;

impl DirStage for ObjectStoreFs {
    const NAME: &'static str = "object-store-fs";
    const KIND: StageKind = StageKind::ObjectStore;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const MESSAGES: Messages = Messages {
        backup_started: (4019, "Started object store backup."),
        backup_completed: (4021, "Completed objectstore backup."),
        restore_started: (5019, "Started object store restore."),
        restore_completed: (5021, "Completed object store restore."),
    };

    type BackupHook = ();
    type RestoreHook = ();

    fn backup_metadata(_: ()) -> Result<Vec<Attribute>, PluginError> {
        Ok(Vec::new())
    }

    fn verify_restore(_: (), _: &[Attribute]) -> Result<(), PluginError> {
        Ok(())
    }
}

fs_tree::bindings::export!(ObjectStoreFs);
