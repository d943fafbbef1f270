//! Wrong backup passcodes on `restore` and `verify`, per backup: three free,
//! then 1 s, 2 s, 4 s… up to five minutes between attempts. Any user allowed
//! to try (an operator may verify) could otherwise guess a backup's passcode
//! as fast as the host derives keys; per backup rather than per user, so
//! that several accounts do not multiply the guesses. A right passcode
//! clears the backup's count.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::backoff::{Backoff, BackoffPolicy};
use crate::ops::OpError;

pub(crate) const POLICY: BackoffPolicy = BackoffPolicy {
    free_failures: 3,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(5 * 60),
    forget_after: Duration::from_secs(3600),
};

type BackupKey = (String, String);

#[derive(Debug)]
pub(crate) struct PasscodeThrottle {
    failures: Mutex<Backoff<BackupKey>>,
}

impl Default for PasscodeThrottle {
    fn default() -> Self {
        PasscodeThrottle {
            failures: Mutex::new(Backoff::new(POLICY)),
        }
    }
}

/// A passcode check counted as wrong until [`PasscodeAttempt::settle`] says
/// otherwise; dropping it keeps the failure.
#[must_use = "settle the attempt with the outcome of the check"]
#[derive(Debug)]
pub(crate) struct PasscodeAttempt<'a> {
    throttle: &'a PasscodeThrottle,
    backup: BackupKey,
}

impl PasscodeThrottle {
    /// Reserves a passcode check for `backup` of `store`, or says how long
    /// to wait.
    pub(crate) fn reserve(
        &self,
        store: &str,
        backup: &str,
        now: Instant,
    ) -> Result<PasscodeAttempt<'_>, Duration> {
        let key = (store.to_owned(), backup.to_owned());
        let mut failures = self.lock();
        if let Some(wait) = failures.wait(&key, now) {
            return Err(wait);
        }
        failures.record(&key, now);
        Ok(PasscodeAttempt {
            throttle: self,
            backup: key,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Backoff<BackupKey>> {
        self.failures
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl PasscodeAttempt<'_> {
    /// Settles the attempt with the operation's outcome: a wrong passcode
    /// stays counted, success clears the count, and any other failure
    /// (unknown backup, a job already running) checked no passcode.
    pub(crate) fn settle<T>(self, outcome: &Result<T, OpError>) {
        let mut failures = self.throttle.lock();
        match outcome {
            Ok(_) => failures.reset(&self.backup),
            Err(OpError::WrongPasscode(_)) => {}
            Err(_) => failures.refund(&self.backup),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrong() -> Result<(), OpError> {
        Err(OpError::WrongPasscode("wrong".into()))
    }

    #[test]
    fn wrong_passcodes_delay_the_backup_and_a_right_one_clears_it() {
        let throttle = PasscodeThrottle::default();
        let now = Instant::now();
        let burst: Vec<_> = (0..50)
            .filter_map(|_| throttle.reserve("s", "b1", now).ok())
            .collect();
        assert_eq!(burst.len(), 3, "simultaneous guesses see each other");
        for attempt in burst {
            attempt.settle(&wrong());
        }
        assert_eq!(
            throttle.reserve("s", "b1", now).err(),
            Some(Duration::from_secs(1))
        );
        assert!(throttle.reserve("s", "b2", now).is_ok(), "per backup");
        assert!(throttle.reserve("other", "b1", now).is_ok(), "per store");
        let later = now + Duration::from_secs(1);
        throttle
            .reserve("s", "b1", later)
            .expect("after the delay")
            .settle(&wrong());
        assert_eq!(
            throttle.reserve("s", "b1", later).err(),
            Some(Duration::from_secs(2))
        );
        let later = later + Duration::from_secs(2);
        throttle
            .reserve("s", "b1", later)
            .expect("after the delay")
            .settle(&Ok::<(), OpError>(()));
        for _ in 0..3 {
            throttle
                .reserve("s", "b1", later)
                .expect("cleared")
                .settle(&Err::<(), _>(OpError::Conflict("busy".into())));
        }
        assert!(
            throttle.reserve("s", "b1", later).is_ok(),
            "other failures are not counted"
        );
    }
}
