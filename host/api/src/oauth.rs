//! The state of OAuth2 authorization-code sign-ins (`sharing/rest/oauth2/...`,
//! the ArcGIS API for Python's default login): sign-ins waiting for a
//! password, and the codes issued for them.
//!
//! Both live in memory only and are short-lived: a sign-in page is valid for
//! [`SIGNIN_TTL`], a code for [`CODE_TTL`] and for one exchange only (it is
//! removed when looked up, whether the exchange then succeeds or not). Both
//! maps are bounded, since anyone may open a sign-in page: when full, the
//! oldest entry goes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;

/// How long a sign-in page may wait for its password.
pub(crate) const SIGNIN_TTL: Duration = Duration::from_secs(10 * 60);
/// How long an authorization code may wait for its exchange.
pub(crate) const CODE_TTL: Duration = Duration::from_secs(60);
/// Most sign-ins (and, separately, codes) kept at once.
const MAX_ENTRIES: usize = 256;

/// The one client registered: the ArcGIS API for Python's built-in login.
pub(crate) const CLIENT_ID: &str = "pythonapi";
/// The one redirect URI accepted: out of band, so the code is shown in the
/// answer page and never sent to another site.
pub(crate) const OOB_REDIRECT_URI: &str = "urn:ietf:wg:oauth:2.0:oob";

/// A sign-in page's request, waiting for the user's password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingSignin {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    /// Lifetime the client asked for, in minutes (capped when the token is issued).
    pub(crate) expiration_minutes: Option<u64>,
}

/// What an authorization code stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) username: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) expiration_minutes: Option<u64>,
}

struct Entry<T> {
    value: T,
    created: Instant,
}

/// Pending sign-ins by `oauth_state`, and grants by code.
#[derive(Default)]
pub(crate) struct OAuthStore {
    signins: Mutex<HashMap<String, Entry<PendingSignin>>>,
    codes: Mutex<HashMap<String, Entry<Grant>>>,
}

impl OAuthStore {
    /// Records a sign-in page; returns its `oauth_state`.
    pub(crate) fn begin(&self, signin: PendingSignin, now: Instant) -> String {
        insert(&self.signins, signin, now, SIGNIN_TTL)
    }

    /// The sign-in of `oauth_state` while it is valid. It stays, so a wrong
    /// password can be corrected on the same page.
    pub(crate) fn signin(&self, oauth_state: &str, now: Instant) -> Option<PendingSignin> {
        let mut signins = lock(&self.signins);
        prune(&mut signins, now, SIGNIN_TTL);
        signins.get(oauth_state).map(|entry| entry.value.clone())
    }

    /// Ends the sign-in of `oauth_state` with a code for `username`.
    pub(crate) fn issue_code(
        &self,
        oauth_state: &str,
        username: &str,
        now: Instant,
    ) -> Option<String> {
        let signin = {
            let mut signins = lock(&self.signins);
            prune(&mut signins, now, SIGNIN_TTL);
            signins.remove(oauth_state)?.value
        };
        let grant = Grant {
            username: username.to_owned(),
            client_id: signin.client_id,
            redirect_uri: signin.redirect_uri,
            expiration_minutes: signin.expiration_minutes,
        };
        Some(insert(&self.codes, grant, now, CODE_TTL))
    }

    /// The grant of `code`, once: the code is gone afterwards.
    pub(crate) fn redeem(&self, code: &str, now: Instant) -> Option<Grant> {
        let mut codes = lock(&self.codes);
        prune(&mut codes, now, CODE_TTL);
        codes.remove(code).map(|entry| entry.value)
    }
}

fn lock<T>(
    map: &Mutex<HashMap<String, Entry<T>>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Entry<T>>> {
    // Plain data: a panic elsewhere leaves nothing half-changed worth refusing.
    map.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn prune<T>(map: &mut HashMap<String, Entry<T>>, now: Instant, ttl: Duration) {
    map.retain(|_, entry| now.saturating_duration_since(entry.created) < ttl);
}

/// Stores `value` under a fresh random key (128 bits, hex) and returns it.
fn insert<T>(
    map: &Mutex<HashMap<String, Entry<T>>>,
    value: T,
    now: Instant,
    ttl: Duration,
) -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = hex::encode(bytes);
    let mut map = lock(map);
    prune(&mut map, now, ttl);
    while map.len() >= MAX_ENTRIES {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, entry)| entry.created)
            .map(|(key, _)| key.clone())
        else {
            break;
        };
        map.remove(&oldest);
    }
    map.insert(
        key.clone(),
        Entry {
            value,
            created: now,
        },
    );
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signin() -> PendingSignin {
        PendingSignin {
            client_id: CLIENT_ID.to_owned(),
            redirect_uri: OOB_REDIRECT_URI.to_owned(),
            expiration_minutes: Some(60),
        }
    }

    #[test]
    fn a_code_is_redeemed_once() {
        let store = OAuthStore::default();
        let now = Instant::now();
        let state = store.begin(signin(), now);
        assert_eq!(store.signin(&state, now), Some(signin()));
        let code = store.issue_code(&state, "admin", now).expect("code");
        // The sign-in is used up by its code.
        assert_eq!(store.signin(&state, now), None);
        assert_eq!(store.issue_code(&state, "admin", now), None);
        let grant = store.redeem(&code, now).expect("grant");
        assert_eq!(grant.username, "admin");
        assert_eq!(grant.redirect_uri, OOB_REDIRECT_URI);
        assert_eq!(store.redeem(&code, now), None, "a code works once");
        assert_eq!(store.redeem("not-a-code", now), None);
    }

    #[test]
    fn codes_and_signins_expire() {
        let store = OAuthStore::default();
        let now = Instant::now();
        let state = store.begin(signin(), now);
        assert_eq!(store.signin(&state, now + SIGNIN_TTL), None);
        let state = store.begin(signin(), now);
        let code = store.issue_code(&state, "admin", now).expect("code");
        assert_eq!(store.redeem(&code, now + CODE_TTL), None);
    }

    #[test]
    fn the_maps_are_bounded() {
        let store = OAuthStore::default();
        let start = Instant::now();
        let first = store.begin(signin(), start);
        for i in 1..=MAX_ENTRIES as u64 {
            store.begin(signin(), start + Duration::from_millis(i));
        }
        assert_eq!(lock(&store.signins).len(), MAX_ENTRIES);
        assert_eq!(
            store.signin(&first, start + Duration::from_secs(1)),
            None,
            "the oldest went"
        );
    }
}
