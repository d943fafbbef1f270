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
    /// The first thing the sandbox refused, naming the missing grant.
    pub(crate) sandbox_denial: Option<String>,
}

impl CallNotes {
    pub(crate) fn host_failure(&mut self, message: impl Into<String>) {
        self.host_failure.get_or_insert_with(|| message.into());
    }

    pub(crate) fn protocol(&mut self, message: impl Into<String>) {
        self.protocol.get_or_insert_with(|| message.into());
    }
}

/// What the WASI sandbox refused during a call, shared with the socket
/// check (which runs inside wasmtime-wasi, away from the call's data). The
/// plugin only sees "access denied"; the operator reading the job needs to
/// know which grant is missing.
#[derive(Debug, Clone, Default)]
pub(crate) struct SandboxDenials(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl SandboxDenials {
    /// Records the first denial (the one the plugin most likely failed on).
    pub(crate) fn record(&self, denial: String) {
        if let Ok(mut first) = self.0.lock() {
            first.get_or_insert(denial);
        }
    }

    pub(crate) fn first(&self) -> Option<String> {
        self.0.lock().ok().and_then(|first| first.clone())
    }
}
