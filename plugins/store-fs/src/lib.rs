//! drhost store adapter `store-fs`: keeps repository objects as files below a
//! granted directory (`/store` unless the configuration names another `root`),
//! one file per object, its name's `/`-separated segments as directories.
//! With `"appendOnly": true` it is write-once: it refuses to replace or delete
//! objects, and records every delete it is asked for (see [`store::DELETE_LOG`]).

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "store-adapter-plugin",
        // The WASI interfaces the world includes are generated here too;
        // the component imports only those the plugin uses.
        generate_all,
    });
}

mod config;
mod durable;
mod listing;
mod name;
mod store;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use bindings::drhost::plugin::host;
use bindings::drhost::plugin::streams::{ByteSink, ByteSource};
use bindings::drhost::plugin::types::PluginError;
use bindings::exports::drhost::plugin::store_adapter::{AdapterInfo, Guest, ObjectInfo};
use store::{Sink, Source, Store};

const DEFAULT_ROOT: &str = "/store";

struct StoreFs;

impl Guest for StoreFs {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: "store-fs".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            append_only: false,
        }
    }

    fn validate(config: String) -> Result<(), PluginError> {
        let config = parse_config(&config)?;
        Store {
            root: &config.root,
            append_only: config.append_only,
        }
        .probe()
    }

    fn put(name: String, size: u64, data: &ByteSource) -> Result<(), PluginError> {
        store()?.put(&name, size, data)
    }

    fn get(
        name: String,
        offset: u64,
        length: Option<u64>,
        out: &ByteSink,
    ) -> Result<(), PluginError> {
        store()?.get(&name, offset, length, out)
    }

    fn stat(name: String) -> Result<Option<ObjectInfo>, PluginError> {
        store()?.stat(&name)
    }

    fn list(prefix: String, start_after: Option<String>) -> Result<Vec<ObjectInfo>, PluginError> {
        store()?.list(&prefix, start_after.as_deref())
    }

    fn delete(name: String) -> Result<(), PluginError> {
        store()?.delete(&name)
    }
}

/// The configured store. An instance's configuration never changes, so it is
/// read from the host once rather than on every call.
fn store() -> Result<Store<'static>, PluginError> {
    static CONFIG: OnceLock<Result<config::Config, PluginError>> = OnceLock::new();
    match CONFIG.get_or_init(|| parse_config(&host::config())) {
        Ok(config) => Ok(Store {
            root: &config.root,
            append_only: config.append_only,
        }),
        Err(e) => Err(e.clone()),
    }
}

fn parse_config(config: &str) -> Result<config::Config, PluginError> {
    config::parse(config, DEFAULT_ROOT).map_err(PluginError::InvalidConfig)
}

impl Source for ByteSource {
    fn read(&self, max: u32) -> Result<Vec<u8>, PluginError> {
        ByteSource::read(self, max)
    }
}

impl Sink for ByteSink {
    fn write(&self, data: &[u8]) -> Result<(), PluginError> {
        ByteSink::write(self, data)
    }
}

bindings::export!(StoreFs with_types_in bindings);
