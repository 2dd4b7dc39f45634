//! The per-address report limit (governor, GCRA), in process memory: no I/O on the hot path.
//!
//! Keys are client keys (IPv4 address or IPv6 /64). Stale keys are dropped by
//! [`ReportLimiter::housekeep`], which the server runs on a timer, so memory stays bounded by
//! the number of addresses seen within one refill period.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::clock::{GovernorClock, SharedClock};
use crate::error::ApiError;

type Inner =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, GovernorClock, StateInformationMiddleware>;

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
}

impl ReportLimiter {
    /// `per_minute` sustained, `burst` at once, following `clock`.
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32, clock: SharedClock) -> Self {
        let clock = GovernorClock(clock);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        let inner: Inner =
            RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone());
        Self {
            inner,
            clock,
            burst: burst.get(),
        }
    }

    /// Takes one report from `client`'s allowance, or says how long to wait.
    pub fn check(&self, client: IpAddr) -> Result<Allowance, ApiError> {
        match self.inner.check_key(&client) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = self.burst.saturating_sub(remaining);
                Ok(Allowance {
                    limit: self.burst,
                    remaining,
                    reset_after: snapshot.quota().replenish_interval() * used,
                })
            }
            Err(not_until) => Err(ApiError::RateLimited {
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
        let Err(ApiError::RateLimited { retry_after, limit }) = limiter.check(ip) else {
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
    fn housekeeping_bounds_memory() {
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
