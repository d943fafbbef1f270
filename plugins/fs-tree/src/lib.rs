//! Backup and restore of a directory tree for drhost's directory stages
//! (`object-store-fs`, `config-fs`).
//!
//! The stage-plugin bindings are generated here, once, so that both stage
//! crates share one implementation: a stage crate only implements [`DirStage`]
//! and invokes `fs_tree::bindings::export!`.
//!
//! The tree logic talks to the host through `guest_sdk`'s traits (the
//! archive, the host, `posix-fs`), which keeps it testable natively with
//! in-memory archives and real temporary directories.

pub mod bindings {
    guest_sdk::stage_bindings!(
        "../../wit",
        pub_export_macro: true,
        default_bindings_module: "fs_tree::bindings",
    );
}

mod backup;
mod hard_links;
mod hook;
mod restore;
mod stage;
#[cfg(test)]
mod tests;

pub use bindings::exports::drhost::plugin::stage::StageKind;
pub use guest_sdk::{Attribute, PluginError};
pub use hook::FileHook;
pub use stage::{DirStage, Messages};
