//! drhost stage `relational-postgres`: a physical base backup of a PostgreSQL
//! (15 or later) server, taken over the replication protocol by the plugin
//! itself, and its restore into an empty data directory.
//!
//! Layers, each in its own module: message framing ([`wire`]), password
//! authentication ([`auth`], [`scram`]), the connection and its server
//! messages ([`connection`]), the `BASE_BACKUP` exchange ([`basebackup`]), the
//! streaming tar reader ([`tar`]) feeding archive entries ([`receive`]) and
//! the manifest check ([`manifest`]); restore writes through `posix-fs` and
//! gives the data directory its owner ([`owner`]). The logic talks to the
//! host through `guest_sdk`'s traits, so it is tested natively with
//! in-memory fakes and real temporary directories.

pub mod bindings {
    guest_sdk::stage_bindings!("../../wit");
}

pub mod auth;
pub mod backup;
pub mod basebackup;
pub mod config;
pub mod connection;
pub mod manifest;
pub mod owner;
pub mod receive;
pub mod restore;
pub mod scram;
pub mod sql;
mod stage;
pub mod tar;
#[cfg(test)]
mod tests;
pub mod wire;

pub use guest_sdk::{Attribute, PluginError};

/// The exported component; all behaviour lives in [`stage`].
struct RelationalPostgres;

// Native builds (the unit tests) skip the export: the component's symbol
// names are not valid in a native linker's version script.
#[cfg(target_arch = "wasm32")]
bindings::export!(RelationalPostgres with_types_in bindings);
