//! The S3 operations on one bucket: addressing, signing, retries and the
//! translation of failures into operator-facing errors. Object names are
//! relative to the configured prefix; the client prepends it.

use std::borrow::Cow;

use crate::error::Error;
use crate::responses::{self, ErrorBody, ListPage};
use crate::retry::{self, Policy};
use crate::settings::Settings;
use crate::sigv4::{self, Canonical};
use crate::time;
use crate::transport::{Clock, Method, Request, Response, Transport, TransportError, read_to_end};

/// Largest error or listing document read (a page of 1000 long keys fits).
const MAX_DOCUMENT: usize = 16 << 20;
/// Largest error body read from a failed response.
const MAX_ERROR_BODY: usize = 64 << 10;
/// The longest page S3 returns, and the one the store contract allows.
pub const MAX_KEYS: u32 = 1000;

/// A client for one bucket of one server.
pub struct Client<T, C> {
    pub(crate) settings: Settings,
    pub(crate) transport: T,
    pub(crate) clock: C,
    pub(crate) retry: Policy,
    /// Where the causes of failures go (the host log, for the guests):
    /// the errors themselves never quote what the server sent.
    pub(crate) diagnostics: fn(&str),
}

/// One request as the operations describe it, before addressing and signing.
pub(crate) struct Call<'a> {
    /// What is being done, for messages: "GET", "list", "upload part 3 of".
    pub op: Cow<'a, str>,
    pub method: Method,
    /// The full key; `None` addresses the bucket.
    pub key: Option<&'a str>,
    pub query: Vec<(String, String)>,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

/// Why a request failed, before it becomes an [`Error`].
#[derive(Debug)]
pub(crate) enum Failure {
    Transport(TransportError),
    Status { status: u16, error: ErrorBody },
}

/// What a HEAD or GET says about an object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectHead {
    /// The object's whole size.
    pub size: u64,
    pub etag: Option<String>,
    /// The headers worth keeping with a copy of the object: `content-type`,
    /// `cache-control`, `content-encoding`, `content-disposition`,
    /// `content-language`, `expires` and every `x-amz-meta-*`.
    pub metadata: Vec<(String, String)>,
}

/// Whether a response header is object metadata a copy should carry.
pub fn is_metadata_header(name: &str) -> bool {
    matches!(
        name,
        "content-type"
            | "cache-control"
            | "content-encoding"
            | "content-disposition"
            | "content-language"
            | "expires"
    ) || name.starts_with("x-amz-meta-")
}

/// Where `get_object` delivers an object.
pub trait BodySink {
    /// Called once, before the first byte, with what the response says.
    fn head(&mut self, _head: &ObjectHead) -> Result<(), Error> {
        Ok(())
    }
    /// The next piece of the body (at most 1 MiB).
    fn write(&mut self, data: &[u8]) -> Result<(), Error>;
}

impl<T: Transport, C: Clock> Client<T, C> {
    pub fn new(settings: Settings, transport: T, clock: C) -> Self {
        Self {
            settings,
            transport,
            clock,
            retry: Policy::default(),
            diagnostics: |_| {},
        }
    }

    /// Sends the cause of every failure (the server's error code and
    /// message, the transport's reason) to `log`, which should reach the
    /// operator's log only: the error texts are fixed per kind of failure,
    /// so a server cannot make a caller of the client repeat its words.
    pub fn with_diagnostics(mut self, log: fn(&str)) -> Self {
        self.diagnostics = log;
        self
    }

    pub fn with_retry(mut self, retry: Policy) -> Self {
        self.retry = retry;
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The full key of the object `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.settings.prefix)
    }

    /// The authority requests go to: the endpoint's, or for virtual-host
    /// style the bucket as a subdomain of it.
    pub fn authority(&self) -> Cow<'_, str> {
        if self.settings.path_style {
            Cow::Borrowed(&self.settings.endpoint.authority)
        } else {
            Cow::Owned(format!(
                "{}.{}",
                self.settings.bucket, self.settings.endpoint.authority
            ))
        }
    }

    /// The encoded path of `key` (or of the bucket).
    fn path(&self, key: Option<&str>) -> String {
        let key = key.map(crate::encode::path);
        match (self.settings.path_style, key) {
            (true, None) => format!("/{}", self.settings.bucket),
            (true, Some(key)) => format!("/{}/{key}", self.settings.bucket),
            (false, None) => "/".to_owned(),
            (false, Some(key)) => format!("/{key}"),
        }
    }

    /// Signs and sends `call` once.
    fn send_once(&self, call: &Call<'_>) -> Result<Response<T::Body>, TransportError> {
        let amz_date = time::amz_date(self.clock.now_unix());
        let payload = sigv4::payload_hash(call.body);
        let authority = self.authority();
        let path = self.path(call.key);
        let mut headers = call.headers.clone();
        headers.push(("x-amz-date".into(), amz_date.clone()));
        headers.push(("x-amz-content-sha256".into(), payload.clone()));
        // Temporary keys are valid only with their token, which is signed.
        if let Some(token) = &self.settings.credentials.session_token {
            headers.push(("x-amz-security-token".into(), token.clone()));
        }
        let mut signed = headers.clone();
        signed.push(("host".into(), authority.to_string()));
        let authorization = sigv4::authorization(
            &self.settings.credentials,
            &self.settings.region,
            &amz_date,
            &Canonical {
                method: call.method.as_str(),
                path: &path,
                query: &call.query,
                headers: &signed,
                payload_sha256: &payload,
            },
        );
        headers.push(("authorization".into(), authorization));
        if matches!(call.method, Method::Put | Method::Post) {
            headers.push(("content-length".into(), call.body.len().to_string()));
        }
        let query = sigv4::canonical_query(&call.query);
        let path_and_query = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        self.transport.send(&Request {
            method: call.method,
            https: self.settings.endpoint.https,
            authority: &authority,
            path_and_query,
            headers,
            body: call.body,
        })
    }

    /// Sends `call` until it succeeds (a 2xx status), fails for good, or
    /// the retries are used up.
    pub(crate) fn execute(&self, call: &Call<'_>) -> Result<Response<T::Body>, Failure> {
        let mut attempt = 1;
        loop {
            let failure = match self.send_once(call) {
                Ok(response) if (200..300).contains(&response.status) => return Ok(response),
                Ok(mut response) => {
                    // HEAD answers carry no body; a broken body still leaves the status.
                    let body = read_to_end(&mut response.body, MAX_ERROR_BODY).unwrap_or_default();
                    Failure::Status {
                        status: response.status,
                        error: responses::error_body(&String::from_utf8_lossy(&body))
                            .unwrap_or_default(),
                    }
                }
                Err(e) => Failure::Transport(e),
            };
            if !self.retryable(&failure) || !self.retry.pause(&mut attempt, &self.clock) {
                return Err(failure);
            }
        }
    }

    fn retryable(&self, failure: &Failure) -> bool {
        match failure {
            Failure::Transport(e) => retry::transport_retryable(e),
            Failure::Status { status, error } => retry::status_retryable(*status, &error.code),
        }
    }

    /// `object "key"` or `bucket name`, for messages.
    pub(crate) fn what(&self, call: &Call<'_>) -> String {
        match call.key {
            Some(key) => format!("{key:?}"),
            None => format!("bucket {}", self.settings.bucket),
        }
    }

    /// Runs `call` and reads its (small) XML answer.
    pub(crate) fn document(&self, call: &Call<'_>) -> Result<String, Error> {
        let mut response = self.execute(call).map_err(|f| self.error(call, f))?;
        let body = read_to_end(&mut response.body, MAX_DOCUMENT)
            .map_err(|e| self.error(call, Failure::Transport(e)))?;
        String::from_utf8(body).map_err(|_| self.malformed(call, "the answer is not UTF-8"))
    }

    /// Size, ETag and metadata of `name`, or `None` if there is no such object.
    pub fn head_object(&self, name: &str) -> Result<Option<ObjectHead>, Error> {
        let key = self.key(name);
        let call = Call {
            op: "HEAD".into(),
            method: Method::Head,
            key: Some(&key),
            query: Vec::new(),
            headers: Vec::new(),
            body: &[],
        };
        match self.execute(&call) {
            Ok(response) => {
                let size = response
                    .header("content-length")
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| self.malformed(&call, "no Content-Length"))?;
                Ok(Some(head_of(&response, size)))
            }
            Err(Failure::Status { status: 404, error }) if error.code != "NoSuchBucket" => Ok(None),
            Err(failure) => Err(self.error(&call, failure)),
        }
    }

    /// Removes `name`; a missing object is not an error.
    pub fn delete_object(&self, name: &str) -> Result<(), Error> {
        let key = self.key(name);
        let call = Call {
            op: "DELETE".into(),
            method: Method::Delete,
            key: Some(&key),
            query: Vec::new(),
            headers: Vec::new(),
            body: &[],
        };
        match self.execute(&call) {
            Ok(_) => Ok(()),
            Err(Failure::Status { status: 404, error }) if error.code != "NoSuchBucket" => Ok(()),
            Err(failure) => Err(self.error(&call, failure)),
        }
    }

    /// One page of the objects whose names start with `filter`, names
    /// relative to the prefix, in ascending byte order, strictly after
    /// `start_after` (a name) or continuing at `token`.
    pub fn list_page(
        &self,
        filter: &str,
        start_after: Option<&str>,
        token: Option<&str>,
        max_keys: u32,
    ) -> Result<ListPage, Error> {
        let mut query = vec![
            ("list-type".to_owned(), "2".to_owned()),
            ("prefix".to_owned(), self.key(filter)),
            (
                "max-keys".to_owned(),
                max_keys.clamp(1, MAX_KEYS).to_string(),
            ),
            ("encoding-type".to_owned(), "url".to_owned()),
        ];
        if let Some(after) = start_after {
            query.push(("start-after".to_owned(), self.key(after)));
        }
        if let Some(token) = token {
            query.push(("continuation-token".to_owned(), token.to_owned()));
        }
        let call = Call {
            op: "list".into(),
            method: Method::Get,
            key: None,
            query,
            headers: Vec::new(),
            body: &[],
        };
        let doc = self.document(&call)?;
        let mut page = responses::list_page(&doc).map_err(|e| self.malformed(&call, &e))?;
        let prefix = &self.settings.prefix;
        for object in &mut page.objects {
            match object.key.strip_prefix(prefix.as_str()) {
                Some(name) => object.key = name.to_owned(),
                None => {
                    return Err(self.malformed(
                        &call,
                        &format!("listed key {:?} is outside prefix {prefix:?}", object.key),
                    ));
                }
            }
        }
        Ok(page)
    }

    /// Checks that the bucket is reachable with these credentials (a list of
    /// one key), and with `write` that a small object can be stored and
    /// removed under the prefix, so read-only or wrong credentials show
    /// before the first job rather than in its middle.
    pub fn probe(&self, write: bool) -> Result<(), Error> {
        self.list_page("", None, None, 1)?;
        if write {
            const PROBE: &str = ".drhost-probe";
            self.put_bytes(PROBE, b"drhost validate probe\n", &[])?;
            self.delete_object(PROBE)?;
        }
        Ok(())
    }

    /// Writes `data` under `name` in one PUT.
    pub fn put_bytes(
        &self,
        name: &str,
        data: &[u8],
        headers: &[(String, String)],
    ) -> Result<(), Error> {
        let key = self.key(name);
        let call = Call {
            op: "PUT".into(),
            method: Method::Put,
            key: Some(&key),
            query: Vec::new(),
            headers: headers.to_vec(),
            body: data,
        };
        self.execute(&call).map_err(|f| self.error(&call, f))?;
        Ok(())
    }
}

/// The [`ObjectHead`] of a HEAD or GET response for an object of `size`.
pub(crate) fn head_of<B>(response: &Response<B>, size: u64) -> ObjectHead {
    ObjectHead {
        size,
        etag: response.header("etag").map(str::to_owned),
        metadata: response
            .headers
            .iter()
            .filter(|(k, _)| is_metadata_header(k))
            .cloned()
            .collect(),
    }
}
