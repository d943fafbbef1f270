//! Keys seen recently: which (user, address) pairs and addresses signed in
//! successfully, remembered for a while so that they keep their way in
//! while others are throttled. Kept in memory only: a restart forgets them,
//! which costs a user nothing but the budgets everyone starts with.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::{MAX_TRACKED, make_room};

#[derive(Debug)]
pub(crate) struct Recent<K> {
    keep_for: Duration,
    max_tracked: usize,
    seen: HashMap<K, Instant>,
}

impl<K: Eq + Hash + Clone> Recent<K> {
    pub(crate) fn new(keep_for: Duration) -> Self {
        Self::with_capacity(keep_for, MAX_TRACKED)
    }

    pub(crate) fn with_capacity(keep_for: Duration, max_tracked: usize) -> Self {
        Recent {
            keep_for,
            max_tracked: max_tracked.max(1),
            seen: HashMap::new(),
        }
    }

    /// Whether `key` was seen less than `keep_for` before `now`.
    pub(crate) fn contains(&self, key: &K, now: Instant) -> bool {
        self.seen
            .get(key)
            .is_some_and(|seen| now.saturating_duration_since(*seen) < self.keep_for)
    }

    pub(crate) fn insert(&mut self, key: K, now: Instant) {
        if !self.seen.contains_key(&key) {
            let keep_for = self.keep_for;
            make_room(
                &mut self.seen,
                self.max_tracked,
                |seen| now.saturating_duration_since(*seen) >= keep_for,
                |seen| *seen,
            );
        }
        self.seen.insert(key, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_remembered_for_a_while_and_the_table_stays_bounded() {
        let keep = Duration::from_secs(60);
        let mut recent = Recent::with_capacity(keep, 10);
        let t0 = Instant::now();
        recent.insert("a", t0);
        assert!(recent.contains(&"a", t0 + Duration::from_secs(59)));
        assert!(!recent.contains(&"a", t0 + keep));
        assert!(!recent.contains(&"b", t0));
        let mut many = Recent::with_capacity(keep, 10);
        for i in 0..20u64 {
            many.insert(i, t0 + Duration::from_millis(i));
        }
        assert_eq!(many.seen.len(), 10);
        assert!(many.contains(&19, t0) && !many.contains(&0, t0));
    }
}
