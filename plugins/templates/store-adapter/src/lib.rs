//! A drhost store adapter to start from: every object is a file below the
//! store's directory (`/store` in the sandbox), its name's `/`-separated
//! segments as directories.
//!
//! The component's entry points are in this file; the logic is in [`store`],
//! written against std and `guest-sdk`'s small [`HostSource`]/[`HostSink`]
//! traits so that `cargo test` runs it natively on a temporary directory.

pub mod config;
pub mod store;

pub use config::Config;
pub use guest_sdk::{HostSink, HostSource};
pub use store::DirStore;

use guest_sdk::PluginError;
use guest_sdk::bindings::drhost::plugin::host;
use guest_sdk::store_adapter_world::exports::drhost::plugin::store_adapter::{
    AdapterInfo, Guest, ObjectInfo,
};
use guest_sdk::{ByteSink, ByteSource};

/// The component.
pub struct DirTemplate;

impl Guest for DirTemplate {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: "store-dir-template".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            // This medium can delete. A store registered with
            // `"appendOnly": true` is write-once all the same: the adapter
            // then refuses to replace or delete (see `DirStore`).
            append_only: false,
        }
    }

    fn validate(config: String) -> Result<(), PluginError> {
        DirStore::new(Config::parse(&config)?).probe()
    }

    fn put(name: String, size: u64, data: &ByteSource) -> Result<(), PluginError> {
        configured()?.put(&name, size, data)
    }

    fn get(
        name: String,
        offset: u64,
        length: Option<u64>,
        out: &ByteSink,
    ) -> Result<(), PluginError> {
        configured()?.get(&name, offset, length, out)
    }

    fn stat(name: String) -> Result<Option<ObjectInfo>, PluginError> {
        configured()?.stat(&name)
    }

    fn list(prefix: String, start_after: Option<String>) -> Result<Vec<ObjectInfo>, PluginError> {
        configured()?.list(&prefix, start_after.as_deref())
    }

    fn delete(name: String) -> Result<(), PluginError> {
        configured()?.delete(&name)
    }
}

/// The store this call is for. Every call runs in a fresh instance, so the
/// configuration is read from the host on each one; nothing is cached.
fn configured() -> Result<DirStore, PluginError> {
    Ok(DirStore::new(Config::parse(&host::config())?))
}

// Only the component exports the entry points: their names
// (`drhost:plugin/store-adapter@0.2.1#put`) are not symbols a native linker
// accepts, and `cargo test` links this crate natively.
#[cfg(target_arch = "wasm32")]
guest_sdk::store_adapter_world::export!(DirTemplate);
