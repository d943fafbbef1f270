//! Throttled progress reporting: the host coalesces reports anyway, but each
//! is a host call, so one per file, tar member or object would dominate a
//! backup of many small ones.

use crate::ports::Host;

const BYTES_BETWEEN_REPORTS: u64 = 8 << 20;
const ITEMS_BETWEEN_REPORTS: u64 = 256;

/// Running totals of a backup or restore, reported to the host as they grow.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes: u64,
    pub items: u64,
    /// Entries left out of a backup (each reported as a warning); the
    /// plugin counts them, `Progress` only carries the number.
    pub skipped: u64,
    reported_bytes: u64,
    reported_items: u64,
}

impl Progress {
    pub fn add_bytes(&mut self, n: u64, host: &impl Host) {
        self.bytes = self.bytes.saturating_add(n);
        self.maybe_report(host);
    }

    pub fn add_item(&mut self, host: &impl Host) {
        self.items += 1;
        self.maybe_report(host);
    }

    /// Reports the final totals unconditionally.
    pub fn finish(&mut self, host: &impl Host) {
        self.report(host);
    }

    fn maybe_report(&mut self, host: &impl Host) {
        if self.bytes - self.reported_bytes >= BYTES_BETWEEN_REPORTS
            || self.items - self.reported_items >= ITEMS_BETWEEN_REPORTS
        {
            self.report(host);
        }
    }

    fn report(&mut self, host: &impl Host) {
        host.progress(self.bytes, self.items);
        self.reported_bytes = self.bytes;
        self.reported_items = self.items;
    }
}
