//! GET of an object or a byte range of it, streamed into a [`BodySink`] in
//! pieces of at most 1 MiB. A transfer that breaks off is resumed with a
//! Range request from the first byte not yet delivered, pinned to the same
//! object version with `If-Match`, so the sink never sees a byte twice.

use plugin_util::CHUNK;

use crate::client::{BodySink, Call, Client, Failure, ObjectHead, head_of};
use crate::error::{Error, ErrorKind};
use crate::retry;
use crate::transport::{Clock, Method, ResponseBody, Transport, TransportError};

/// Why streaming a body stopped early.
enum StreamStop {
    Transport(TransportError),
    Sink(Error),
}

/// The bytes `bytes A-B/TOTAL` of a `Content-Range` header.
fn content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last, total) = (
        first.trim().parse().ok()?,
        last.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (first <= last && last < total).then_some((first, last, total))
}

impl<T: Transport, C: Clock> Client<T, C> {
    /// Streams `length` bytes of `name` from `offset` (`None`: to the end)
    /// into `sink`. A range reaching past the end of the object is an
    /// `invalid-data` error, as for the other stores; a missing object is
    /// `not-found`. Returns what the server said about the object.
    pub fn get_object(
        &self,
        name: &str,
        offset: u64,
        length: Option<u64>,
        sink: &mut impl BodySink,
    ) -> Result<ObjectHead, Error> {
        let key = self.key(name);
        let out_of_range = |size: u64| {
            let length = length.map_or_else(|| "to the end".into(), |l| l.to_string());
            Error::invalid_data(format!(
                "{name}: range at offset {offset}, length {length}, exceeds its {size} bytes"
            ))
        };
        // An empty range cannot be asked for; check the object instead.
        let want_end = match length {
            Some(0) => {
                let head = self.head_object(name)?.ok_or_else(|| self.missing(&key))?;
                if offset > head.size {
                    return Err(out_of_range(head.size));
                }
                sink.head(&head)?;
                return Ok(head);
            }
            Some(len) => Some(offset.checked_add(len).ok_or_else(|| out_of_range(0))?),
            None => None,
        };
        let mut delivered: u64 = 0;
        let mut head: Option<ObjectHead> = None;
        let mut expected: Option<u64> = None;
        let mut attempt = 1;
        loop {
            let start = offset + delivered;
            let mut headers = Vec::new();
            let ranged = start > 0 || want_end.is_some();
            if ranged {
                let range = match want_end {
                    Some(end) => format!("bytes={start}-{}", end - 1),
                    None => format!("bytes={start}-"),
                };
                headers.push(("range".to_owned(), range));
            }
            if let Some(etag) = head.as_ref().and_then(|h| h.etag.clone()) {
                headers.push(("if-match".to_owned(), etag));
            }
            let call = Call {
                op: "GET".into(),
                method: Method::Get,
                key: Some(&key),
                query: Vec::new(),
                headers,
                body: &[],
            };
            let mut response = match self.execute(&call) {
                Ok(response) => response,
                Err(Failure::Status { status: 416, .. }) if head.is_none() => {
                    // Past the end: fine only for an empty read at the very end.
                    let found = self.head_object(name)?.ok_or_else(|| self.missing(&key))?;
                    if offset == found.size && length.is_none() {
                        sink.head(&found)?;
                        return Ok(found);
                    }
                    return Err(out_of_range(found.size));
                }
                Err(Failure::Status { status: 412, .. }) if head.is_some() => {
                    return Err(Error::io(format!(
                        "object {key:?} changed while it was being read"
                    )));
                }
                Err(failure) => return Err(self.error(&call, failure)),
            };
            // What this response covers: [first, first + count) of `size`.
            let (first, count, size) = match (response.status, response.header("content-range")) {
                (206, Some(value)) => {
                    let (first, last, total) = content_range(value)
                        .ok_or_else(|| self.malformed(&call, "a bad Content-Range"))?;
                    (first, last - first + 1, total)
                }
                (200, _) if !ranged => {
                    let size = response
                        .header("content-length")
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or_else(|| self.malformed(&call, "no Content-Length"))?;
                    (0, size, size)
                }
                _ => return Err(self.malformed(&call, "the Range request was not honoured")),
            };
            if first != start {
                return Err(self.malformed(&call, "the range starts elsewhere than asked"));
            }
            if head.is_none() {
                if want_end.is_some_and(|end| end > size) {
                    return Err(out_of_range(size));
                }
                let found = head_of(&response, size);
                sink.head(&found)?;
                expected = Some(count);
                head = Some(found);
            }
            let total = expected.unwrap_or(count);
            match stream(&mut response.body, sink, &mut delivered, total) {
                Ok(()) if delivered == total => return Ok(head.unwrap_or_default()),
                Ok(()) => {}
                Err(StreamStop::Sink(e)) => return Err(e),
                Err(StreamStop::Transport(e)) => {
                    if !retry::transport_retryable(&e) {
                        return Err(self.error(&call, Failure::Transport(e)));
                    }
                }
            }
            // Broken off (or ended early): resume after a pause.
            if !self.retry.pause(&mut attempt, &self.clock) {
                return Err(Error::io(format!(
                    "GET {key:?} at {} broke off after {delivered} of {total} bytes",
                    self.settings.endpoint.url
                )));
            }
        }
    }

    fn missing(&self, key: &str) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!("no object {key:?} in bucket {}", self.settings.bucket),
        )
    }
}

/// Moves body bytes into `sink` in pieces of up to [`CHUNK`], counting what
/// the sink accepted in `delivered`; stops at the end of the body or at
/// `total`, whichever is first (a longer body is a protocol error).
fn stream(
    body: &mut impl ResponseBody,
    sink: &mut impl BodySink,
    delivered: &mut u64,
    total: u64,
) -> Result<(), StreamStop> {
    let mut buf: Vec<u8> = Vec::new();
    let result = loop {
        let room = CHUNK - buf.len();
        let piece = match body.read(room) {
            Ok(piece) => piece,
            Err(e) => break Err(StreamStop::Transport(e)),
        };
        if piece.is_empty() {
            break Ok(());
        }
        if *delivered + (buf.len() + piece.len()) as u64 > total {
            break Err(StreamStop::Sink(Error::io(
                "the server sent more bytes than it announced",
            )));
        }
        if buf.is_empty() && piece.len() == CHUNK {
            sink.write(&piece).map_err(StreamStop::Sink)?;
            *delivered += piece.len() as u64;
            continue;
        }
        buf.extend_from_slice(&piece);
        if buf.len() >= CHUNK {
            sink.write(&buf).map_err(StreamStop::Sink)?;
            *delivered += buf.len() as u64;
            buf.clear();
        }
    };
    // Bytes received before a break-off are good: hand them over.
    if !buf.is_empty() && !matches!(result, Err(StreamStop::Sink(_))) {
        sink.write(&buf).map_err(StreamStop::Sink)?;
        *delivered += buf.len() as u64;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_ranges() {
        assert_eq!(content_range("bytes 0-9/443"), Some((0, 9, 443)));
        assert_eq!(content_range("bytes 5-5/6"), Some((5, 5, 6)));
        assert_eq!(content_range("bytes */443"), None);
        assert_eq!(content_range("bytes 9-0/443"), None);
        assert_eq!(content_range("bytes 0-443/443"), None);
        assert_eq!(content_range("items 0-1/2"), None);
    }
}
