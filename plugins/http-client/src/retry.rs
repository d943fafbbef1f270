//! How long to wait before trying a request again, and which transport
//! failures are worth it (a dropped connection, a restarting server). Which
//! HTTP answers are worth repeating is each service's own business (S3's
//! `SlowDown`, Azure's `ServerBusy`), so the clients decide that themselves.

use std::time::Duration;

use crate::transport::{Clock, TransportError, TransportErrorKind};

/// Exponential backoff: `first`, doubling up to `max`, for at most
/// `attempts` tries in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub attempts: u32,
    pub first: Duration,
    pub max: Duration,
}

impl Default for Policy {
    /// Six tries, waiting 0.1, 0.2, 0.4, 0.8 and 1.6 s in between (3.1 s in
    /// all); the cap of 3.2 s only matters for longer policies.
    fn default() -> Self {
        Self {
            attempts: 6,
            first: Duration::from_millis(100),
            max: Duration::from_millis(3200),
        }
    }
}

impl Policy {
    /// The wait before try number `attempt + 1` (`attempt` counts from 1),
    /// or `None` if `attempt` was the last.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        Some(self.first.saturating_mul(factor).min(self.max))
    }

    /// After try number `attempt` failed: waits on `clock` and counts the
    /// next try (`true`), or, if that was the last one, returns `false`.
    pub fn pause<C: Clock + ?Sized>(&self, attempt: &mut u32, clock: &C) -> bool {
        match self.delay_after(*attempt) {
            Some(delay) => {
                clock.sleep(delay);
                *attempt += 1;
                true
            }
            None => false,
        }
    }
}

/// Whether a transport failure is worth repeating: not a refusal by the host
/// nor an error a retry cannot fix.
pub fn transport_retryable(error: &TransportError) -> bool {
    matches!(
        error.kind,
        TransportErrorKind::Unreachable | TransportErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_with_a_cap() {
        let p = Policy::default();
        let delays: Vec<_> = (1..10).map_while(|a| p.delay_after(a)).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600].map(Duration::from_millis)
        );
        let long = Policy { attempts: 10, ..p };
        assert_eq!(long.delay_after(7), Some(Duration::from_millis(3200)));
        assert_eq!(long.delay_after(9), Some(Duration::from_millis(3200)));
        assert_eq!(long.delay_after(10), None);
        assert_eq!(long.delay_after(200), None);
    }

    #[test]
    fn classifies_transport_errors() {
        use TransportErrorKind::*;
        assert!(transport_retryable(&TransportError::new(
            Unreachable,
            "connection-refused"
        )));
        assert!(transport_retryable(&TransportError::new(
            Interrupted,
            "connection-terminated"
        )));
        assert!(!transport_retryable(&TransportError::new(
            Denied,
            "HTTP-request-denied"
        )));
        assert!(!transport_retryable(&TransportError::new(
            Fatal,
            "TLS-certificate-error"
        )));
    }
}
