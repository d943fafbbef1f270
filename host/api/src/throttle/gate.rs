//! The gate every password check passes: Argon2 takes ~20 MiB and tens of
//! milliseconds, so only a few run at once. Waiting is bounded three ways so
//! that a flood cannot make a real sign-in wait behind it: a caller from an
//! address with a recent successful sign-in, or holding a valid token, is
//! *favoured* and served before everyone else; others wait in a short queue,
//! at most two per address, for a limited time, and are turned away (429)
//! when it is full.
//!
//! Slots are handed from one holder to the next waiter directly, favoured
//! waiters first, so a slot freed never goes to whoever polls first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

use super::client::ClientKey;

/// Sizes and limits of the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GateConfig {
    /// Checks that may run at once.
    pub(crate) slots: usize,
    /// Callers that are not favoured and may wait at once.
    pub(crate) max_waiting: usize,
    /// Favoured callers that may wait at once.
    pub(crate) max_waiting_favoured: usize,
    /// Checks (running or waiting) one address that is not favoured may have.
    pub(crate) per_client: usize,
    /// Longest wait for a slot.
    pub(crate) max_wait: Duration,
}

impl GateConfig {
    pub(crate) fn with_slots(slots: usize) -> Self {
        GateConfig {
            slots: slots.max(1),
            max_waiting: 16,
            max_waiting_favoured: 64,
            per_client: 2,
            max_wait: Duration::from_secs(10),
        }
    }
}

/// The gate was full, or the wait too long: the caller should come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are waiting")]
pub(crate) struct Busy;

#[derive(Debug)]
pub(crate) struct LoginGate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: GateConfig,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    free: usize,
    favoured: VecDeque<oneshot::Sender<Slot>>,
    others: VecDeque<oneshot::Sender<Slot>>,
    /// Checks per address, running or waiting.
    in_flight: HashMap<ClientKey, usize>,
}

/// Leave to run one password check; the slot frees when it is dropped.
#[derive(Debug)]
pub(crate) struct Pass {
    _slot: Slot,
    _ticket: Ticket,
}

#[derive(Debug)]
struct Slot {
    inner: Arc<Inner>,
    /// False for a slot that came back undelivered, whose release is being
    /// handled by the loop that tried to deliver it.
    armed: bool,
}

/// One of an address's checks in flight.
#[derive(Debug)]
struct Ticket {
    inner: Arc<Inner>,
    client: ClientKey,
}

enum Admission {
    Now,
    Wait(oneshot::Receiver<Slot>),
    Full,
}

impl LoginGate {
    pub(crate) fn new(config: GateConfig) -> Self {
        let config = GateConfig {
            slots: config.slots.max(1),
            ..config
        };
        LoginGate {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State {
                    free: config.slots,
                    favoured: VecDeque::new(),
                    others: VecDeque::new(),
                    in_flight: HashMap::new(),
                }),
            }),
        }
    }

    /// Waits for a slot for a check from `client`.
    pub(crate) async fn enter(&self, client: ClientKey, favoured: bool) -> Result<Pass, Busy> {
        let config = self.inner.config;
        let admission = {
            let mut guard = self.inner.lock();
            let state = &mut *guard;
            let in_flight = state.in_flight.get(&client).copied().unwrap_or(0);
            if !favoured && in_flight >= config.per_client {
                return Err(Busy);
            }
            let admission = if state.free > 0 {
                state.free -= 1;
                Admission::Now
            } else {
                let (queue, bound) = if favoured {
                    (&mut state.favoured, config.max_waiting_favoured)
                } else {
                    (&mut state.others, config.max_waiting)
                };
                // Waiters that gave up still hold a place until pruned.
                queue.retain(|waiter| !waiter.is_closed());
                if queue.len() >= bound {
                    Admission::Full
                } else {
                    let (sender, receiver) = oneshot::channel();
                    queue.push_back(sender);
                    Admission::Wait(receiver)
                }
            };
            if !matches!(admission, Admission::Full) {
                *state.in_flight.entry(client).or_insert(0) += 1;
            }
            admission
        };
        let ticket = || Ticket {
            inner: self.inner.clone(),
            client,
        };
        match admission {
            Admission::Full => Err(Busy),
            Admission::Now => Ok(Pass {
                _slot: Slot {
                    inner: self.inner.clone(),
                    armed: true,
                },
                _ticket: ticket(),
            }),
            Admission::Wait(receiver) => {
                // Built before waiting, so a cancelled wait still counts down.
                let ticket = ticket();
                match tokio::time::timeout(config.max_wait, receiver).await {
                    Ok(Ok(slot)) => Ok(Pass {
                        _slot: slot,
                        _ticket: ticket,
                    }),
                    Ok(Err(_)) | Err(_) => Err(Busy),
                }
            }
        }
    }

    #[cfg(test)]
    fn waiting(&self) -> (usize, usize) {
        let state = self.inner.lock();
        (state.favoured.len(), state.others.len())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Hands a freed slot to the next live waiter, favoured first, or returns it.
fn release(inner: &Arc<Inner>) {
    loop {
        let next = {
            let mut state = inner.lock();
            let next = match state.favoured.pop_front() {
                Some(waiter) => Some(waiter),
                None => state.others.pop_front(),
            };
            match next {
                Some(waiter) => waiter,
                None => {
                    state.free += 1;
                    return;
                }
            }
        };
        // Sent without the lock held: an undelivered slot comes back and is
        // disarmed here rather than released from its destructor.
        match next.send(Slot {
            inner: inner.clone(),
            armed: true,
        }) {
            Ok(()) => return,
            Err(mut slot) => slot.armed = false,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.armed {
            release(&self.inner);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        if let Some(count) = state.in_flight.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                state.in_flight.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn client(n: u8) -> ClientKey {
        ClientKey::from_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)))
    }

    fn gate(slots: usize) -> Arc<LoginGate> {
        Arc::new(LoginGate::new(GateConfig {
            max_waiting: 3,
            max_waiting_favoured: 2,
            max_wait: Duration::from_secs(5),
            ..GateConfig::with_slots(slots)
        }))
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn favoured_waiters_get_the_next_slot_first() {
        let gate = gate(1);
        let held = gate.enter(client(1), false).await.expect("free slot");
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        for (n, favoured) in [(2, false), (3, true)] {
            let (gate, done_tx) = (gate.clone(), done_tx.clone());
            tokio::spawn(async move {
                let pass = gate.enter(client(n), favoured).await.expect("slot");
                let _ = done_tx.send(n);
                drop(pass);
            });
            settle().await;
        }
        assert_eq!(gate.waiting(), (1, 1));
        drop(held);
        assert_eq!(done.recv().await, Some(3), "the favoured waiter went first");
        assert_eq!(done.recv().await, Some(2));
        assert_eq!(gate.inner.lock().free, 1);
        assert!(gate.inner.lock().in_flight.is_empty());
    }

    #[tokio::test]
    async fn an_address_that_is_not_favoured_has_two_checks_at_most() {
        let gate = gate(1);
        let held = gate.enter(client(1), false).await.expect("slot");
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter(client(1), false).await.map(drop) })
        };
        settle().await;
        assert_eq!(gate.enter(client(1), false).await.err(), Some(Busy));
        // Favoured callers of that address are not bounded so.
        let favoured = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter(client(1), true).await.map(drop) })
        };
        settle().await;
        drop(held);
        assert_eq!(favoured.await.expect("task"), Ok(()));
        assert_eq!(waiter.await.expect("task"), Ok(()));
    }

    #[tokio::test]
    async fn a_full_queue_turns_callers_away_and_gives_up_places_of_cancelled_waiters() {
        let gate = gate(1);
        let held = gate.enter(client(1), false).await.expect("slot");
        let mut waiters = Vec::new();
        for n in 2..5 {
            let gate = gate.clone();
            waiters.push(tokio::spawn(async move {
                gate.enter(client(n), false).await.map(drop)
            }));
        }
        settle().await;
        assert_eq!(gate.enter(client(9), false).await.err(), Some(Busy));
        for waiter in &waiters {
            waiter.abort();
        }
        settle().await;
        let late = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter(client(9), false).await.map(drop) })
        };
        settle().await;
        drop(held);
        assert_eq!(late.await.expect("task"), Ok(()));
        assert_eq!(gate.inner.lock().free, 1, "no slot lost to the cancelled");
        assert!(gate.inner.lock().in_flight.is_empty());
    }

    #[tokio::test]
    async fn waits_are_bounded() {
        let gate = Arc::new(LoginGate::new(GateConfig {
            max_wait: Duration::from_millis(50),
            ..GateConfig::with_slots(1)
        }));
        let _held = gate.enter(client(1), true).await.expect("slot");
        let started = std::time::Instant::now();
        assert_eq!(gate.enter(client(2), true).await.err(), Some(Busy));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn no_more_checks_than_slots_run_at_once() {
        let gate = Arc::new(LoginGate::new(GateConfig {
            max_waiting: 1000,
            per_client: 1000,
            ..GateConfig::with_slots(3)
        }));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (gate, running, peak) = (gate.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let _pass = gate.enter(client(1), false).await.expect("slot");
                let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=3).contains(&peak), "{peak} checks ran at once");
        assert_eq!(gate.inner.lock().free, 3);
    }
}
