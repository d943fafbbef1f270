//! Slows down guessing of passwords (`generateToken`) and backup passcodes
//! (`restore`, `verify`).
//!
//! Every guess is *reserved* before it is checked: the reservation counts as
//! a failure at once and is taken back only if the check succeeds or never
//! runs, so a burst of simultaneous guesses sees its own earlier members and
//! cannot slip through before the first failure is recorded.
//!
//! Logins ([`logins`]) are limited three ways, so that no single budget lets
//! an attacker lock a user out:
//! - per (username, client address): a few free failures, then a doubling
//!   delay ([`backoff`]). Only guesses from that address wait, so a guesser
//!   elsewhere never delays the real user;
//! - per username across all addresses, and per address across all
//!   usernames: token buckets ([`bucket`]) against guessing from many
//!   addresses and against spraying many names from one. Both are waived for
//!   a (username, address) pair that signed in successfully recently and for
//!   callers presenting a valid token, so a user keeps signing in from where
//!   they usually do whatever the budgets say.
//!
//! The password checks themselves (Argon2, ~20 MiB each) pass a [`gate`]:
//! a few at a time, a bounded queue, at most two in flight per address, and
//! callers from known-good addresses or with a valid token served first, so
//! a flood of logins cannot hold up a real one.
//!
//! Passcodes ([`passcodes`]) are limited per backup with a doubling delay.

pub(crate) mod backoff;
pub(crate) mod bucket;
pub(crate) mod client;
pub(crate) mod gate;
pub(crate) mod logins;
pub(crate) mod passcodes;
pub(crate) mod recent;

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

/// Keys any one table tracks at once; beyond it stale entries are dropped,
/// then the oldest, so random usernames or addresses cannot grow memory
/// without bound.
pub(crate) const MAX_TRACKED: usize = 10_000;

/// Makes room for one more key in `map` when it is full: first drops every
/// entry `stale` says is of no more use, then, if that freed nothing, the one
/// `age` says is oldest.
pub(crate) fn make_room<K: Eq + Hash + Clone, V>(
    map: &mut HashMap<K, V>,
    max: usize,
    stale: impl Fn(&V) -> bool,
    age: impl Fn(&V) -> Instant,
) {
    if map.len() < max {
        return;
    }
    map.retain(|_, value| !stale(value));
    if map.len() < max {
        return;
    }
    if let Some(oldest) = map
        .iter()
        .min_by_key(|(_, value)| age(value))
        .map(|(key, _)| key.clone())
    {
        map.remove(&oldest);
    }
}

/// Whole seconds to announce in `Retry-After`: at least 1, rounded up.
pub(crate) fn retry_after_secs(wait: std::time::Duration) -> u64 {
    (wait.as_millis().div_ceil(1000) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn make_room_drops_stale_entries_first_then_the_oldest() {
        let t0 = Instant::now();
        let mut map: HashMap<u32, (Instant, bool)> = HashMap::new();
        for i in 0..4 {
            map.insert(i, (t0 + Duration::from_secs(u64::from(i)), i == 2));
        }
        make_room(&mut map, 4, |v| v.1, |v| v.0);
        assert_eq!(map.len(), 3);
        assert!(!map.contains_key(&2));
        make_room(&mut map, 3, |v| v.1, |v| v.0);
        assert_eq!(map.len(), 2);
        assert!(!map.contains_key(&0));
        make_room(&mut map, 3, |v| v.1, |v| v.0);
        assert_eq!(map.len(), 2, "not full: nothing dropped");
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }
}
