//! The budgets of `generateToken` (see the [module overview](super)).
//!
//! Unknown usernames are throttled exactly like known ones, so the answers
//! tell nothing about which users exist. Usernames count lower-cased, so
//! case variants share a budget.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::backoff::{Backoff, BackoffPolicy};
use super::bucket::{BucketPolicy, Buckets};
use super::client::ClientKey;
use super::recent::Recent;

/// Per (username, address): three free failures, then 1 s, 2 s… up to a
/// minute between guesses.
pub(crate) const PAIR_POLICY: BackoffPolicy = BackoffPolicy {
    free_failures: 3,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(60),
    forget_after: Duration::from_secs(15 * 60),
};
/// Per username from all addresses but its known-good ones: 30 guesses, then
/// one per 30 s (120 an hour), however many addresses a guesser has.
pub(crate) const USER_POLICY: BucketPolicy = BucketPolicy {
    capacity: 30,
    refill_every: Duration::from_secs(30),
};
/// Per address for all usernames but the ones that signed in from it: 10
/// guesses, then one per 10 s, so one address can neither spray passwords
/// over many names nor flood the password checks.
pub(crate) const ADDRESS_POLICY: BucketPolicy = BucketPolicy {
    capacity: 10,
    refill_every: Duration::from_secs(10),
};
/// How long a successful sign-in marks its (username, address) and address
/// as known-good.
pub(crate) const KNOWN_GOOD_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Which budget refused an attempt (for the log; the client is not told).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    UserAtAddress,
    User,
    Address,
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Budget::UserAtAddress => "user at address",
            Budget::User => "user",
            Budget::Address => "address",
        })
    }
}

/// An attempt refused without a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Throttled {
    pub(crate) wait: Duration,
    pub(crate) by: Budget,
}

/// Who is trying to sign in as whom.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt<'a> {
    pub(crate) username: &'a str,
    pub(crate) client: ClientKey,
    /// The user of a valid token sent along, if any.
    pub(crate) token_user: Option<&'a str>,
}

type Pair = (String, ClientKey);

#[derive(Debug)]
struct State {
    pairs: Backoff<Pair>,
    users: Buckets<String>,
    addresses: Buckets<ClientKey>,
    good_pairs: Recent<Pair>,
    good_addresses: Recent<ClientKey>,
}

/// Failed and successful logins, by username and address.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    state: Mutex<State>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            state: Mutex::new(State {
                pairs: Backoff::new(PAIR_POLICY),
                users: Buckets::new(USER_POLICY),
                addresses: Buckets::new(ADDRESS_POLICY),
                good_pairs: Recent::new(KNOWN_GOOD_FOR),
                good_addresses: Recent::new(KNOWN_GOOD_FOR),
            }),
        }
    }
}

/// An attempt counted as failed until [`Reservation::succeeded`] or
/// [`Reservation::cancel`] says otherwise; dropping it keeps the failure,
/// so an attempt abandoned mid-check (the client went away) still counts.
#[must_use = "settle the reservation with the outcome of the check"]
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    throttle: &'a LoginThrottle,
    pair: Pair,
    took_user: bool,
    took_address: bool,
}

impl LoginThrottle {
    /// Reserves a password check for `attempt`, or says how long to wait.
    pub(crate) fn reserve(
        &self,
        attempt: &Attempt<'_>,
        now: Instant,
    ) -> Result<Reservation<'_>, Throttled> {
        let user = user_key(attempt.username);
        let pair = (user.clone(), attempt.client);
        let mut state = self.lock();
        let own_token = attempt
            .token_user
            .is_some_and(|token_user| user_key(token_user) == user);
        let known_pair = own_token || state.good_pairs.contains(&pair, now);
        let known_address = known_pair || attempt.token_user.is_some();
        let mut refusal: Option<Throttled> = None;
        let mut consider = |wait: Option<Duration>, by| {
            if let Some(wait) = wait
                && refusal.is_none_or(|r| r.wait < wait)
            {
                refusal = Some(Throttled { wait, by });
            }
        };
        consider(state.pairs.wait(&pair, now), Budget::UserAtAddress);
        if !known_pair {
            consider(state.users.wait(&user, now), Budget::User);
        }
        if !known_address {
            consider(state.addresses.wait(&attempt.client, now), Budget::Address);
        }
        if let Some(refusal) = refusal {
            return Err(refusal);
        }
        state.pairs.record(&pair, now);
        if !known_pair {
            state.users.take(&user, now);
        }
        if !known_address {
            state.addresses.take(&attempt.client, now);
        }
        Ok(Reservation {
            throttle: self,
            pair,
            took_user: !known_pair,
            took_address: !known_address,
        })
    }

    /// Whether a check from `client` goes ahead of others at the gate: the
    /// address signed in successfully recently, or the caller holds a token.
    pub(crate) fn favoured(&self, client: ClientKey, holds_token: bool, now: Instant) -> bool {
        holds_token || self.lock().good_addresses.contains(&client, now)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Reservation<'_> {
    /// The password was wrong: the failure stays counted.
    pub(crate) fn failed(self) {}

    /// The password was right: the pair's failures are forgotten, the
    /// budgets get the attempt back, and the pair and its address become
    /// known-good.
    pub(crate) fn succeeded(self, now: Instant) {
        let mut state = self.throttle.lock();
        state.pairs.reset(&self.pair);
        self.give_back(&mut state, now);
        state.good_addresses.insert(self.pair.1, now);
        state.good_pairs.insert(self.pair, now);
    }

    /// The check never ran (the gate was full): nothing is counted.
    pub(crate) fn cancel(self, now: Instant) {
        let mut state = self.throttle.lock();
        state.pairs.refund(&self.pair);
        self.give_back(&mut state, now);
    }

    fn give_back(&self, state: &mut State, now: Instant) {
        if self.took_user {
            state.users.give_back(&self.pair.0, now);
        }
        if self.took_address {
            state.addresses.give_back(&self.pair.1, now);
        }
    }
}

/// Lower-cased and bounded, so that case variants share a budget and long
/// names cost no more memory than short ones.
fn user_key(username: &str) -> String {
    username
        .chars()
        .take(256)
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn client(a: u8, b: u8) -> ClientKey {
        ClientKey::from_ip(IpAddr::V4(Ipv4Addr::new(10, 0, a, b)))
    }

    fn attempt(username: &str, client: ClientKey) -> Attempt<'_> {
        Attempt {
            username,
            client,
            token_user: None,
        }
    }

    #[test]
    fn a_burst_of_guesses_gets_only_the_free_failures_checked() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        let reserved: Vec<_> = (0..300)
            .filter_map(|_| throttle.reserve(&attempt("admin", client(0, 1)), now).ok())
            .collect();
        assert_eq!(reserved.len(), PAIR_POLICY.free_failures as usize);
        let refused = throttle
            .reserve(&attempt("ADMIN", client(0, 1)), now)
            .expect_err("case variants share the budget");
        assert_eq!(refused.by, Budget::UserAtAddress);
        assert_eq!(refused.wait, Duration::from_secs(1));
        // Another address is not held up by this one's guesses.
        assert!(
            throttle
                .reserve(&attempt("admin", client(0, 2)), now)
                .is_ok()
        );
    }

    #[test]
    fn success_forgets_the_pair_and_a_cancelled_check_costs_nothing() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        let who = attempt("admin", client(0, 1));
        for _ in 0..2 {
            throttle.reserve(&who, now).expect("free").failed();
        }
        throttle.reserve(&who, now).expect("free").cancel(now);
        throttle
            .reserve(&who, now)
            .expect("still free")
            .succeeded(now);
        for _ in 0..3 {
            throttle
                .reserve(&who, now)
                .expect("counting restarted")
                .failed();
        }
        assert!(throttle.reserve(&who, now).is_err());
    }

    #[test]
    fn many_addresses_exhaust_a_users_budget_but_not_for_its_known_good_pairs() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        let home = attempt("admin", client(9, 9));
        throttle.reserve(&home, now).expect("first").succeeded(now);
        let mut checked = 0;
        for i in 0..200u16 {
            let guesser = client((i / 200) as u8 + 1, (i % 200) as u8);
            if let Ok(reservation) = throttle.reserve(&attempt("admin", guesser), now) {
                reservation.failed();
                checked += 1;
            }
        }
        assert_eq!(checked, USER_POLICY.capacity);
        let fresh = throttle
            .reserve(&attempt("admin", client(7, 7)), now)
            .expect_err("a fresh address waits for the user's budget");
        assert_eq!(fresh.by, Budget::User);
        // Where the user signed in before, and with the user's own token,
        // the user's budget does not apply.
        throttle
            .reserve(&home, now)
            .expect("known pair")
            .succeeded(now);
        let with_token = Attempt {
            token_user: Some("Admin"),
            ..attempt("admin", client(7, 7))
        };
        throttle
            .reserve(&with_token, now)
            .expect("token")
            .succeeded(now);
        // Someone else's token does not waive this user's budget.
        let other_token = Attempt {
            token_user: Some("viewer"),
            ..attempt("admin", client(7, 8))
        };
        assert!(throttle.reserve(&other_token, now).is_err());
        // Later the budget refills.
        let later = now + USER_POLICY.refill_every;
        assert!(
            throttle
                .reserve(&attempt("admin", client(7, 9)), later)
                .is_ok()
        );
    }

    #[test]
    fn one_address_spraying_names_runs_out_of_its_budget() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        let office = client(0, 1);
        throttle
            .reserve(&attempt("alice", office), now)
            .expect("first")
            .succeeded(now);
        for i in 0..ADDRESS_POLICY.capacity {
            throttle
                .reserve(&attempt(&format!("name{i}"), office), now)
                .expect("within the address budget")
                .failed();
        }
        let refused = throttle
            .reserve(&attempt("someone", office), now)
            .expect_err("address budget spent");
        assert_eq!(refused.by, Budget::Address);
        // Alice signed in from here, so her sign-in still goes ahead, and a
        // token holder's too.
        throttle
            .reserve(&attempt("Alice", office), now)
            .expect("known pair")
            .succeeded(now);
        let with_token = Attempt {
            token_user: Some("bob"),
            ..attempt("carol", office)
        };
        assert!(throttle.reserve(&with_token, now).is_ok());
        assert!(throttle.favoured(office, false, now));
        assert!(!throttle.favoured(client(0, 2), false, now));
        assert!(throttle.favoured(client(0, 2), true, now));
    }
}
