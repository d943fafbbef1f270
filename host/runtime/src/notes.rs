//! What host code learned during a plugin call that outranks the plugin's
//! own answer.

/// Failures host code saw during a call. They outrank what the plugin
/// returns: a plugin that gets an I/O error because the restore data was
/// damaged reports "I/O error", but the cause worth showing is the damage.
#[derive(Debug, Default)]
pub(crate) struct CallNotes {
    /// A host-side failure (consumer gone, damaged input, host resource error).
    pub(crate) host_failure: Option<String>,
    /// The first way the plugin misused a host interface.
    pub(crate) protocol: Option<String>,
    /// The archive size limit that was exceeded.
    pub(crate) archive_limit: Option<u64>,
}

impl CallNotes {
    pub(crate) fn host_failure(&mut self, message: impl Into<String>) {
        self.host_failure.get_or_insert_with(|| message.into());
    }

    pub(crate) fn protocol(&mut self, message: impl Into<String>) {
        self.protocol.get_or_insert_with(|| message.into());
    }
}
