//! Modification times as the archive carries them: whole seconds since the
//! Unix epoch (negative before it) plus a nanosecond part in `0..1e9`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NANOS_PER_SEC: u32 = 1_000_000_000;

/// `time` as (seconds, nanoseconds) with the nanoseconds always non-negative,
/// so a pre-epoch time floors its seconds like `struct timespec` does.
pub fn to_parts(time: SystemTime) -> (i64, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (saturating_secs(after), after.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            let secs = -saturating_secs(before);
            match before.subsec_nanos() {
                0 => (secs, 0),
                n => (secs.saturating_sub(1), NANOS_PER_SEC - n),
            }
        }
    }
}

/// The inverse of [`to_parts`]; `None` if the parts are out of range. WASI
/// takes the parts as they are, so only native builds (tests) need it.
#[cfg(any(test, not(target_os = "wasi")))]
pub fn from_parts(seconds: i64, nanos: u32) -> Option<SystemTime> {
    if nanos >= NANOS_PER_SEC {
        return None;
    }
    let whole = Duration::from_secs(seconds.unsigned_abs());
    let base = if seconds >= 0 {
        UNIX_EPOCH.checked_add(whole)?
    } else {
        UNIX_EPOCH.checked_sub(whole)?
    };
    base.checked_add(Duration::from_nanos(u64::from(nanos)))
}

fn saturating_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_sides_of_the_epoch() {
        for (s, n) in [
            (0, 0),
            (1_700_000_000, 123_456_789),
            (-1, 500),
            (-86_400, 0),
        ] {
            let t = from_parts(s, n).unwrap();
            assert_eq!(to_parts(t), (s, n));
        }
    }

    #[test]
    fn floors_pre_epoch_seconds() {
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(to_parts(t), (-2, 500_000_000));
    }

    #[test]
    fn rejects_bad_nanos() {
        assert!(from_parts(0, 1_000_000_000).is_none());
    }
}
