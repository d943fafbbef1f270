//! Token buckets per key: up to `capacity` attempts at once, then one more
//! every `refill_every`. Kept as the time the bucket will be full again (the
//! generic cell rate algorithm), which needs no timer and no floating point:
//! each attempt pushes that time `refill_every` later, and an attempt is
//! allowed while it stays within `capacity × refill_every` of now.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::{MAX_TRACKED, make_room};

/// Size and refill rate of every bucket of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketPolicy {
    pub(crate) capacity: u32,
    pub(crate) refill_every: Duration,
}

impl BucketPolicy {
    fn window(&self) -> Duration {
        self.refill_every.saturating_mul(self.capacity.max(1))
    }
}

/// Buckets by key; a key without an entry has a full bucket.
#[derive(Debug)]
pub(crate) struct Buckets<K> {
    policy: BucketPolicy,
    max_tracked: usize,
    /// When each bucket is full again.
    full_at: HashMap<K, Instant>,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    pub(crate) fn new(policy: BucketPolicy) -> Self {
        Self::with_capacity(policy, MAX_TRACKED)
    }

    pub(crate) fn with_capacity(policy: BucketPolicy, max_tracked: usize) -> Self {
        Buckets {
            policy,
            max_tracked: max_tracked.max(1),
            full_at: HashMap::new(),
        }
    }

    /// How long until `key` has an attempt left; `None` when it has one now.
    pub(crate) fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let full_at = self.full_at.get(key).copied()?.max(now);
        let after = full_at + self.policy.refill_every;
        let limit = now + self.policy.window();
        (after > limit).then(|| after - limit)
    }

    /// Takes one attempt from `key`'s bucket.
    pub(crate) fn take(&mut self, key: &K, now: Instant) {
        if !self.full_at.contains_key(key) {
            make_room(&mut self.full_at, self.max_tracked, |t| *t <= now, |t| *t);
        }
        let full_at = self.full_at.entry(key.clone()).or_insert(now);
        *full_at = (*full_at).max(now) + self.policy.refill_every;
    }

    /// Puts back an attempt taken for a check that never ran or succeeded.
    pub(crate) fn give_back(&mut self, key: &K, now: Instant) {
        let Some(full_at) = self.full_at.get_mut(key) else {
            return;
        };
        match full_at.checked_sub(self.policy.refill_every) {
            Some(earlier) if earlier > now => *full_at = earlier,
            _ => {
                self.full_at.remove(key);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.full_at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BucketPolicy = BucketPolicy {
        capacity: 3,
        refill_every: Duration::from_secs(10),
    };

    #[test]
    fn a_burst_up_to_capacity_then_one_per_refill() {
        let mut buckets = Buckets::new(POLICY);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(buckets.wait(&"a", t0), None);
            buckets.take(&"a", t0);
        }
        assert_eq!(buckets.wait(&"a", t0), Some(Duration::from_secs(10)));
        assert_eq!(buckets.wait(&"b", t0), None, "keys are independent");
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(buckets.wait(&"a", t1), None);
        buckets.take(&"a", t1);
        assert_eq!(buckets.wait(&"a", t1), Some(Duration::from_secs(10)));
        // Idle long enough, the bucket is full again.
        let t2 = t1 + Duration::from_secs(30);
        for _ in 0..3 {
            assert_eq!(buckets.wait(&"a", t2), None);
            buckets.take(&"a", t2);
        }
        assert!(buckets.wait(&"a", t2).is_some());
    }

    #[test]
    fn given_back_attempts_can_be_used_again() {
        let mut buckets = Buckets::new(POLICY);
        let t0 = Instant::now();
        for _ in 0..3 {
            buckets.take(&"a", t0);
        }
        buckets.give_back(&"a", t0);
        assert_eq!(buckets.wait(&"a", t0), None);
        for _ in 0..5 {
            buckets.give_back(&"a", t0);
        }
        assert_eq!(buckets.len(), 0, "a full bucket needs no entry");
        buckets.give_back(&"unknown", t0);
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut buckets = Buckets::with_capacity(POLICY, 50);
        let t0 = Instant::now();
        for i in 0..80u64 {
            buckets.take(&i, t0 + Duration::from_millis(i));
        }
        assert_eq!(buckets.len(), 50);
    }
}
