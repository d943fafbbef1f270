//! Failures as operator-facing `plugin-error`s. The texts are fixed per kind
//! of failure, built from what the adapter itself knows (endpoint, account,
//! container, object name) and the HTTP status; of what the service sent,
//! only an `x-ms-error-code` from a fixed list is named. Everything else (an
//! unknown code, why a connection failed) goes to the diagnostics (the host
//! log), so an endpoint pointed at some other service cannot make the adapter
//! repeat its answers.

use guest_sdk::PluginError;
use http_client::transport::{Clock, Transport, TransportErrorKind};

use crate::client::{Call, Client, Failure, Target};

/// Error codes of the Blob service that are safe and useful to name.
const KNOWN_CODES: &[&str] = &[
    "AuthenticationFailed",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "AuthorizationResourceTypeMismatch",
    "AuthorizationServiceMismatch",
    "AuthorizationProtocolMismatch",
    "AuthorizationSourceIPMismatch",
    "InsufficientAccountPermissions",
    "AccountIsDisabled",
    "InvalidAuthenticationInfo",
    "NoAuthenticationInformation",
    "ContainerNotFound",
    "ContainerBeingDeleted",
    "ContainerDisabled",
    "ResourceNotFound",
    "BlobNotFound",
    "InvalidRange",
    "BlobImmutableDueToPolicy",
    "BlobImmutableDueToLegalHold",
    "LeaseIdMissing",
    "ServerBusy",
    "OperationTimedOut",
    "InternalError",
    "InvalidHeaderValue",
    "InvalidQueryParameterValue",
    "InvalidUri",
    "RequestBodyTooLarge",
    "UnsupportedHeader",
    "InvalidResourceName",
];

/// ` (Code)` for a known code, else nothing.
fn named(code: &str) -> String {
    if KNOWN_CODES.contains(&code) {
        format!(" ({code})")
    } else {
        String::new()
    }
}

impl<T: Transport, C: Clock> Client<T, C> {
    /// The operator-facing error for a failed `call`.
    pub fn error(&self, call: &Call<'_>, failure: Failure) -> PluginError {
        match failure {
            Failure::Transport(e) => {
                self.diagnose(call, &format!("no answer: {}", e.detail));
                match e.kind {
                    TransportErrorKind::Denied => PluginError::Denied(format!(
                        "the host refused the connection to {}: it is not granted to this \
                         store or its address is not allowed (the host log says which)",
                        self.settings.endpoint.authority
                    )),
                    _ => self.unreachable(),
                }
            }
            Failure::Status { status, code } => {
                self.diagnose(call, &format!("HTTP {status}, x-ms-error-code {code:?}"));
                self.status_error(call, status, &code)
            }
        }
    }

    /// One text for every way of not getting an answer: refused, timed out,
    /// broken off, not HTTP, a TLS mismatch.
    pub fn unreachable(&self) -> PluginError {
        PluginError::Io(format!(
            "cannot reach the Azure Blob endpoint {}: the connection failed or broke off \
             (the host log has the cause)",
            self.settings.endpoint.url
        ))
    }

    fn status_error(&self, call: &Call<'_>, status: u16, code: &str) -> PluginError {
        let s = &self.settings;
        let (account, container, url) = (&s.account, &s.container, &s.endpoint.url);
        let what = self.what(call);
        let op = call.op;
        match (status, code) {
            (401 | 403, _) => PluginError::InvalidConfig(format!(
                "Azure refused the credentials of storage account '{account}'{}: {} \
                 (HTTP {status}; the clock of this machine matters for shared keys)",
                named(if code.is_empty() {
                    "AuthenticationFailed"
                } else {
                    code
                }),
                s.credential.advice()
            )),
            (404, "ContainerNotFound") => PluginError::InvalidConfig(format!(
                "container '{container}' does not exist in storage account '{account}'"
            )),
            (404, _) if matches!(call.target, Target::Container) => {
                PluginError::InvalidConfig(format!(
                    "container '{container}' does not exist in storage account '{account}' \
                     (or {url} is not its endpoint)"
                ))
            }
            (404, _) => PluginError::NotFound(format!("no {what}")),
            (416, _) => PluginError::InvalidData(format!(
                "the range asked of {what} lies outside the object"
            )),
            (409, _) | (412, _) => PluginError::Io(format!(
                "Azure refused to {op} {what}{} (HTTP {status}): a lease, an immutability \
                 policy or a legal hold may keep it",
                named(code)
            )),
            (400, _) => PluginError::InvalidConfig(format!(
                "{url} refused to {op} {what} as a bad request{} (HTTP 400): check the \
                 endpoint, that it is an Azure Blob endpoint, and this machine's clock",
                named(code)
            )),
            (429 | 503, _) => PluginError::Io(format!(
                "{url} is busy or unavailable{} (HTTP {status}); try again later",
                named(code)
            )),
            (500..=599, _) => PluginError::Io(format!(
                "{url} failed to {op} {what}{} (HTTP {status})",
                named(code)
            )),
            _ => PluginError::Io(format!(
                "{url} answered HTTP {status}{} to {op} {what}",
                named(code)
            )),
        }
    }

    /// An answer the Blob service would not give.
    pub fn malformed(&self, call: &Call<'_>, why: &str) -> PluginError {
        self.diagnose(call, &format!("unexpected answer: {why}"));
        PluginError::Io(format!(
            "unexpected answer from {} to {} {}: not what Azure Blob answers (the host log \
             has the details)",
            self.settings.endpoint.url,
            call.op,
            self.what(call)
        ))
    }

    /// `object 'name' in container 'c'` or `container 'c'`, for messages.
    pub fn what(&self, call: &Call<'_>) -> String {
        match call.target {
            Target::Object(name) => {
                format!("object '{name}' in container '{}'", self.settings.container)
            }
            Target::Container => format!("container '{}'", self.settings.container),
        }
    }

    /// Passes `detail` about `call` to the diagnostics, on one line of
    /// bounded length.
    pub fn diagnose(&self, call: &Call<'_>, detail: &str) {
        let line = format!(
            "{} {} at {}: {detail}",
            call.op,
            self.what(call),
            self.settings.endpoint.url
        );
        (self.diagnostics)(&http_client::diagnostic::one_line(&line));
    }
}
