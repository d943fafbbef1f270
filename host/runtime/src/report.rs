//! `drhost:plugin/report`: a stage's progress and status messages, passed to
//! the job through a [`Reporter`], with flood protection (a plugin calls these
//! as often as it likes; the job log must stay readable).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bindings::stage::drhost::plugin::report;
use crate::state::PluginState;

/// Receives a stage's progress and messages (implemented by the job runner).
pub trait Reporter: Send + Sync {
    /// Total work done so far (monotonic totals, not increments).
    fn progress(&self, bytes: u64, items: u64);
    /// A status message with a stage-specific code.
    fn message(&self, code: u32, text: &str);
}

/// Messages passed on per call; later ones are dropped (and counted).
pub const MAX_MESSAGES_PER_CALL: u32 = 1000;
/// Longest message text passed on, in bytes; longer texts are cut.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// Message text passed on per call, in bytes; later messages are dropped.
/// With the count cap alone, a flood of maximal texts would put a megabyte
/// into the job record (which the job store rewrites on every message).
pub const MAX_MESSAGE_BYTES_PER_CALL: usize = 256 << 10;
/// Progress is passed on at most this often; the last value is always
/// delivered when the call ends.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Reporting state of one call.
pub(crate) struct ReportState {
    reporter: Arc<dyn Reporter>,
    messages: u32,
    message_bytes: usize,
    dropped: u64,
    last_progress: Option<Instant>,
    pending: Option<(u64, u64)>,
}

impl ReportState {
    pub(crate) fn new(reporter: Arc<dyn Reporter>) -> Self {
        Self {
            reporter,
            messages: 0,
            message_bytes: 0,
            dropped: 0,
            last_progress: None,
            pending: None,
        }
    }

    fn progress(&mut self, bytes: u64, items: u64, now: Instant) {
        if self
            .last_progress
            .is_some_and(|last| now.duration_since(last) < PROGRESS_INTERVAL)
        {
            self.pending = Some((bytes, items));
            return;
        }
        self.pending = None;
        self.last_progress = Some(now);
        self.reporter.progress(bytes, items);
    }

    fn message(&mut self, plugin: &str, code: u32, text: &str) {
        let text = truncate(text, MAX_MESSAGE_BYTES);
        if self.messages >= MAX_MESSAGES_PER_CALL
            || self.message_bytes + text.len() > MAX_MESSAGE_BYTES_PER_CALL
        {
            if self.dropped == 0 {
                tracing::warn!(
                    plugin,
                    "plugin sent more than {MAX_MESSAGES_PER_CALL} messages or \
                     {MAX_MESSAGE_BYTES_PER_CALL} bytes of messages; dropping the rest"
                );
            }
            self.dropped += 1;
            return;
        }
        self.messages += 1;
        self.message_bytes += text.len();
        self.reporter.message(code, text);
    }

    /// Delivers progress held back by the rate limit; called when the call ends.
    pub(crate) fn flush(&mut self, plugin: &str) {
        if let Some((bytes, items)) = self.pending.take() {
            self.reporter.progress(bytes, items);
        }
        if self.dropped > 0 {
            tracing::warn!(plugin, dropped = self.dropped, "plugin messages dropped");
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl report::Host for PluginState {
    async fn progress(&mut self, bytes_done: u64, items_done: u64) -> wasmtime::Result<()> {
        if let Some(report) = &mut self.report {
            report.progress(bytes_done, items_done, Instant::now());
        }
        Ok(())
    }

    async fn message(&mut self, code: u32, text: String) -> wasmtime::Result<()> {
        if let Some(report) = &mut self.report {
            report.message(&self.plugin, code, &self.redactor.apply(&text));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records what it is told, for tests.
    #[derive(Default)]
    pub(crate) struct Recorder {
        pub progress: Mutex<Vec<(u64, u64)>>,
        pub messages: Mutex<Vec<(u32, String)>>,
    }

    impl Reporter for Recorder {
        fn progress(&self, bytes: u64, items: u64) {
            self.progress.lock().unwrap().push((bytes, items));
        }
        fn message(&self, code: u32, text: &str) {
            self.messages.lock().unwrap().push((code, text.to_string()));
        }
    }

    #[test]
    fn floods_are_capped_and_long_texts_cut() {
        let recorder = Arc::new(Recorder::default());
        let mut state = ReportState::new(recorder.clone());
        let long = "é".repeat(1000); // 2000 bytes
        for _ in 0..MAX_MESSAGES_PER_CALL + 50 {
            state.message("p", 7, &long);
        }
        let messages = recorder.messages.lock().unwrap();
        // 2000-byte texts are cut to 1024 bytes; 256 of those fill the budget.
        let kept = MAX_MESSAGE_BYTES_PER_CALL / MAX_MESSAGE_BYTES;
        assert_eq!(messages.len(), kept);
        assert_eq!(messages[0].1.len(), MAX_MESSAGE_BYTES);
        assert_eq!(
            state.dropped,
            u64::from(MAX_MESSAGES_PER_CALL) + 50 - kept as u64
        );
    }

    #[test]
    fn short_messages_are_capped_by_count() {
        let recorder = Arc::new(Recorder::default());
        let mut state = ReportState::new(recorder.clone());
        for _ in 0..MAX_MESSAGES_PER_CALL + 50 {
            state.message("p", 7, "short");
        }
        let messages = recorder.messages.lock().unwrap();
        assert_eq!(messages.len(), MAX_MESSAGES_PER_CALL as usize);
        assert_eq!(state.dropped, 50);
    }

    #[test]
    fn progress_is_coalesced_and_the_last_value_delivered() {
        let recorder = Arc::new(Recorder::default());
        let mut state = ReportState::new(recorder.clone());
        let t0 = Instant::now();
        for i in 0..100 {
            state.progress(i, i, t0 + Duration::from_millis(i));
        }
        state.progress(1000, 10, t0 + Duration::from_millis(150));
        state.progress(2000, 20, t0 + Duration::from_millis(160));
        state.flush("p");
        let progress = recorder.progress.lock().unwrap();
        assert_eq!(*progress, vec![(0, 0), (1000, 10), (2000, 20)]);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("aé", 3), "aé");
    }
}
