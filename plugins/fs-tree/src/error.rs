//! Mapping of I/O failures onto the contract's `plugin-error`.

use std::io;

use crate::PluginError;

/// An `io` plugin error naming the guest path that failed.
pub fn io(path: &str, error: &io::Error) -> PluginError {
    PluginError::Io(plugin_util::io_message(path, error))
}
