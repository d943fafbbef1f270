//! Credentials kept in memory and refreshed before they expire: the store
//! adapter gets keys from here before every call, so a long backup keeps
//! working across rotations of temporary keys.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::{AwsCredentials, CredentialsError, Env, resolve};

/// Temporary keys are replaced this long before they expire: a store call
/// that starts with them has at least this long before they stop working
/// (the AWS SDKs use the same margin).
const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// Long-term keys (no expiration) are looked up again after this long, so a
/// rotated credentials file is picked up without a restart.
const RECHECK_LONG_TERM: Duration = Duration::from_secs(5 * 60);
/// Keys this close to expiring are not handed out even when a refresh
/// failed.
const MIN_VALIDITY: Duration = Duration::from_secs(60);

type Resolver = dyn Fn() -> Result<AwsCredentials, CredentialsError> + Send + Sync;

/// The host's AWS credentials, shared by every `IAM-ROLE` store.
pub struct CredentialCache {
    resolver: Arc<Resolver>,
    current: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    credentials: AwsCredentials,
    fetched: Instant,
}

impl Cached {
    /// Good for another call without asking again.
    fn fresh(&self, now: SystemTime) -> bool {
        match self.credentials.expiration {
            Some(expiration) => remaining(expiration, now) > REFRESH_AHEAD,
            None => self.fetched.elapsed() < RECHECK_LONG_TERM,
        }
    }

    /// Still worth using when a refresh has failed.
    fn usable(&self, now: SystemTime) -> bool {
        self.credentials
            .expiration
            .is_none_or(|expiration| remaining(expiration, now) > MIN_VALIDITY)
    }
}

fn remaining(expiration: SystemTime, now: SystemTime) -> Duration {
    expiration.duration_since(now).unwrap_or(Duration::ZERO)
}

impl CredentialCache {
    /// Credentials from the provider chain over the process's environment.
    pub fn from_environment() -> Self {
        Self::with_resolver(|| resolve(&Env::process()))
    }

    /// Credentials from `resolver` (blocking; run off the async threads).
    pub fn with_resolver(
        resolver: impl Fn() -> Result<AwsCredentials, CredentialsError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            resolver: Arc::new(resolver),
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// Keys good for one store call: the current ones while fresh, else
    /// new ones. Concurrent callers wait for one lookup.
    pub async fn get(&self) -> Result<AwsCredentials, CredentialsError> {
        let mut current = self.current.lock().await;
        let now = SystemTime::now();
        if let Some(cached) = current.as_ref()
            && cached.fresh(now)
        {
            return Ok(cached.credentials.clone());
        }
        let resolver = self.resolver.clone();
        let looked_up = tokio::task::spawn_blocking(move || resolver())
            .await
            .map_err(|e| {
                CredentialsError::provider("drhost", format!("the lookup ended abnormally: {e}"))
            })
            .and_then(|result| result);
        match looked_up {
            Ok(credentials) => {
                tracing::info!(
                    provider = credentials.provider,
                    access_key_id = %credentials.access_key_id,
                    expires_in_s = credentials
                        .expiration
                        .map(|e| remaining(e, now).as_secs()),
                    "AWS credentials obtained"
                );
                *current = Some(Cached {
                    credentials: credentials.clone(),
                    fetched: Instant::now(),
                });
                Ok(credentials)
            }
            Err(error) => match current.as_ref() {
                Some(cached) if cached.usable(now) => {
                    tracing::warn!(%error, "refreshing the AWS credentials failed; the current ones are still valid");
                    Ok(cached.credentials.clone())
                }
                _ => Err(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    /// A cache whose lookups count themselves and give keys valid for
    /// `lifetime` (or fail once `fail` is set).
    fn counting(
        lifetime: Option<Duration>,
    ) -> (CredentialCache, Arc<AtomicUsize>, Arc<AtomicBool>) {
        let (calls, fail) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (c, f) = (calls.clone(), fail.clone());
        let cache = CredentialCache::with_resolver(move || {
            if f.load(Ordering::SeqCst) {
                return Err(CredentialsError::provider("test", "STS is down"));
            }
            let n = c.fetch_add(1, Ordering::SeqCst);
            Ok(AwsCredentials {
                access_key_id: format!("ASIA{n}"),
                secret_access_key: "s".into(),
                session_token: Some("t".into()),
                expiration: lifetime.map(|l| SystemTime::now() + l),
                provider: "test",
            })
        });
        (cache, calls, fail)
    }

    #[tokio::test]
    async fn keys_are_reused_while_fresh() {
        let (cache, calls, _) = counting(Some(Duration::from_secs(3600)));
        assert_eq!(cache.get().await.expect("keys").access_key_id, "ASIA0");
        assert_eq!(cache.get().await.expect("keys").access_key_id, "ASIA0");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let (long_term, calls, _) = counting(None);
        long_term.get().await.expect("keys");
        long_term.get().await.expect("keys");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn keys_close_to_expiry_are_refreshed_before_the_call() {
        let (cache, calls, fail) = counting(Some(Duration::from_secs(4 * 60)));
        assert_eq!(cache.get().await.expect("keys").access_key_id, "ASIA0");
        assert_eq!(cache.get().await.expect("keys").access_key_id, "ASIA1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // A failed refresh keeps the current keys while they still work.
        fail.store(true, Ordering::SeqCst);
        assert_eq!(cache.get().await.expect("keys").access_key_id, "ASIA1");
    }

    #[tokio::test]
    async fn expired_keys_are_never_handed_out() {
        let (cache, _, fail) = counting(Some(Duration::from_secs(30)));
        cache.get().await.expect("keys");
        fail.store(true, Ordering::SeqCst);
        let err = cache.get().await.expect_err("expired and no refresh");
        assert!(err.to_string().contains("STS is down"), "{err}");
    }
}
