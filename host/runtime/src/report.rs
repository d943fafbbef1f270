//! `drhost:plugin/report`: a stage's progress and status messages, passed to
//! the job through a [`Reporter`], with flood protection (a plugin calls these
//! as often as it likes; the job log must stay readable).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::HasData;

use crate::bindings::stage::drhost::plugin::report;
use crate::redact::Redactor;

/// Receives a stage's progress and messages (implemented by the job runner).
pub trait Reporter: Send + Sync {
    /// Total work done so far (monotonic totals, not increments).
    fn progress(&self, bytes: u64, items: u64);
    /// A status message with a stage-specific code.
    fn message(&self, code: u32, text: &str);
    /// Something the stage left out or could not apply: the job completes
    /// with warnings (codes in [`warning_codes`]).
    fn warning(&self, code: u32, text: &str);
}

/// What a metadata change (`posix-fs.set-metadata`, `set-mode`) left out,
/// for the job's warnings.
pub(crate) enum Omission {
    Owner,
    ModeBits(u32),
}

/// Codes of the warnings the runtime raises for a stage.
pub mod warning_codes {
    /// Entries a stage left out (`report.skipped`).
    pub const ENTRIES_SKIPPED: u32 = 4030;
    /// Owners a restore could not apply (policy or privilege).
    pub const OWNERS_NOT_RESTORED: u32 = 5032;
    /// Setuid, setgid or sticky bits a restore left out.
    pub const MODE_BITS_DROPPED: u32 = 5033;
}

/// Paths named in a warning; the count says how many there were in all.
const NAMED_PATHS: usize = 10;

/// One kind of omission in a call: how many, and the first paths.
#[derive(Default)]
struct Omitted {
    count: u64,
    first: Vec<String>,
}

impl Omitted {
    /// Counts one more; `why` is only worked out for the paths named, since
    /// a restore without privileges calls this for every file.
    fn add(&mut self, path: &[u8], why: impl FnOnce() -> Option<String>) {
        self.count += 1;
        if self.first.len() < NAMED_PATHS {
            let path = drhost_repo::RawName(path.to_vec()).to_string();
            self.first.push(match why() {
                Some(why) => format!("{path} ({})", truncate(&why, 200)),
                None => path,
            });
        }
    }

    fn report(&self, reporter: &dyn Reporter, code: u32, what: &str) {
        if self.count == 0 {
            return;
        }
        let more = if self.count > self.first.len() as u64 {
            ", ..."
        } else {
            ""
        };
        let text = format!("{} {what}: {}{more}", self.count, self.first.join(", "));
        reporter.warning(code, &text);
    }
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
    skipped: Omitted,
    owners: Omitted,
    mode_bits: Omitted,
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
            skipped: Omitted::default(),
            owners: Omitted::default(),
            mode_bits: Omitted::default(),
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

    /// An entry a stage left out, or metadata `posix-fs` could not apply.
    pub(crate) fn skipped(&mut self, path: &[u8], reason: &str) {
        self.skipped.add(path, || Some(reason.to_owned()));
    }

    pub(crate) fn omitted(&mut self, omission: Omission, path: &[u8]) {
        match omission {
            Omission::Owner => self.owners.add(path, || None),
            Omission::ModeBits(bits) => self.mode_bits.add(path, || Some(format!("{bits:04o}"))),
        }
    }

    /// Delivers progress held back by the rate limit and the warnings of the
    /// call; called when the call ends.
    pub(crate) fn flush(&mut self, plugin: &str) {
        if let Some((bytes, items)) = self.pending.take() {
            self.reporter.progress(bytes, items);
        }
        let reporter = self.reporter.as_ref();
        self.skipped
            .report(reporter, warning_codes::ENTRIES_SKIPPED, "entries left out");
        self.owners.report(
            reporter,
            warning_codes::OWNERS_NOT_RESTORED,
            "entries keep the restoring user as owner (owners not restored: \
             the host may not change owners, or the stage's `owners` is `skip`)",
        );
        self.mode_bits.report(
            reporter,
            warning_codes::MODE_BITS_DROPPED,
            "entries restored without setuid/setgid/sticky bits (their owner was not \
             restored, or the stage has no `special_bits` grant)",
        );
        self.skipped = Omitted::default();
        self.owners = Omitted::default();
        self.mode_bits = Omitted::default();
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

/// The part of a call's data `report` works on.
pub(crate) struct ReportHost<'a> {
    pub(crate) plugin: &'a str,
    /// Absent for calls that report to no job: their reports go nowhere.
    pub(crate) report: Option<&'a mut ReportState>,
    pub(crate) redactor: &'a Redactor,
}

/// Links `report` to a [`ReportHost`] view of the call's data.
pub(crate) struct ReportData;

impl HasData for ReportData {
    type Data<'a> = ReportHost<'a>;
}

impl report::Host for ReportHost<'_> {
    async fn progress(&mut self, bytes_done: u64, items_done: u64) -> wasmtime::Result<()> {
        if let Some(report) = &mut self.report {
            report.progress(bytes_done, items_done, Instant::now());
        }
        Ok(())
    }

    async fn message(&mut self, code: u32, text: String) -> wasmtime::Result<()> {
        if let Some(report) = &mut self.report {
            report.message(self.plugin, code, &self.redactor.apply(&text));
        }
        Ok(())
    }

    async fn skipped(&mut self, path: Vec<u8>, reason: String) -> wasmtime::Result<()> {
        if let Some(report) = &mut self.report {
            report.skipped(&path, &self.redactor.apply(&reason));
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
        pub warnings: Mutex<Vec<(u32, String)>>,
    }

    impl Reporter for Recorder {
        fn progress(&self, bytes: u64, items: u64) {
            self.progress.lock().unwrap().push((bytes, items));
        }
        fn message(&self, code: u32, text: &str) {
            self.messages.lock().unwrap().push((code, text.to_string()));
        }
        fn warning(&self, code: u32, text: &str) {
            self.warnings.lock().unwrap().push((code, text.to_string()));
        }
    }

    #[test]
    fn omissions_become_one_warning_each_with_the_first_paths() {
        let recorder = Arc::new(Recorder::default());
        let mut state = ReportState::new(recorder.clone());
        for i in 0..12 {
            state.skipped(format!("sock{i}").as_bytes(), "a socket");
        }
        state.omitted(Omission::Owner, b"bin/\xff");
        state.omitted(Omission::ModeBits(0o4000), b"bin/su");
        state.flush("p");
        let warnings = recorder.warnings.lock().unwrap();
        assert_eq!(warnings.len(), 3);
        assert_eq!(warnings[0].0, warning_codes::ENTRIES_SKIPPED);
        assert!(
            warnings[0]
                .1
                .starts_with("12 entries left out: sock0 (a socket)")
        );
        assert!(warnings[0].1.ends_with(", ..."));
        assert!(warnings[1].1.contains("bin/\\xff"), "{}", warnings[1].1);
        assert!(warnings[2].1.contains("bin/su (4000)"), "{}", warnings[2].1);
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
