//! Doubling delays per key: after a few free failures, the next attempt must
//! wait 1 s after the last failure, then 2 s, 4 s… up to a cap. A delay, not a
//! lockout: whoever knows the key can make its owner wait at most the cap.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::{MAX_TRACKED, make_room};

/// How failures turn into delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackoffPolicy {
    /// Failures allowed before delays start.
    pub(crate) free_failures: u32,
    /// The first delay; each further failure doubles it.
    pub(crate) first_delay: Duration,
    /// Longest delay.
    pub(crate) max_delay: Duration,
    /// A key idle this long starts afresh, so that an old typo or a guesser
    /// who gave up long ago does not weigh on today's attempts.
    pub(crate) forget_after: Duration,
}

impl BackoffPolicy {
    /// The delay after `failures` failures.
    pub(crate) fn delay_after(&self, failures: u32) -> Duration {
        if failures < self.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free_failures).min(30);
        self.first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failures by key.
#[derive(Debug)]
pub(crate) struct Backoff<K> {
    policy: BackoffPolicy,
    max_tracked: usize,
    entries: HashMap<K, Failures>,
}

impl<K: Eq + Hash + Clone> Backoff<K> {
    pub(crate) fn new(policy: BackoffPolicy) -> Self {
        Self::with_capacity(policy, MAX_TRACKED)
    }

    pub(crate) fn with_capacity(policy: BackoffPolicy, max_tracked: usize) -> Self {
        Backoff {
            policy,
            max_tracked: max_tracked.max(1),
            entries: HashMap::new(),
        }
    }

    /// How long `key` must still wait; `None` when it may try now.
    pub(crate) fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if self.forgotten(entry, now) {
            return None;
        }
        let ready = entry.last + self.policy.delay_after(entry.count);
        (now < ready).then(|| ready - now)
    }

    /// Counts a failure for `key`: an attempt reserved before its check.
    pub(crate) fn record(&mut self, key: &K, now: Instant) {
        let forget_after = self.policy.forget_after;
        if !self.entries.contains_key(key) {
            make_room(
                &mut self.entries,
                self.max_tracked,
                |f| now.saturating_duration_since(f.last) >= forget_after,
                |f| f.last,
            );
        }
        let entry = self.entries.entry(key.clone()).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.saturating_duration_since(entry.last) >= forget_after {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    /// Takes back one recorded failure: the attempt it reserved never ran.
    pub(crate) fn refund(&mut self, key: &K) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.count = entry.count.saturating_sub(1);
            if entry.count == 0 {
                self.entries.remove(key);
            }
        }
    }

    /// Forgets `key`'s failures: it proved itself.
    pub(crate) fn reset(&mut self, key: &K) {
        self.entries.remove(key);
    }

    fn forgotten(&self, entry: &Failures, now: Instant) -> bool {
        now.saturating_duration_since(entry.last) >= self.policy.forget_after
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BackoffPolicy = BackoffPolicy {
        free_failures: 3,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(60),
        forget_after: Duration::from_secs(900),
    };

    #[test]
    fn delays_start_after_free_failures_and_double_up_to_the_cap() {
        let mut backoff = Backoff::new(POLICY);
        let t0 = Instant::now();
        for _ in 0..POLICY.free_failures - 1 {
            backoff.record(&"admin", t0);
        }
        assert_eq!(backoff.wait(&"admin", t0), None);
        backoff.record(&"admin", t0);
        assert_eq!(backoff.wait(&"admin", t0), Some(Duration::from_secs(1)));
        assert_eq!(backoff.wait(&"admin", t0 + Duration::from_secs(1)), None);
        backoff.record(&"admin", t0);
        assert_eq!(backoff.wait(&"admin", t0), Some(Duration::from_secs(2)));
        for _ in 0..40 {
            backoff.record(&"admin", t0);
        }
        assert_eq!(backoff.wait(&"admin", t0), Some(POLICY.max_delay));
        assert_eq!(backoff.wait(&"someone-else", t0), None);
        backoff.reset(&"admin");
        assert_eq!(backoff.wait(&"admin", t0), None);
    }

    #[test]
    fn refunds_take_back_reservations_and_idle_keys_start_afresh() {
        let mut backoff = Backoff::new(POLICY);
        let t0 = Instant::now();
        for _ in 0..POLICY.free_failures {
            backoff.record(&"k", t0);
        }
        assert!(backoff.wait(&"k", t0).is_some());
        backoff.refund(&"k");
        assert_eq!(backoff.wait(&"k", t0), None);
        for _ in 0..10 {
            backoff.record(&"k", t0);
        }
        let later = t0 + POLICY.forget_after;
        assert_eq!(backoff.wait(&"k", later), None);
        backoff.record(&"k", later);
        assert_eq!(backoff.wait(&"k", later), None, "the count restarted");
        backoff.refund(&"k");
        assert_eq!(backoff.len(), 0);
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut backoff = Backoff::with_capacity(POLICY, 100);
        let t0 = Instant::now();
        for i in 0..150u64 {
            backoff.record(&i, t0 + Duration::from_millis(i));
        }
        assert_eq!(backoff.len(), 100);
        assert!(backoff.entries.contains_key(&149));
        assert!(!backoff.entries.contains_key(&0), "the oldest went first");
    }
}
