//! The few HTTP requests of the chain (STS, the container endpoint, instance
//! metadata), made with the host's blocking HTTP client.

use std::time::Duration;

/// How a request failed.
pub(crate) enum HttpFailure {
    /// Nothing answered (refused, unreachable, timed out, TLS failed).
    Unreachable(String),
    /// An answer with this status and body.
    Status(u16, String),
}

/// A client with these timeouts that never follows redirects (a redirect
/// could carry a token elsewhere) and ignores proxy variables (instance
/// metadata must be asked directly).
pub(crate) fn agent(connect: Duration, total: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(connect)
        .timeout(total)
        .redirects(0)
        .build()
}

/// Sends `request` (with `form` as its body, if any) and returns the body of
/// a 2xx answer.
pub(crate) fn send(
    request: ureq::Request,
    form: Option<&[(&str, &str)]>,
) -> Result<String, HttpFailure> {
    let result = match form {
        Some(form) => request.send_form(form),
        None => request.call(),
    };
    match result {
        Ok(response) => response
            .into_string()
            .map_err(|e| HttpFailure::Unreachable(format!("the answer broke off: {e}"))),
        Err(ureq::Error::Status(status, response)) => Err(HttpFailure::Status(
            status,
            response.into_string().unwrap_or_default(),
        )),
        Err(ureq::Error::Transport(transport)) => {
            Err(HttpFailure::Unreachable(transport_reason(&transport)))
        }
    }
}

/// The transport error without the URL ureq repeats in it.
fn transport_reason(transport: &ureq::Transport) -> String {
    let detail = transport
        .message()
        .map(str::to_string)
        .or_else(|| std::error::Error::source(transport).map(|e| e.to_string()));
    match detail {
        Some(detail) => format!("{}: {detail}", transport.kind()),
        None => transport.kind().to_string(),
    }
}
