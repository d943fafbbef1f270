//! `s3-client` errors and the contract's `plugin-error`: the kinds map one
//! to one, so host errors passed through the client come back unchanged.
//! And the client as guests make it, its diagnostics in the host's log.

use s3_client::{Error, ErrorKind};

use crate::bindings::drhost::plugin::host;
use crate::{LogLevel, PluginError};

/// A client for `settings` over the host's `wasi:http` whose diagnostics
/// (what a server answered, why a connection failed) reach the operator
/// through the host's log, while its errors stay free of them.
#[cfg(target_os = "wasi")]
pub fn client(settings: s3_client::Settings) -> s3_client::GuestClient {
    s3_client::guest_client(settings).with_diagnostics(log_diagnostic)
}

/// One diagnostic line of the client, as a warning in the host's log.
pub fn log_diagnostic(line: &str) {
    host::log(LogLevel::Warn, line);
}

pub fn to_plugin(e: Error) -> PluginError {
    match e.kind {
        ErrorKind::InvalidConfig => PluginError::InvalidConfig(e.message),
        ErrorKind::Io => PluginError::Io(e.message),
        ErrorKind::NotFound => PluginError::NotFound(e.message),
        ErrorKind::Denied => PluginError::Denied(e.message),
        ErrorKind::InvalidData => PluginError::InvalidData(e.message),
        ErrorKind::Other => PluginError::Other(e.message),
    }
}

pub fn from_plugin(e: PluginError) -> Error {
    match e {
        PluginError::InvalidConfig(m) => Error::new(ErrorKind::InvalidConfig, m),
        PluginError::Io(m) => Error::new(ErrorKind::Io, m),
        PluginError::NotFound(m) => Error::new(ErrorKind::NotFound, m),
        PluginError::Denied(m) => Error::new(ErrorKind::Denied, m),
        PluginError::InvalidData(m) => Error::new(ErrorKind::InvalidData, m),
        PluginError::Other(m) => Error::new(ErrorKind::Other, m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        for e in [
            PluginError::InvalidConfig("a".into()),
            PluginError::Io("b".into()),
            PluginError::NotFound("c".into()),
            PluginError::Denied("d".into()),
            PluginError::InvalidData("e".into()),
            PluginError::Other("f".into()),
        ] {
            let back = to_plugin(from_plugin(e.clone()));
            assert_eq!(format!("{back:?}"), format!("{e:?}"));
        }
    }
}
