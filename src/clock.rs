//! Time is injected: every component that needs "now" reads it from a [`Clock`].
//!
//! Production uses [`SystemClock`]; tests use [`ManualClock`] so that windows, dedup and rate
//! limits can be exercised without sleeping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// A shared, dynamically chosen clock.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock of the machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: Mutex::new(start),
        })
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let delta = TimeDelta::from_std(by).expect("advance by a representable duration");
        *self.lock() += delta;
    }

    /// Sets the clock to `to` (which may be in the past).
    pub fn set(&self, to: DateTime<Utc>) {
        *self.lock() = to;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock only means another test thread panicked; the time itself is still valid.
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

/// A clock that starts at `origin` and runs `speed` times faster than the wall clock; the demo
/// replays hours of an outage in minutes on it.
#[derive(Debug)]
pub struct ScaledClock {
    origin: DateTime<Utc>,
    started: std::time::Instant,
    speed: f64,
}

impl ScaledClock {
    /// A clock reading `origin` now and advancing `speed` seconds per real second.
    pub fn new(origin: DateTime<Utc>, speed: f64) -> Arc<Self> {
        assert!(
            speed.is_finite() && speed > 0.0,
            "clock speed must be positive"
        );
        Arc::new(Self {
            origin,
            started: std::time::Instant::now(),
            speed,
        })
    }

    /// How many times faster than the wall clock this clock runs.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The real time left until this clock reads `at` (zero if it already has).
    pub fn real_time_until(&self, at: DateTime<Utc>) -> Duration {
        let ahead = (at - self.now()).to_std().unwrap_or(Duration::ZERO);
        ahead.div_f64(self.speed)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.started.elapsed().mul_f64(self.speed);
        self.origin + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX)
    }
}

/// Adapts a [`SharedClock`] to governor's clock, so the rate limiter follows injected time.
///
/// Instants are durations since the Unix epoch; governor only ever subtracts them.
#[derive(Clone)]
pub struct GovernorClock(pub SharedClock);

impl governor::clock::Clock for GovernorClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        let nanos = self.0.now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2025, 6, 10, 6, 36, 0).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn scaled_clock_runs_faster_than_the_wall_clock() {
        let start = Utc.with_ymd_and_hms(2025, 6, 10, 5, 36, 0).unwrap();
        let clock = ScaledClock::new(start, 600.0);
        let first = clock.now();
        assert!(first >= start && first < start + TimeDelta::seconds(60));
        // An hour of scaled time is six real seconds at 600x.
        let wait = clock.real_time_until(start + TimeDelta::hours(1));
        assert!(wait <= Duration::from_secs(6) && wait > Duration::from_secs(5));
        assert_eq!(clock.real_time_until(start), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        assert!(clock.now() - first >= TimeDelta::seconds(12));
    }

    #[test]
    fn governor_clock_follows_the_injected_clock() {
        use governor::clock::Clock as _;
        let start = Utc.with_ymd_and_hms(2025, 6, 10, 6, 36, 0).unwrap();
        let manual = ManualClock::new(start);
        let clock = GovernorClock(manual.clone());
        let before = clock.now();
        manual.advance(Duration::from_millis(1500));
        assert_eq!(clock.now() - before, Duration::from_millis(1500));
    }
}
