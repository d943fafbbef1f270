//! The client's error: a kind that mirrors the plugins' `plugin-error`
//! variants one to one (so a plugin maps it without losing anything, and can
//! pass its own host errors through the client's callbacks and back), and an
//! operator-facing text. No text ever contains the secret key, nor anything
//! the server sent: the client only quotes endpoints, buckets, keys and HTTP
//! statuses (see `explain`).

use std::fmt;

/// Which `plugin-error` variant an [`Error`] becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Fix the configuration: wrong key, wrong bucket, wrong endpoint form.
    InvalidConfig,
    /// The server could not be reached or failed.
    Io,
    /// No such object.
    NotFound,
    /// The host refused the request (the endpoint is not granted, or its
    /// address is not allowed).
    Denied,
    /// The data handed over is malformed (a source of the wrong size).
    InvalidData,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }

    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }

    pub fn invalid_data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidData, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
