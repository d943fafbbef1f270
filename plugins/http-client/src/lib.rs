//! The HTTP plumbing shared by drhost's guest clients (`s3-client`, the
//! Azure Blob store adapter): what a client needs from its environment as
//! traits ([`transport`]: one request, the clock), their implementation over
//! the host's `wasi:http` and `wasi:clocks` ([`wasi_http`], guests only),
//! retry backoff ([`retry`]), percent-encoding ([`encode`]), the date forms
//! the services use ([`time`]), a minimal XML reader ([`xml`]) and bounded
//! log lines for what a service said ([`diagnostic`]). Nothing
//! here knows a service's protocol: signing, documents and error texts stay
//! with each client, which is then tested natively against fakes of the
//! traits.

pub mod diagnostic;
pub mod encode;
pub mod retry;
pub mod time;
pub mod transport;
#[cfg(target_os = "wasi")]
pub mod wasi_http;
pub mod xml;
