//! Slows down password guessing at `generateToken`: after a few failed
//! logins for a username, further attempts for it are refused without a
//! password check until a delay has passed, doubling with each failure.
//!
//! A delay, not a lockout: an attacker who knows a username can make its
//! owner wait at most [`MAX_DELAY`], never lock them out. Keyed by username
//! (lower-cased, so case variants share a budget) because that is what a
//! guesser targets; unknown usernames are throttled the same way, so the
//! answer tells nothing about which users exist.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before delays start.
pub const FREE_FAILURES: u32 = 3;
/// Longest delay between attempts for one username.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// Usernames tracked at once; beyond it the oldest entry is forgotten, so
/// random usernames cannot grow the map without bound.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed logins by username.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// `Err(wait)` when `username` must wait before its next attempt.
    pub fn check(&self, username: &str, now: Instant) -> Result<(), Duration> {
        let failures = self.lock();
        let Some(entry) = failures.get(&key(username)) else {
            return Ok(());
        };
        let ready = entry.last + delay_after(entry.count);
        if now < ready {
            Err(ready - now)
        } else {
            Ok(())
        }
    }

    pub fn failed(&self, username: &str, now: Instant) {
        let mut failures = self.lock();
        if failures.len() >= MAX_TRACKED
            && !failures.contains_key(&key(username))
            && let Some(oldest) = failures
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(name, _)| name.clone())
        {
            failures.remove(&oldest);
        }
        let entry = failures.entry(key(username)).or_insert(Failures {
            count: 0,
            last: now,
        });
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    pub fn succeeded(&self, username: &str) {
        self.lock().remove(&key(username));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// 0 for the first [`FREE_FAILURES`], then 1 s, 2 s, 4 s… up to [`MAX_DELAY`].
fn delay_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(16);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

fn key(username: &str) -> String {
    username
        .chars()
        .take(256)
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_free_failures_and_double_up_to_the_cap() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed("admin", t0);
        }
        assert!(throttle.check("admin", t0).is_ok());
        throttle.failed("Admin", t0);
        assert_eq!(throttle.check("ADMIN", t0), Err(Duration::from_secs(1)));
        assert!(throttle.check("admin", t0 + Duration::from_secs(1)).is_ok());
        throttle.failed("admin", t0);
        assert_eq!(throttle.check("admin", t0), Err(Duration::from_secs(2)));
        for _ in 0..40 {
            throttle.failed("admin", t0);
        }
        assert_eq!(throttle.check("admin", t0), Err(MAX_DELAY));
        assert!(throttle.check("someone-else", t0).is_ok());
        throttle.succeeded("admin");
        assert!(throttle.check("admin", t0).is_ok());
    }

    #[test]
    fn the_map_stays_bounded() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED + 50 {
            throttle.failed(&format!("user{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(throttle.lock().len(), MAX_TRACKED);
    }
}
