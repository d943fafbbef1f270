//! drhost stage `object-store-s3`: backs up every object of an S3-compatible
//! bucket (optionally below a key prefix) with its metadata, one archive
//! entry per object, and restores them into a bucket. It talks to the server
//! through `wasi:http` outgoing requests, which the host grants per
//! authority; the S3 work is the shared `s3-client`.
//!
//! Layers: configuration ([`config`]), the reversible mapping of object keys
//! to entry paths ([`key_path`]), the host as traits (`guest_sdk`'s ports),
//! and the [`backup`] and [`restore`] flows, tested natively against the
//! in-memory S3 of `s3-client`.

// Natively (the unit tests) the `wasi:http` glue in `stage` is left out, so
// parts only it uses look unused there.
#![cfg_attr(not(target_os = "wasi"), allow(dead_code))]

mod bindings {
    guest_sdk::stage_bindings!("../../wit");
}

mod attributes;
mod backup;
mod config;
mod key_path;
mod restore;
#[cfg(target_os = "wasi")]
mod stage;
#[cfg(test)]
mod tests;

pub use guest_sdk::{Attribute, PluginError};

/// The exported component; its behaviour lives in `stage`.
struct ObjectStoreS3;

#[cfg(target_os = "wasi")]
bindings::export!(ObjectStoreS3 with_types_in bindings);

/// The summary metadata of a backup of the bucket `source` describes.
fn summary_metadata(source: &s3_client::Settings) -> Vec<Attribute> {
    vec![
        ("endpoint".to_owned(), source.endpoint.url.clone()),
        ("bucket".to_owned(), source.bucket.clone()),
        ("prefix".to_owned(), source.prefix.clone()),
    ]
}

/// `metadata` with the object count, and the objects that vanished
/// mid-backup if any, so the manifest shows an incomplete backup as such.
fn with_counts(mut metadata: Vec<Attribute>, totals: &backup::Totals) -> Vec<Attribute> {
    metadata.push(("objects".to_owned(), totals.progress.items.to_string()));
    if totals.vanished > 0 {
        metadata.push(("vanished-objects".to_owned(), totals.vanished.to_string()));
    }
    metadata
}
