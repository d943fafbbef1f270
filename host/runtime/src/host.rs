//! `drhost:plugin/host`: the plugin's configuration and its log, which goes to
//! `tracing` tagged with the plugin name and rate-limited so a chatty or
//! hostile plugin cannot flood the host's log.

use std::time::Instant;

use wasmtime::component::HasData;

use crate::bindings::stage::drhost::plugin::host::{self, LogLevel};
use crate::bindings::stage::drhost::plugin::types;
use crate::redact::Redactor;
use crate::report::truncate;

/// Sustained log lines per second a plugin may write.
const LOG_LINES_PER_SECOND: f64 = 100.0;
/// Lines a plugin may write in a burst.
const LOG_BURST: f64 = 100.0;
/// Longest log line passed on, in bytes.
const MAX_LOG_LINE: usize = 4096;

/// Token bucket over log lines, counting what it drops so the log says so.
pub(crate) struct LogLimiter {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

impl LogLimiter {
    pub(crate) fn new() -> Self {
        Self {
            tokens: LOG_BURST,
            last: Instant::now(),
            dropped: 0,
        }
    }

    /// Whether a line may pass now; if so, how many were dropped before it.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * LOG_LINES_PER_SECOND).min(LOG_BURST);
        if self.tokens < 1.0 {
            self.dropped += 1;
            return None;
        }
        self.tokens -= 1.0;
        Some(std::mem::take(&mut self.dropped))
    }

    /// Lines dropped and not yet reported.
    pub(crate) fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

/// The part of a call's data `host` (and `types`) work on.
pub(crate) struct PluginHost<'a> {
    pub(crate) plugin: &'a str,
    pub(crate) config_json: &'a str,
    pub(crate) log: &'a mut LogLimiter,
    pub(crate) redactor: &'a Redactor,
}

/// Links `host` and `types` to a [`PluginHost`] view of the call's data.
pub(crate) struct PluginHostData;

impl HasData for PluginHostData {
    type Data<'a> = PluginHost<'a>;
}

impl host::Host for PluginHost<'_> {
    async fn config(&mut self) -> wasmtime::Result<String> {
        Ok(self.config_json.to_string())
    }

    async fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        let Some(dropped) = self.log.admit(Instant::now()) else {
            return Ok(());
        };
        let plugin = self.plugin;
        if dropped > 0 {
            tracing::warn!(plugin, dropped, "plugin log lines dropped (rate limit)");
        }
        let message = self.redactor.apply(truncate(&message, MAX_LOG_LINE));
        match level {
            LogLevel::Trace => tracing::trace!(target: "drhost::plugin", plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "drhost::plugin", plugin, "{message}"),
            LogLevel::Info => tracing::info!(target: "drhost::plugin", plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "drhost::plugin", plugin, "{message}"),
            LogLevel::Error => tracing::error!(target: "drhost::plugin", plugin, "{message}"),
        }
        Ok(())
    }
}

impl types::Host for PluginHost<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_pass_floods_are_dropped_and_counted() {
        let mut limiter = LogLimiter::new();
        let t0 = limiter.last;
        let passed = (0..150).filter(|_| limiter.admit(t0).is_some()).count();
        assert_eq!(passed, 100);
        // 100 ms later ten more tokens exist; the first passing line carries
        // the count of the 50 dropped before it.
        assert_eq!(limiter.admit(t0 + Duration::from_millis(100)), Some(50));
        assert_eq!(limiter.take_dropped(), 0);
    }
}
