//! Requests to one container: addressing, authorization (Shared Key, SAS or
//! bearer), retries with backoff, and the raw answers the store operations
//! read. Object names are relative to the configured prefix; the client
//! prepends it.

use http_client::encode;
use http_client::retry::{self, Policy};
use http_client::time;
use http_client::transport::{Clock, Method, Request, Response, Transport, TransportError};

use crate::config::{Credential, Settings};
use crate::shared_key::{self, Canonical};

/// The REST version every request names: one Azurite 3.35 serves, with
/// bearer tokens.
pub const API_VERSION: &str = "2023-11-03";

/// A client for one container of one storage account.
pub struct Client<T, C> {
    pub settings: Settings,
    pub transport: T,
    pub clock: C,
    pub retry: Policy,
    /// Where the causes of failures go (the host log, for the guest); the
    /// errors themselves never quote what the service sent.
    pub diagnostics: fn(&str),
}

/// What is addressed.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Container,
    /// An object name, relative to the prefix.
    Object(&'a str),
}

/// One request, before addressing and authorization.
pub struct Call<'a> {
    /// What is being done, for messages: "read", "store", "list"...
    pub op: &'static str,
    pub method: Method,
    pub target: Target<'a>,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
}

/// Why a request failed, before it becomes a `plugin-error`.
#[derive(Debug)]
pub enum Failure {
    Transport(TransportError),
    /// An answer outside 2xx, with its `x-ms-error-code` (or `""`).
    Status {
        status: u16,
        code: String,
    },
}

impl Failure {
    pub fn is(&self, status: u16, code: &str) -> bool {
        matches!(self, Self::Status { status: s, code: c } if *s == status && c == code)
    }
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

    pub fn with_diagnostics(mut self, log: fn(&str)) -> Self {
        self.diagnostics = log;
        self
    }

    /// The full blob name of `name`.
    pub fn blob(&self, name: &str) -> String {
        format!("{}{name}", self.settings.prefix)
    }

    /// The encoded URI path of `target`.
    fn path(&self, target: Target<'_>) -> String {
        let s = &self.settings;
        match target {
            Target::Container => format!("{}/{}", s.endpoint.base_path, s.container),
            Target::Object(name) => format!(
                "{}/{}/{}",
                s.endpoint.base_path,
                s.container,
                encode::path(&self.blob(name))
            ),
        }
    }

    /// The request of `call` with `body`, authorized.
    fn request<'b>(&'b self, call: &Call<'_>, body: &'b [u8]) -> Request<'b> {
        let path = self.path(call.target);
        let mut headers = call.headers.clone();
        headers.push(("x-ms-version".into(), API_VERSION.into()));
        headers.push(("x-ms-date".into(), time::http_date(self.clock.now_unix())));
        if matches!(call.method, Method::Put | Method::Post) {
            headers.push(("content-length".into(), body.len().to_string()));
        }
        let mut query: Vec<String> = call
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode::component(k), encode::component(v)))
            .collect();
        match &self.settings.credential {
            Credential::SharedKey(key) => {
                let authorization = shared_key::authorization(
                    &self.settings.account,
                    key,
                    &Canonical {
                        method: call.method.as_str(),
                        account: &self.settings.account,
                        path: &path,
                        query: &call.query,
                        headers: &headers,
                    },
                );
                headers.push(("authorization".into(), authorization));
            }
            Credential::Sas(token) => query.push(token.clone()),
            Credential::Bearer(token) => {
                headers.push(("authorization".into(), format!("Bearer {token}")));
            }
        }
        let path_and_query = if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        };
        Request {
            method: call.method,
            https: self.settings.endpoint.https,
            authority: &self.settings.endpoint.authority,
            path_and_query,
            headers,
            body,
        }
    }

    /// Sends `call` (with `body`) until it gets a 2xx answer, fails for
    /// good, or the retries are used up.
    pub fn execute(&self, call: &Call<'_>, body: &[u8]) -> Result<Response<T::Body>, Failure> {
        let mut attempt = 1;
        loop {
            let request = self.request(call, body);
            let failure = match self.transport.send(&request) {
                Ok(response) => match status_failure(response) {
                    Ok(response) => return Ok(response),
                    Err(failure) => failure,
                },
                Err(e) => Failure::Transport(e),
            };
            if !retryable(&failure) || !self.retry.pause(&mut attempt, &self.clock) {
                return Err(failure);
            }
        }
    }
}

/// The response if its status is 2xx, else the failure it reports.
fn status_failure<B>(response: Response<B>) -> Result<Response<B>, Failure> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    Err(Failure::Status {
        status: response.status,
        code: response
            .header("x-ms-error-code")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    })
}

/// Azure asks clients to back off on `503 ServerBusy`, `500
/// OperationTimedOut`/`InternalError` and throttling; a client error is
/// never retried.
fn retryable(failure: &Failure) -> bool {
    match failure {
        Failure::Transport(e) => retry::transport_retryable(e),
        Failure::Status { status, .. } => *status >= 500 || *status == 429,
    }
}
