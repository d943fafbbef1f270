//! Get Blob into the host's sink: the whole object or a range of it
//! (`x-ms-range`), in pieces of at most 1 MiB. A transfer that breaks off is
//! resumed from the first byte not yet delivered, pinned to the same blob
//! with `If-Match` on its ETag, so the sink never sees a byte twice nor
//! bytes of two versions.

use guest_sdk::PluginError;
use http_client::retry;
use http_client::transport::{Clock, Method, ResponseBody, Transport, TransportError};
use plugin_util::CHUNK;

use crate::client::{Call, Failure, Target};
use crate::store::{HostSink, Store, checked};

/// Why streaming a body stopped early.
enum Stop {
    Transport(TransportError),
    Sink(PluginError),
    TooLong,
}

impl<T: Transport, C: Clock> Store<'_, T, C> {
    pub fn get(
        &self,
        name: &str,
        offset: u64,
        length: Option<u64>,
        sink: &impl HostSink,
    ) -> Result<(), PluginError> {
        checked(name)?;
        let last =
            match length {
                // Azure has no empty range: the size alone tells.
                Some(0) => return self.check_range(name, offset, 0),
                Some(length) => Some(offset.checked_add(length - 1).ok_or_else(|| {
                    PluginError::InvalidData(format!("{name}: the range overflows"))
                })?),
                None => None,
            };
        let call = read_call(name, range(offset, last), None);
        let mut response = match self.client.execute(&call, &[]) {
            Ok(response) => response,
            // Reading from the very end: valid, and empty.
            Err(Failure::Status { status: 416, .. }) if length.is_none() => {
                return self.check_range(name, offset, 0);
            }
            Err(f) => return Err(self.client.error(&call, f)),
        };
        let expected: u64 = response
            .header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| self.client.malformed(&call, "no Content-Length"))?;
        // Azure answers a range that runs past the end with what there is.
        if let Some(length) = length
            && expected != length
        {
            return Err(PluginError::InvalidData(format!(
                "{name}: the range of {length} bytes at {offset} runs past the end of the object"
            )));
        }
        let etag = response.header("etag").map(str::to_owned);
        let mut written = 0u64;
        let mut attempt = 1;
        loop {
            let stop = match stream(&mut response.body, sink, &mut written, expected) {
                Ok(()) if written == expected => return Ok(()),
                // A body that ends early without an error is a broken one too.
                Ok(()) => Stop::Transport(TransportError::new(
                    http_client::transport::TransportErrorKind::Interrupted,
                    format!("the body ended after {written} of {expected} bytes"),
                )),
                Err(stop) => stop,
            };
            let error = match stop {
                Stop::Sink(e) => return Err(e),
                Stop::TooLong => {
                    return Err(self
                        .client
                        .malformed(&call, "a body longer than its Content-Length"));
                }
                Stop::Transport(e) => e,
            };
            let delay = match (&etag, retry::transport_retryable(&error)) {
                (Some(_), true) => self.client.retry.delay_after(attempt),
                _ => None,
            };
            let Some(delay) = delay else {
                return Err(self.client.error(&call, Failure::Transport(error)));
            };
            self.client.diagnose(
                &call,
                &format!("resuming after {written} bytes: {}", error.detail),
            );
            self.client.clock.sleep(delay);
            attempt += 1;
            let from = offset + written;
            let resumed = read_call(
                name,
                range(from, Some(offset + expected - 1)),
                etag.as_deref(),
            );
            response = match self.client.execute(&resumed, &[]) {
                Ok(response) => response,
                Err(Failure::Status { status: 412, .. }) => {
                    return Err(PluginError::Io(format!(
                        "object '{name}' in container '{}' changed while it was being read",
                        self.client.settings.container
                    )));
                }
                Err(f) => return Err(self.client.error(&resumed, f)),
            };
            let resumed_length = response
                .header("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok());
            if resumed_length != Some(expected - written) {
                return Err(self
                    .client
                    .malformed(&resumed, "a resumed range of the wrong length"));
            }
        }
    }
}

/// The `x-ms-range` of `first..=last` (`last` of `None`: to the end), or
/// none for the whole object.
fn range(first: u64, last: Option<u64>) -> Option<String> {
    match (first, last) {
        (0, None) => None,
        (_, None) => Some(format!("bytes={first}-")),
        (_, Some(last)) => Some(format!("bytes={first}-{last}")),
    }
}

fn read_call<'a>(name: &'a str, range: Option<String>, etag: Option<&str>) -> Call<'a> {
    let mut headers = Vec::new();
    if let Some(range) = range {
        headers.push(("x-ms-range".to_owned(), range));
    }
    if let Some(etag) = etag {
        headers.push(("if-match".to_owned(), etag.to_owned()));
    }
    Call {
        op: "read",
        method: Method::Get,
        target: Target::Object(name),
        query: Vec::new(),
        headers,
    }
}

/// Copies `body` into `sink` until it ends, counting in `written` (which
/// must not pass `expected`).
fn stream(
    body: &mut impl ResponseBody,
    sink: &impl HostSink,
    written: &mut u64,
    expected: u64,
) -> Result<(), Stop> {
    loop {
        let piece = body.read(CHUNK).map_err(Stop::Transport)?;
        if piece.is_empty() {
            return Ok(());
        }
        if *written + piece.len() as u64 > expected {
            return Err(Stop::TooLong);
        }
        sink.write(&piece).map_err(Stop::Sink)?;
        *written += piece.len() as u64;
    }
}
