//! drhost store adapter `store-s3`: keeps repository objects in an
//! S3-compatible bucket (AWS S3, Garage, MinIO, ...), one S3 object per
//! repository object, below an optional key prefix. It talks to the server
//! through `wasi:http` outgoing requests, which the host grants per
//! authority; all the S3 work is the shared `s3-client`.

// Natively (the unit tests) the `wasi:http` glue in `guest` is left out, so
// parts only it uses look unused there.
#![cfg_attr(not(target_os = "wasi"), allow(dead_code))]

mod bindings {
    guest_sdk::store_adapter_bindings!("../../wit");
}

mod config;
#[cfg(target_os = "wasi")]
mod guest;
mod name;
mod store;

/// The exported component; its behaviour lives in `guest`.
struct StoreS3;

// Native builds (the unit tests) skip the export: the `wasi:http` transport
// only exists on wasm32-wasip2.
#[cfg(target_os = "wasi")]
bindings::export!(StoreS3 with_types_in bindings);
