//! How the host's operation errors answer: [`OpError`] onto [`ApiError`].
//! Internal failures are logged here, where an operation's error becomes a
//! response.

use crate::error::ApiError;
use crate::ops::OpError;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
