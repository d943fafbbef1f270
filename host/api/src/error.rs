//! The API's error responses: `{"error":{"code":N,"message":"...","details":[]}}`
//! with a matching HTTP status.
//!
//! ArcGIS often answers errors with HTTP 200; drhost uses real statuses (the
//! clients we know check both the status and the `error` key). The `code` in
//! the body is the HTTP status, except for token errors which keep the ArcGIS
//! codes 499 (token required) and 498 (invalid or expired token) under HTTP 401.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::TokenError;
use crate::format::{self, Format};
use crate::ops::OpError;
use crate::params::ParamError;

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

    /// The response in the requested format; `title` heads the HTML page.
    pub fn into_response_as(self, format: Format, title: &str) -> Response {
        let response = match format {
            Format::Html => format::html_error(self.status(), title, &self),
            other => format::json(other, self.status(), &self.to_json()),
        };
        self.with_headers(response)
    }

    /// Adds the headers the error calls for (`Allow`, `Retry-After`).
    pub(crate) fn with_headers(&self, mut response: Response) -> Response {
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let ApiError::TooManyLogins { retry_after }
        | ApiError::LoginsBusy { retry_after }
        | ApiError::TooManyPasscodes { retry_after } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_as(Format::Json, "Error")
    }
}

impl From<OpError> for ApiError {
    fn from(error: OpError) -> Self {
        match error {
            OpError::InvalidInput(message) | OpError::WrongPasscode(message) => {
                ApiError::BadRequest(message)
            }
            OpError::NotFound(message) => ApiError::NotFound(message),
            OpError::Conflict(message) => ApiError::Conflict(message),
            OpError::Internal(message) => {
                tracing::error!(error = %message, "operation failed");
                ApiError::Internal(message)
            }
        }
    }
}

impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> Self {
        match error {
            ParamError::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
            ParamError::UnsupportedContentType => ApiError::UnsupportedMediaType,
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Expired => ApiError::TokenExpired,
            TokenError::Malformed | TokenError::BadSignature | TokenError::Revoked => {
                ApiError::InvalidToken
            }
        }
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
    fn op_errors_map_to_statuses() {
        let cases = [
            (OpError::InvalidInput("x".into()), 400),
            (OpError::WrongPasscode("x".into()), 400),
            (OpError::NotFound("x".into()), 404),
            (OpError::Conflict("x".into()), 409),
            (OpError::Internal("x".into()), 500),
        ];
        for (op, code) in cases {
            let api = ApiError::from(op);
            assert_eq!(api.code(), code);
            assert_eq!(api.status().as_u16(), code);
            assert_eq!(api.to_string(), "x");
        }
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
