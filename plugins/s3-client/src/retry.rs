//! When to try a request again, and how long to wait first. S3 asks clients
//! to back off on throttling (`503 SlowDown`, `429`) and server errors;
//! transport failures (a dropped connection, a restarting server) are
//! retried too. Every request the client retries is idempotent or re-sendable
//! (bodies are buffered whole), and a client error (4xx) is never retried
//! except `429` and `RequestTimeout`, which say "the same again, later".

pub use http_client::retry::{Policy, transport_retryable};

/// Whether a response with `status` and S3 error `code` is worth repeating.
pub fn status_retryable(status: u16, code: &str) -> bool {
    status >= 500
        || status == 429
        || matches!(
            code,
            "SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        for (status, code) in [
            (500, "InternalError"),
            (503, "SlowDown"),
            (503, ""),
            (502, ""),
            (429, ""),
            (400, "RequestTimeout"),
            (200, "InternalError"),
        ] {
            assert!(status_retryable(status, code), "{status} {code}");
        }
        for (status, code) in [
            (403, "AccessDenied"),
            (403, "SignatureDoesNotMatch"),
            (404, "NoSuchKey"),
            (404, "NoSuchBucket"),
            (400, "InvalidArgument"),
            (409, "BucketNotEmpty"),
            (412, "PreconditionFailed"),
            (416, "InvalidRange"),
        ] {
            assert!(!status_retryable(status, code), "{status} {code}");
        }
    }
}
