//! Throughput and time-to-go of a stage, from its counters and running time.
//!
//! Pure arithmetic, so the views (`jobs/<id>`, DR status) and the CLI agree
//! and it can be tested without a job.

/// Rates of one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    /// Bytes per second over the stage's running time; `None` before it has
    /// run for a measurable time.
    pub bytes_per_second: Option<u64>,
    /// Seconds until the stage is done, rounded up; `None` when the total is
    /// unknown, nothing is done yet (no rate to extrapolate), or more than the
    /// (estimated) total is already done.
    pub eta_seconds: Option<u64>,
}

/// Rates of a stage that has done `bytes_done` of `bytes_total` in
/// `elapsed_ms` of running time. A finished stage has nothing left to do.
pub fn rates(bytes_done: u64, bytes_total: Option<u64>, elapsed_ms: i64, finished: bool) -> Rates {
    let elapsed_ms = u128::try_from(elapsed_ms).unwrap_or(0);
    let bytes_per_second = (elapsed_ms > 0)
        .then(|| u64::try_from(u128::from(bytes_done) * 1000 / elapsed_ms).unwrap_or(u64::MAX));
    let eta_seconds = if finished {
        Some(0)
    } else {
        bytes_total.and_then(|total| eta(bytes_done, total, elapsed_ms))
    };
    Rates {
        bytes_per_second,
        eta_seconds,
    }
}

/// Remaining time at the average rate so far, rounded up to a second:
/// `remaining × elapsed / done` avoids the rounding of a per-second rate.
fn eta(done: u64, total: u64, elapsed_ms: u128) -> Option<u64> {
    if done > total {
        // The total was an estimate (the previous backup) and is exceeded:
        // an ETA of zero would be a lie, so it is unknown.
        return None;
    }
    let remaining = u128::from(total - done);
    if remaining == 0 {
        return Some(0);
    }
    if done == 0 || elapsed_ms == 0 {
        return None;
    }
    let ms = remaining * elapsed_ms / u128::from(done);
    Some(u64::try_from(ms.div_ceil(1000)).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_is_bytes_over_running_time() {
        assert_eq!(
            rates(10_000, None, 2_000, false).bytes_per_second,
            Some(5_000)
        );
        assert_eq!(rates(999, None, 1_000, false).bytes_per_second, Some(999));
        assert_eq!(rates(1, None, 3, false).bytes_per_second, Some(333));
        assert_eq!(rates(0, None, 1_000, false).bytes_per_second, Some(0));
    }

    #[test]
    fn no_throughput_before_the_stage_has_run() {
        assert_eq!(
            rates(10, Some(20), 0, false),
            Rates {
                bytes_per_second: None,
                eta_seconds: None
            }
        );
        assert_eq!(rates(10, Some(20), -5, false).bytes_per_second, None);
    }

    #[test]
    fn eta_extrapolates_the_average_rate() {
        // 25 % in 10 s → 30 s to go.
        assert_eq!(rates(250, Some(1_000), 10_000, false).eta_seconds, Some(30));
        // Rounded up: 1 byte left at 3 bytes/s is one second, not zero.
        assert_eq!(rates(3, Some(4), 1_000, false).eta_seconds, Some(1));
        assert_eq!(
            rates(1_000, Some(1_000), 10_000, false).eta_seconds,
            Some(0)
        );
    }

    #[test]
    fn eta_unknown_without_total_rate_or_when_the_estimate_is_exceeded() {
        assert_eq!(rates(250, None, 10_000, false).eta_seconds, None);
        assert_eq!(rates(0, Some(1_000), 10_000, false).eta_seconds, None);
        assert_eq!(rates(1_001, Some(1_000), 10_000, false).eta_seconds, None);
    }

    #[test]
    fn finished_stages_have_nothing_left() {
        assert_eq!(rates(1_001, Some(1_000), 10_000, true).eta_seconds, Some(0));
        assert_eq!(rates(0, None, 0, true).eta_seconds, Some(0));
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let r = rates(u64::MAX, Some(u64::MAX), 1, false);
        assert_eq!(r.bytes_per_second, Some(u64::MAX));
        assert_eq!(r.eta_seconds, Some(0));
        assert_eq!(
            rates(1, Some(u64::MAX), i64::MAX, false).eta_seconds,
            Some(u64::MAX)
        );
    }
}
