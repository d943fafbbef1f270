//! Cross-cutting layers: a tracing span per request, the 500 answer of a
//! panicking handler, security headers, and HSTS when served over HTTPS.
//!
//! Only the method, the path (truncated), the status and the duration are
//! logged: never query strings, headers or bodies, which carry tokens,
//! passwords and passcodes.

use std::any::Any;
use std::sync::LazyLock;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::error::ApiError;

/// Longest path logged, in characters.
const MAX_LOGGED_PATH: usize = 200;

/// Wraps each request in a `request` span and logs its outcome.
pub(crate) async fn trace(request: Request, next: Next) -> Response {
    let path: String = request.uri().path().chars().take(MAX_LOGGED_PATH).collect();
    let span = tracing::info_span!("request", method = %request.method(), path = %path);
    async move {
        let started = Instant::now();
        let response = next.run(request).await;
        let status = response.status().as_u16();
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if status >= 500 {
            tracing::warn!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request handled");
        }
        response
    }
    .instrument(span)
    .await
}

/// The answer to a panic in a handler: a 500 in the API's error format. The
/// panic message is not logged here (it may quote request data); the panic
/// hook has already reported it.
pub(crate) fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    tracing::error!("request handler panicked");
    ApiError::internal().into_response()
}

/// The Content-Security-Policy of every response: nothing may load or run
/// except the admin pages' own inline stylesheet (allowed by its hash), and
/// forms may only post back to this host.
static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = BASE64.encode(Sha256::digest(crate::format::STYLE.as_bytes()));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         base-uri 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"))
});

/// Headers added to every response: no caching (responses carry tokens), no
/// MIME sniffing, no framing, no scripts or remote content in HTML, and no
/// `Referer` (the pages' URLs carry tokens).
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY.clone(),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `Strict-Transport-Security` of HTTPS answers: a browser that saw it once
/// refuses plain HTTP (and certificate warnings) for this host for a year, so
/// a network attacker cannot downgrade the admin pages and read the tokens
/// in their links. Subdomains are left alone: they may be other services.
pub(crate) const HSTS: &str = "max-age=31536000";

pub(crate) async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    response
}
