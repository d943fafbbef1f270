//! Failures turned into operator-facing errors. The texts are fixed per kind
//! of failure and built only from what the client itself knows (endpoint,
//! bucket, key, operation) and the HTTP status: whatever the server sent
//! (its XML `Code` and `Message`, element names, keys it listed) and why a
//! connection failed go to the client's diagnostics (the host log), never
//! into an error. An endpoint pointed at some internal service so cannot
//! make the client repeat that service's answers, nor tell a closed port
//! from one speaking another protocol or TLS.

use crate::client::{Call, Client, Failure};
use crate::error::{Error, ErrorKind};
use crate::transport::{Clock, Transport, TransportErrorKind};

impl<T: Transport, C: Clock> Client<T, C> {
    /// The operator-facing error for a failed `call`.
    pub(crate) fn error(&self, call: &Call<'_>, failure: Failure) -> Error {
        match failure {
            Failure::Transport(e) => {
                self.diagnose(call, &format!("no answer: {}", e.detail));
                match e.kind {
                    // The host's own decision, not the server's: worth its own text.
                    TransportErrorKind::Denied => Error::new(
                        ErrorKind::Denied,
                        format!(
                            "the host refused the connection to {}: it is not granted to this \
                             plugin or its address is not allowed (the host log says which)",
                            self.authority()
                        ),
                    ),
                    TransportErrorKind::Unreachable
                    | TransportErrorKind::Interrupted
                    | TransportErrorKind::Fatal => self.unreachable(),
                }
            }
            Failure::Status { status, error } => {
                self.diagnose(
                    call,
                    &format!(
                        "HTTP {status}, error code {:?}, message {:?}",
                        error.code, error.message
                    ),
                );
                self.status_error(call, status)
            }
        }
    }

    /// One text for every way of not getting an answer: refused, timed out,
    /// broken off, not HTTP, a TLS mismatch.
    fn unreachable(&self) -> Error {
        Error::io(format!(
            "cannot reach {}: the connection failed or broke off (the host log has the cause)",
            self.settings.endpoint.url
        ))
    }

    /// The error for an answer with `status`, which alone chooses the text.
    fn status_error(&self, call: &Call<'_>, status: u16) -> Error {
        let url = &self.settings.endpoint.url;
        let bucket = &self.settings.bucket;
        let (op, what) = (&call.op, self.what(call));
        match status {
            401 | 403 => Error::invalid_config(format!(
                "{url} refused access to bucket {bucket} (HTTP {status}): check the access key, \
                 the secret key, their permissions and this machine's clock"
            )),
            404 if call.key.is_none() => {
                Error::invalid_config(format!("bucket {bucket} does not exist at {url}"))
            }
            404 => Error::new(
                ErrorKind::NotFound,
                format!("no object {what} in bucket {bucket}"),
            ),
            301 | 307 | 308 => Error::invalid_config(format!(
                "{url} redirected {op} {what} (HTTP {status}): set `region` to the bucket's \
                 region, or `path_style`"
            )),
            400 => Error::invalid_config(format!(
                "{url} refused {op} {what} as a bad request (HTTP 400): check `region`, \
                 `path_style` and this machine's clock"
            )),
            429 | 503 => Error::io(format!(
                "{url} is busy or unavailable (HTTP {status}); try again later"
            )),
            500..=599 => Error::io(format!("{url} failed {op} {what} (HTTP {status})")),
            // CompleteMultipartUpload's late failure, sent as the body of a 200.
            200..=299 => Error::io(format!(
                "{url} failed {op} {what} (an error document after HTTP {status})"
            )),
            _ => Error::io(format!("{url} answered HTTP {status} to {op} {what}")),
        }
    }

    /// An answer S3 would not give (not XML, the wrong document, a missing
    /// header): `why` says what was wrong, and may quote the answer.
    pub(crate) fn malformed(&self, call: &Call<'_>, why: &str) -> Error {
        self.diagnose(call, &format!("unexpected answer: {why}"));
        Error::io(format!(
            "unexpected answer from {} to {} {}: not what S3 answers (the host log has the \
             details)",
            self.settings.endpoint.url,
            call.op,
            self.what(call)
        ))
    }

    /// Passes `detail` about `call` to the diagnostics, on one line of
    /// bounded length (a server's message must not forge log lines).
    fn diagnose(&self, call: &Call<'_>, detail: &str) {
        let line = format!(
            "{} {} at {}: {detail}",
            call.op,
            self.what(call),
            self.settings.endpoint.url
        );
        (self.diagnostics)(&http_client::diagnostic::one_line(&line));
    }
}
