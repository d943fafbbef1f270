//! The exported `store-adapter` interface over the host's `wasi:http`.

use std::sync::OnceLock;

use guest_sdk::PluginError;
use guest_sdk::bindings::drhost::plugin::host;
use guest_sdk::bindings::drhost::plugin::streams::{ByteSink, ByteSource};
use s3_client::{GuestClient, Settings};

use crate::StoreS3;
use crate::bindings::exports::drhost::plugin::store_adapter::{AdapterInfo, Guest, ObjectInfo};
use crate::config;
use crate::store::Store;

impl Guest for StoreS3 {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: "store-s3".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            append_only: false,
        }
    }

    fn validate(config: String) -> Result<(), PluginError> {
        let client = guest_sdk::s3::client(parse(&config)?);
        Store { client: &client }.probe()
    }

    fn put(name: String, size: u64, data: &ByteSource) -> Result<(), PluginError> {
        with_store(|store| store.put(&name, size, data))
    }

    fn get(
        name: String,
        offset: u64,
        length: Option<u64>,
        out: &ByteSink,
    ) -> Result<(), PluginError> {
        with_store(|store| store.get(&name, offset, length, out))
    }

    fn stat(name: String) -> Result<Option<ObjectInfo>, PluginError> {
        with_store(|store| store.stat(&name))
    }

    fn list(prefix: String, start_after: Option<String>) -> Result<Vec<ObjectInfo>, PluginError> {
        with_store(|store| store.list(&prefix, start_after.as_deref()))
    }

    fn delete(name: String) -> Result<(), PluginError> {
        with_store(|store| store.delete(&name))
    }
}

/// Runs `f` on the configured store. An instance's configuration never
/// changes, so it is read from the host and parsed once.
fn with_store<R>(
    f: impl FnOnce(
        &Store<'_, s3_client::wasi_http::WasiHttp, s3_client::wasi_http::WasiClock>,
    ) -> Result<R, PluginError>,
) -> Result<R, PluginError> {
    static CLIENT: OnceLock<Result<GuestClient, PluginError>> = OnceLock::new();
    match CLIENT.get_or_init(|| parse(&host::config()).map(guest_sdk::s3::client)) {
        Ok(client) => f(&Store { client }),
        Err(e) => Err(e.clone()),
    }
}

fn parse(text: &str) -> Result<Settings, PluginError> {
    config::parse(text).map_err(PluginError::InvalidConfig)
}
