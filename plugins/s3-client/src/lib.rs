//! A small S3 client for drhost's `wasm32-wasip2` guest plugins: AWS
//! Signature V4 over `wasi:http`, streamed GETs, single and multipart PUTs
//! with at most one part in memory, ListObjectsV2 pages, retries with
//! exponential backoff, and errors that say what to fix without repeating
//! what the server said (that goes to the diagnostics, see [`explain`]).
//!
//! Layers, each in its own module: signing ([`sigv4`]), the S3 documents
//! ([`responses`]), configuration ([`settings`]), which answers to retry
//! ([`retry`]), error texts ([`explain`]), the operations ([`client`],
//! [`download`], [`upload`]). The plumbing any guest HTTP client needs
//! (percent-encoding, timestamps, the XML reader, the transport and clock
//! traits and their `wasi:http` implementation, backoff) is the shared
//! `http-client` crate, re-exported here under its module names; the network
//! and the clock sit behind its traits, so everything but the `wasi:http`
//! glue is tested natively.

pub mod client;
pub mod download;
pub mod error;
mod explain;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod responses;
pub mod retry;
pub mod settings;
pub mod sigv4;
pub mod upload;

#[cfg(test)]
mod tests;

#[cfg(target_os = "wasi")]
pub use http_client::wasi_http;
pub use http_client::{encode, time, transport, xml};

pub use client::{BodySink, Client, ObjectHead, is_metadata_header};
pub use error::{Error, ErrorKind};
pub use responses::{ListPage, ObjectEntry};
pub use settings::Settings;
pub use upload::Source;

/// The client as the guest plugins use it.
#[cfg(target_os = "wasi")]
pub type GuestClient = Client<wasi_http::WasiHttp, wasi_http::WasiClock>;

/// A client for `settings` over the host's `wasi:http`.
#[cfg(target_os = "wasi")]
pub fn guest_client(settings: Settings) -> GuestClient {
    Client::new(settings, wasi_http::WasiHttp, wasi_http::WasiClock)
}
