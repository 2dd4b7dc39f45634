//! The per-address report limit (governor, GCRA), in process memory: no I/O on the hot path.
//!
//! Keys are client keys (IPv4 address or IPv6 /64). Memory is bounded twice over:
//! - stale keys (state equal to a fresh client's) are dropped by [`ReportLimiter::housekeep`],
//!   which the server runs on a timer, so the table holds the addresses seen within about one
//!   refill period;
//! - the table never holds more than [`MAX_CLIENTS`] keys (see [`ReportLimiter::with_max_clients`]).
//!   A flood of new addresses past that (spoofed IPv6 /64s cost an attacker nothing) does not
//!   grow it: clients that are not in the table share one overflow allowance, which fails
//!   closed (they are limited as if they were one client) rather than open, and the table is
//!   swept at once (at most once a second) so tracked clients that went quiet make room.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::{Quota, RateLimiter};

use super::SubmitError;
use crate::clock::{GovernorClock, SharedClock};

/// Most client keys the limiter holds: about 70 MB of table (measured: 70 bytes a key). The busiest outage on record
/// brought about 55,000 distinct reporters a minute; a legitimate table stays far below this.
pub const MAX_CLIENTS: usize = 1_000_000;

/// Shortest time between two sweeps forced by a full table, on the injected clock.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

type Inner = RateLimiter<IpAddr, CappedStore, GovernorClock, StateInformationMiddleware>;

/// Governor's DashMap store with a ceiling: keys past it share one overflow state.
struct CappedStore {
    clients: DashMapStateStore<IpAddr>,
    overflow: DashMapStateStore<()>,
    max_clients: usize,
    /// Set when a client was turned away from the table; cleared by the next sweep check.
    full: Arc<AtomicBool>,
}

impl StateStore for CappedStore {
    type Key = IpAddr;

    fn measure_and_replace<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // Known clients first (one shard lock); the length (every shard) only for new ones.
        if self.clients.contains_key(key) || self.clients.len() < self.max_clients {
            return StateStore::measure_and_replace(&self.clients, key, f);
        }
        self.full.store(true, Ordering::Relaxed);
        metrics::counter!("downwatch_rate_limiter_overflow_total").increment(1);
        StateStore::measure_and_replace(&self.overflow, &(), f)
    }
}

impl ShrinkableKeyedStateStore<IpAddr> for CappedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        self.clients.retain_recent(drop_below);
        self.overflow.retain_recent(drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.clients);
    }

    fn len(&self) -> usize {
        self.clients.len()
    }

    fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// What a client has left after an accepted report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Reports the client may send at once.
    pub limit: u32,
    /// Reports it may still send right now.
    pub remaining: u32,
    /// Until the allowance is whole again.
    pub reset_after: Duration,
}

/// Rate limiter for report submissions, keyed by client.
pub struct ReportLimiter {
    inner: Inner,
    clock: GovernorClock,
    burst: u32,
    full: Arc<AtomicBool>,
    last_sweep: Mutex<Option<Duration>>,
}

impl ReportLimiter {
    /// `per_minute` sustained, `burst` at once, following `clock`, for up to [`MAX_CLIENTS`].
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32, clock: SharedClock) -> Self {
        Self::with_max_clients(per_minute, burst, clock, MAX_CLIENTS)
    }

    /// Like [`Self::new`], holding at most `max_clients` client keys.
    pub fn with_max_clients(
        per_minute: NonZeroU32,
        burst: NonZeroU32,
        clock: SharedClock,
        max_clients: usize,
    ) -> Self {
        let clock = GovernorClock(clock);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        let full = Arc::new(AtomicBool::new(false));
        let store = CappedStore {
            clients: DashMapStateStore::default(),
            overflow: DashMapStateStore::default(),
            max_clients,
            full: full.clone(),
        };
        Self {
            inner: RateLimiter::new(quota, store, clock.clone()),
            clock,
            burst: burst.get(),
            full,
            last_sweep: Mutex::new(None),
        }
    }

    /// Takes one report from `client`'s allowance, or says how long to wait.
    pub fn check(&self, client: IpAddr) -> Result<Allowance, SubmitError> {
        let decision = self.inner.check_key(&client);
        if self.full.swap(false, Ordering::Relaxed) {
            self.sweep_if_due();
        }
        match decision {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = self.burst.saturating_sub(remaining);
                Ok(Allowance {
                    limit: self.burst,
                    remaining,
                    reset_after: snapshot.quota().replenish_interval() * used,
                })
            }
            Err(not_until) => Err(SubmitError::RateLimited {
                retry_after: not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_millis(1)),
                limit: self.burst,
            }),
        }
    }

    /// Drops keys whose state equals a fresh one; returns how many keys remain.
    pub fn housekeep(&self) -> usize {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
        self.inner.len()
    }

    /// Client keys held now.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no client key is held.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// A full table is swept at once, but at most once per [`SWEEP_EVERY`] (a sweep visits
    /// every key) and by one thread at a time.
    fn sweep_if_due(&self) {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return;
        };
        let now = self.clock.now();
        if last.is_some_and(|at| now.saturating_sub(at) < SWEEP_EVERY) {
            return;
        }
        *last = Some(now);
        self.inner.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use chrono::Utc;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn burst_then_refill_at_the_sustained_rate() {
        let clock = ManualClock::new(Utc::now());
        let limiter = ReportLimiter::new(nz(6), nz(3), clock.clone());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.check(ip).unwrap().remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let Err(SubmitError::RateLimited { retry_after, limit }) = limiter.check(ip) else {
            panic!("fourth report must be limited");
        };
        assert_eq!(limit, 3);
        assert_eq!(retry_after, Duration::from_secs(10));
        clock.advance(Duration::from_secs(10));
        assert!(limiter.check(ip).is_ok());
        assert!(
            limiter.check("192.0.2.2".parse().unwrap()).is_ok(),
            "other clients are independent"
        );
    }

    #[test]
    fn memory_stays_bounded_under_millions_of_keys() {
        // Two million distinct clients (IPv4 addresses and IPv6 /64s: both cost a spoofer
        // nothing) against a ceiling of one million.
        let clock = ManualClock::new(Utc::now());
        let limiter = ReportLimiter::new(nz(30), nz(10), clock.clone());
        let clients = (0..1_000_000u32)
            .map(|i| IpAddr::from(i.to_be_bytes()))
            .chain((0..1_000_000u128).map(|i| {
                IpAddr::V6(std::net::Ipv6Addr::from(
                    (0x2001_0db8u128 << 96) | (i << 64),
                ))
            }));
        let mut accepted = 0usize;
        for client in clients {
            accepted += usize::from(limiter.check(client).is_ok());
        }
        assert!(limiter.len() <= MAX_CLIENTS, "{} keys", limiter.len());
        // The first million each got their own report; the rest shared one burst of 10.
        assert_eq!(accepted, MAX_CLIENTS + 10);
        // Once every client's allowance is whole again, housekeeping empties the table.
        clock.advance(Duration::from_secs(60));
        assert_eq!(limiter.housekeep(), 0);
        assert!(limiter.is_empty());
    }

    #[test]
    fn past_the_ceiling_new_clients_share_one_allowance_and_known_ones_keep_theirs() {
        let clock = ManualClock::new(Utc::now());
        let limiter = ReportLimiter::with_max_clients(nz(6), nz(3), clock.clone(), 100);
        let known: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(limiter.check(known).unwrap().remaining, 2);
        for i in 1..100u32 {
            limiter
                .check(IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
                .unwrap();
        }
        assert_eq!(limiter.len(), 100);
        // Strangers past the ceiling: three reports between all of them, then 429.
        let strangers: Vec<IpAddr> = (0..10u32)
            .map(|i| IpAddr::from((0xc633_6400 + i).to_be_bytes()))
            .collect();
        let outcomes: Vec<bool> = strangers
            .iter()
            .map(|s| limiter.check(*s).is_ok())
            .collect();
        assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 3, "{outcomes:?}");
        assert_eq!(limiter.len(), 100, "the table did not grow");
        // A client already in the table is not affected by the overflow.
        assert_eq!(limiter.check(known).unwrap().remaining, 1);
        // When tracked clients go quiet, the next stranger sweeps them out and gets a key.
        clock.advance(Duration::from_secs(60));
        assert!(limiter.check(strangers[0]).is_ok(), "overflow refilled too");
        assert!(limiter.len() < 100, "a full table is swept at once");
        assert_eq!(
            limiter.check(strangers[9]).unwrap().remaining,
            2,
            "own allowance"
        );
    }

    #[test]
    fn housekeeping_drops_only_clients_whose_allowance_is_whole() {
        let clock = ManualClock::new(Utc::now());
        let limiter = ReportLimiter::new(nz(60), nz(5), clock.clone());
        for i in 0..10_000u32 {
            limiter.check(IpAddr::from(i.to_be_bytes())).unwrap();
        }
        assert_eq!(limiter.housekeep(), 10_000);
        clock.advance(Duration::from_secs(60));
        assert_eq!(limiter.housekeep(), 0);
    }
}
