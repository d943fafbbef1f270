//! What the client needs from its environment, as traits: sending one HTTP
//! request ([`Transport`]) and telling and waiting out time ([`Clock`]). The
//! guest implements them over `wasi:http` and `wasi:clocks`; the unit tests
//! over in-memory servers, so signing, parsing and retries run natively.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Put => "PUT",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }
}

/// One signed request. `headers` never holds `host`: the transport derives
/// it from `authority` (wasi:http forbids setting it).
#[derive(Debug)]
pub struct Request<'a> {
    pub method: Method,
    pub https: bool,
    pub authority: &'a str,
    /// Already URI-encoded, e.g. `/bucket/a%20b?list-type=2`.
    pub path_and_query: String,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

/// The status and headers of a response, with its body still to be read.
pub struct Response<B> {
    pub status: u16,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: B,
}

impl<B> Response<B> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response body, read in pieces.
pub trait ResponseBody {
    /// Up to `max` bytes; an empty vector marks the end.
    fn read(&mut self, max: usize) -> Result<Vec<u8>, TransportError>;
}

/// Why a request got no (complete) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    pub kind: TransportErrorKind,
    /// The transport's own words, e.g. `HTTP-request-denied`.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// The host refused the request: the authority is not granted.
    Denied,
    /// No connection: refused, no route, name not found, connect timeout.
    Unreachable,
    /// The exchange broke off or timed out after connecting.
    Interrupted,
    /// Anything a retry cannot fix (a TLS certificate, an invalid request).
    Fatal,
}

impl TransportError {
    pub fn new(kind: TransportErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

pub trait Transport {
    type Body: ResponseBody;
    fn send(&self, request: &Request<'_>) -> Result<Response<Self::Body>, TransportError>;
}

pub trait Clock {
    /// Wall-clock seconds since the Unix epoch (requests are signed with it).
    fn now_unix(&self) -> i64;
    /// Waits `duration` (between retries).
    fn sleep(&self, duration: Duration);
}

/// Reads a whole (small) body, failing once it exceeds `limit` bytes.
pub fn read_to_end(body: &mut impl ResponseBody, limit: usize) -> Result<Vec<u8>, TransportError> {
    let mut out = Vec::new();
    loop {
        let piece = body.read(64 << 10)?;
        if piece.is_empty() {
            return Ok(out);
        }
        if out.len() + piece.len() > limit {
            return Err(TransportError::new(
                TransportErrorKind::Fatal,
                format!("response body larger than {limit} bytes"),
            ));
        }
        out.extend_from_slice(&piece);
    }
}
