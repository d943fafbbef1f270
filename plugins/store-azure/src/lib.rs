//! drhost store adapter `store-azure`: keeps repository objects in an Azure
//! Blob Storage container (or Azurite), one block blob per repository
//! object, below an optional name prefix. It talks to the service through
//! `wasi:http` outgoing requests, which the host grants per authority, and
//! signs them with the account's Shared Key, appends a SAS token, or sends a
//! bearer token. The plumbing (transport, clock, backoff, XML) is the shared
//! `http-client`.

// Natively (the unit tests) the `wasi:http` glue in `guest` is left out, so
// parts only it uses look unused there.
#![cfg_attr(not(target_os = "wasi"), allow(dead_code))]

mod bindings {
    guest_sdk::store_adapter_bindings!("../../wit");
}

mod client;
mod config;
mod download;
mod explain;
#[cfg(target_os = "wasi")]
mod guest;
mod listing;
mod shared_key;
mod store;
#[cfg(test)]
mod tests;
mod upload;

/// The exported component; its behaviour lives in `guest`.
struct StoreAzure;

// Native builds (the unit tests) skip the export: the `wasi:http` transport
// only exists on wasm32-wasip2.
#[cfg(target_os = "wasi")]
bindings::export!(StoreAzure with_types_in bindings);
