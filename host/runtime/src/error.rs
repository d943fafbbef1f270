//! Why a plugin call failed, worded for the operator who reads the job log.

use std::fmt;
use std::time::Duration;

use crate::bindings::stage::drhost::plugin::types::PluginError;
use crate::redact::Redactor;

/// The variant of a plugin's own `plugin-error` (WIT `drhost:plugin/types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginErrorKind {
    InvalidConfig,
    Io,
    NotFound,
    Denied,
    InvalidData,
    Other,
}

impl fmt::Display for PluginErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidConfig => "invalid configuration",
            Self::Io => "I/O error",
            Self::NotFound => "not found",
            Self::Denied => "denied",
            Self::InvalidData => "invalid data",
            Self::Other => "error",
        })
    }
}

/// Splits a WIT `plugin-error` into its kind and text.
pub(crate) fn split_plugin_error(error: PluginError) -> (PluginErrorKind, String) {
    match error {
        PluginError::InvalidConfig(m) => (PluginErrorKind::InvalidConfig, m),
        PluginError::Io(m) => (PluginErrorKind::Io, m),
        PluginError::NotFound(m) => (PluginErrorKind::NotFound, m),
        PluginError::Denied(m) => (PluginErrorKind::Denied, m),
        PluginError::InvalidData(m) => (PluginErrorKind::InvalidData, m),
        PluginError::Other(m) => (PluginErrorKind::Other, m),
    }
}

/// Why loading or calling a plugin failed. Every variant names the plugin so a
/// message lifted into a job log still says which plugin to look at.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginFailure {
    /// The bytes are not valid WebAssembly or Cranelift rejected them.
    #[error("plugin '{plugin}' could not be compiled: {message}")]
    Compile { plugin: String, message: String },

    /// The component cannot be instantiated by this host: not a component,
    /// an import the host does not provide, a missing export, pool exhausted.
    #[error("plugin '{plugin}' could not be instantiated: {message}")]
    Instantiate { plugin: String, message: String },

    /// The guest trapped (a panic, an out-of-bounds access, `unreachable`).
    #[error("plugin '{plugin}' crashed: {message}")]
    Trap { plugin: String, message: String },

    /// The guest ran longer than its CPU-time limit and was interrupted.
    #[error("plugin '{plugin}' was stopped after using its CPU time limit of {}", human_duration(*limit))]
    CpuLimit { plugin: String, limit: Duration },

    /// The guest tried to grow its memory beyond its limit.
    #[error("plugin '{plugin}' was stopped because it tried to use more than its memory limit of {}", human_bytes(*limit))]
    MemoryLimit { plugin: String, limit: u64 },

    /// The call (guest code plus time blocked in host calls) exceeded its
    /// wall-clock limit.
    #[error("plugin '{plugin}' did not finish within its time limit of {}", human_duration(*limit))]
    WallTimeout { plugin: String, limit: Duration },

    /// The plugin reported an error of its own (WIT `plugin-error`).
    #[error("plugin '{plugin}' failed ({kind}): {message}")]
    Plugin {
        plugin: String,
        kind: PluginErrorKind,
        message: String,
    },

    /// Something on the host side failed while the plugin ran (the archive
    /// consumer stopped, restore data was damaged, a host resource failed).
    /// This is the cause even when the plugin then failed too.
    #[error("plugin '{plugin}' stopped because of a host-side failure: {message}")]
    Host { plugin: String, message: String },

    /// The call's credentials could not be obtained (see
    /// [`CallCredentials`](crate::CallCredentials)), so the plugin was not
    /// called at all.
    #[error("plugin '{plugin}' was not called: its credentials could not be obtained: {message}")]
    Credentials { plugin: String, message: String },

    /// The plugin broke the archive or stream protocol (entry order, paths,
    /// chunk sizes). A plugin bug, not an environment problem.
    #[error("plugin '{plugin}' misused the host interface: {message}")]
    Protocol { plugin: String, message: String },

    /// The plugin passed the host more data in one call (lists and strings
    /// of one import's arguments or one export's results) than the host
    /// copies at once.
    #[error(
        "plugin '{plugin}' passed the host more than {} in one call (the limit on data handed over at once; e.g. a stage's summary may hold at most 256 metadata pairs and 1 MiB)",
        human_bytes(*limit)
    )]
    TransferLimit { plugin: String, limit: u64 },

    /// The plugin wrote more archive bytes than `max_archive_bytes` allows.
    #[error("plugin '{plugin}' wrote more than its archive size limit of {}", human_bytes(*limit))]
    ArchiveLimit { plugin: String, limit: u64 },
}

impl PluginFailure {
    /// The failure with the call's secrets removed from its texts.
    pub(crate) fn redacted(mut self, redactor: &Redactor) -> Self {
        match &mut self {
            Self::Compile { message, .. }
            | Self::Instantiate { message, .. }
            | Self::Trap { message, .. }
            | Self::Plugin { message, .. }
            | Self::Host { message, .. }
            | Self::Credentials { message, .. }
            | Self::Protocol { message, .. } => {
                *message = redactor.apply(message).into_owned();
            }
            Self::CpuLimit { .. }
            | Self::MemoryLimit { .. }
            | Self::WallTimeout { .. }
            | Self::TransferLimit { .. }
            | Self::ArchiveLimit { .. } => {}
        }
        self
    }

    /// A plugin's own error, with what the sandbox refused during the call
    /// (the plugin saw only "access denied", not which grant is missing).
    pub(crate) fn with_sandbox_denial(mut self, denial: &str) -> Self {
        if let Self::Plugin { message, .. } = &mut self {
            message.push_str(&format!(" (the sandbox refused {denial})"));
        }
        self
    }

    /// The plugin the failure is about.
    pub fn plugin(&self) -> &str {
        match self {
            Self::Compile { plugin, .. }
            | Self::Instantiate { plugin, .. }
            | Self::Trap { plugin, .. }
            | Self::CpuLimit { plugin, .. }
            | Self::MemoryLimit { plugin, .. }
            | Self::WallTimeout { plugin, .. }
            | Self::Plugin { plugin, .. }
            | Self::Host { plugin, .. }
            | Self::Credentials { plugin, .. }
            | Self::Protocol { plugin, .. }
            | Self::TransferLimit { plugin, .. }
            | Self::ArchiveLimit { plugin, .. } => plugin,
        }
    }

    /// The kind of the plugin's own error, if that is what this is.
    pub fn plugin_error_kind(&self) -> Option<PluginErrorKind> {
        match self {
            Self::Plugin { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    pub(crate) fn from_plugin_error(plugin: &str, error: PluginError) -> Self {
        let (kind, message) = split_plugin_error(error);
        Self::Plugin {
            plugin: plugin.to_string(),
            kind,
            message,
        }
    }
}

fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 3600.0 && secs % 3600.0 == 0.0 {
        format!("{} h", secs / 3600.0)
    } else if secs >= 60.0 && secs % 60.0 == 0.0 {
        format!("{} min", secs / 60.0)
    } else if secs >= 1.0 {
        format!("{secs} s")
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn human_bytes(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_plugin_and_the_limit() {
        let cpu = PluginFailure::CpuLimit {
            plugin: "spin".into(),
            limit: Duration::from_secs(600),
        };
        assert_eq!(
            cpu.to_string(),
            "plugin 'spin' was stopped after using its CPU time limit of 10 min"
        );
        let mem = PluginFailure::MemoryLimit {
            plugin: "bomb".into(),
            limit: 64 << 20,
        };
        assert!(mem.to_string().contains("64 MiB"), "{mem}");
        let wall = PluginFailure::WallTimeout {
            plugin: "p".into(),
            limit: Duration::from_millis(1500),
        };
        assert!(wall.to_string().ends_with("1.5 s"), "{wall}");
        let plugin = PluginFailure::from_plugin_error("fs", PluginError::NotFound("x".into()));
        assert_eq!(plugin.to_string(), "plugin 'fs' failed (not found): x");
        assert_eq!(plugin.plugin(), "fs");
        assert_eq!(plugin.plugin_error_kind(), Some(PluginErrorKind::NotFound));
    }
}
