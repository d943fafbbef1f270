//! The API's error responses: `{"error":{"code":N,"message":"...","details":[]}}`
//! with a matching HTTP status.
//!
//! ArcGIS often answers errors with HTTP 200; drhost uses real statuses (the
//! clients we know check both the status and the `error` key). The `code` in
//! the body is the HTTP status, except for token errors which keep the ArcGIS
//! codes 499 (token required) and 498 (invalid or expired token) under HTTP 401.
//!
//! A leaf of the crate: it depends on no other module. The errors of the
//! layers below map onto it where they are defined (`params`, `auth`) or
//! where they are handled (`handlers::op_error`); rendering it as JSON or
//! HTML is `format`'s job.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// Message of internal failures whose details must not reach the client.
pub const INTERNAL_MESSAGE: &str = "Internal server error.";

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No token in the request (code 499, HTTP 401).
    #[error("Token Required.")]
    TokenRequired,
    /// The token is malformed, forged or its user is gone (code 498, HTTP 401).
    #[error("Invalid token.")]
    InvalidToken,
    /// The token's lifetime is over (code 498, HTTP 401).
    #[error("Invalid token. Token expired.")]
    TokenExpired,
    /// The caller's role lacks the privilege (HTTP 403).
    #[error("You do not have permissions to access this resource or perform this operation.")]
    Forbidden,
    /// `generateToken` refused; the details say why without telling whether
    /// the user exists (HTTP 400).
    #[error("Unable to generate token.")]
    TokenGeneration(Vec<String>),
    /// Too many failed logins for a username, from an address, or both
    /// (HTTP 429); `retry_after` in seconds.
    #[error("Too many failed logins; try again in {retry_after} s.")]
    TooManyLogins { retry_after: u64 },
    /// The password checks are all taken and the queue is full (HTTP 429).
    #[error("Too many logins are being checked; try again in {retry_after} s.")]
    LoginsBusy { retry_after: u64 },
    /// Too many wrong passcodes for a backup (HTTP 429).
    #[error("Too many wrong passcodes for this backup; try again in {retry_after} s.")]
    TooManyPasscodes { retry_after: u64 },
    /// A browser posted a sign-in on behalf of another site (HTTP 403).
    #[error("Sign-in requests sent from other sites are refused.")]
    CrossSiteLogin,
    /// Malformed input (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// Unknown path or resource (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// Wrong HTTP method (HTTP 405); `allow` is the `Allow` header value.
    #[error("The {method} method is not supported here; use {allow}.")]
    MethodNotAllowed { method: String, allow: &'static str },
    /// Conflicts with the current state, e.g. a DR job is running (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the limit (HTTP 413).
    #[error("The request body is larger than the limit of {limit} bytes.")]
    PayloadTooLarge { limit: usize },
    /// The body is not `application/x-www-form-urlencoded` (HTTP 415).
    #[error("Unsupported content type; send parameters as application/x-www-form-urlencoded.")]
    UnsupportedMediaType,
    /// A failure on the host's side (HTTP 500). The message is shown.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// An internal error that tells the client nothing more.
    pub fn internal() -> Self {
        ApiError::Internal(INTERNAL_MESSAGE.to_owned())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::TokenRequired | ApiError::InvalidToken | ApiError::TokenExpired => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden | ApiError::CrossSiteLogin => StatusCode::FORBIDDEN,
            ApiError::TokenGeneration(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyLogins { .. }
            | ApiError::LoginsBusy { .. }
            | ApiError::TooManyPasscodes { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `code` of the error JSON.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::TokenRequired => 499,
            ApiError::InvalidToken | ApiError::TokenExpired => 498,
            other => other.status().as_u16(),
        }
    }

    /// The `details` of the error JSON.
    pub fn details(&self) -> &[String] {
        match self {
            ApiError::TokenGeneration(details) => details,
            _ => &[],
        }
    }

    /// `{"error":{"code":N,"message":"...","details":[...]}}`.
    pub fn to_json(&self) -> Value {
        json!({"error": {
            "code": self.code(),
            "message": self.to_string(),
            "details": self.details(),
        }})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_keep_arcgis_codes() {
        assert_eq!(ApiError::TokenRequired.code(), 499);
        assert_eq!(ApiError::InvalidToken.code(), 498);
        assert_eq!(ApiError::TokenExpired.code(), 498);
        assert_eq!(ApiError::TokenRequired.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn json_shape() {
        let value =
            ApiError::TokenGeneration(vec!["Invalid username or password.".into()]).to_json();
        assert_eq!(
            value,
            json!({"error": {"code": 400, "message": "Unable to generate token.",
                             "details": ["Invalid username or password."]}})
        );
    }
}
