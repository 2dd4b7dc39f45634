//! The baseline: reports expected per step, at the service's current level, for the time of day
//! and week, corrected by the last hour or two.
//!
//! Nothing abnormal teaches it. Steps during an incident or with evidence of a rise are skipped;
//! normal steps are capped at the upper bound before they are learned; and while the service is
//! new (its first hours), steps are capped near the median of what it has shown so far, so that
//! a first burst (70 reports in two minutes from one address on a service with no history) does
//! not become the level that judges the next one.

use super::profile::{Position, Profile};

/// Weekday factors learn only after this much history (three days), once the daily shape holds.
const WEEKLY_AFTER_MINUTES: f64 = 3.0 * 1440.0;
/// Half-life of the recent-volume correction, in minutes.
const RECENT_HALF_LIFE_MINUTES: f64 = 90.0;
/// Pseudo-reports that keep the recent correction near 1 while data is sparse.
const RECENT_PRIOR_REPORTS: f64 = 5.0;
/// How long a service is new: its steps are capped near their running median.
const COLD_MINUTES: f64 = 240.0;
/// While fewer minutes than this have been seen there is no median yet: steps are capped at
/// `COLD_FLOOR_PER_MINUTE`.
const COLD_MEDIAN_AFTER_MINUTES: f64 = 5.0;
const COLD_FLOOR_PER_MINUTE: f64 = 2.0;

/// A ratio of decaying sums: seen over predicted, shrunk towards 1.
#[derive(Debug, Clone, Copy, Default)]
struct Ratio {
    seen: f64,
    predicted: f64,
}

impl Ratio {
    fn factor(&self) -> f64 {
        ((self.seen + RECENT_PRIOR_REPORTS) / (self.predicted + RECENT_PRIOR_REPORTS))
            .clamp(0.1, 10.0)
    }

    /// The plain ratio, for re-baselining after a lasting change of any size.
    fn raw_factor(&self) -> f64 {
        if self.predicted > 0.0 {
            (self.seen / self.predicted).max(0.01)
        } else {
            1.0
        }
    }

    fn learn(&mut self, keep: f64, seen: f64, predicted: f64) {
        self.seen = self.seen * keep + seen;
        self.predicted = self.predicted * keep + predicted;
    }
}

/// Per-step weight of an exponential average with the given half-life.
pub fn ewma_rate(half_life_minutes: f64, step_minutes: f64) -> f64 {
    1.0 - 0.5f64.powf(step_minutes / half_life_minutes)
}

/// Level × profile × recent correction, learned from capped normal steps.
#[derive(Debug, Clone)]
pub struct Baseline {
    step_minutes: f64,
    /// The level's learning rate per step, and the recent correction's memory per step.
    level_rate: f64,
    recent_keep: f64,
    profile: Profile,
    /// Deseasonalized reports per minute over the last days.
    level: f64,
    /// How the last hour or two compares with `level` × profile.
    recent: Ratio,
    /// The same ratio, learning during incidents too (for re-baselining after a long one).
    shadow: Ratio,
    steps_seen: f64,
    /// Steps of the first minutes, capped at the floor, that taught nothing (see `learn`).
    floor_steps: f64,
    /// Whether a step has taught the level: until then there is no level to compare with.
    level_started: bool,
    minutes_seen: f64,
    /// Raw values of the first hours, kept sorted, for the cold-start median.
    cold: Vec<f64>,
}

impl Baseline {
    /// A flat baseline at zero for steps of `step_minutes`.
    pub fn new(
        step_minutes: f64,
        level_half_life_minutes: f64,
        daily_rate: f64,
        weekly_rate: f64,
    ) -> Self {
        Self {
            step_minutes,
            level_rate: ewma_rate(level_half_life_minutes, step_minutes),
            recent_keep: 1.0 - ewma_rate(RECENT_HALF_LIFE_MINUTES, step_minutes),
            profile: Profile::new(daily_rate, weekly_rate),
            level: 0.0,
            recent: Ratio::default(),
            shadow: Ratio::default(),
            steps_seen: 0.0,
            floor_steps: 0.0,
            level_started: false,
            minutes_seen: 0.0,
            cold: Vec::new(),
        }
    }

    /// Reports the level and the seasonal profile expect for one step at `pos`.
    pub fn seasonal(&self, pos: &Position) -> f64 {
        self.level * self.profile.factor(pos) * self.step_minutes
    }

    /// Reports expected for one step at `pos`. A busier recent hour raises the baseline; a
    /// quieter one (a holiday, a lull) does not lower it, so a return to the usual volume is
    /// never mistaken for a surge.
    pub fn expected(&self, pos: &Position) -> f64 {
        self.seasonal(pos) * self.recent.factor().max(1.0)
    }

    /// Minutes of history learned (gaps included once the series has started).
    pub fn minutes_seen(&self) -> f64 {
        self.minutes_seen
    }

    /// Counts a gap of `minutes` without data as history.
    pub fn skip(&mut self, minutes: f64) {
        self.minutes_seen += minutes.max(0.0);
    }

    /// Whether the service is still new (its steps are capped near their median).
    pub fn is_cold(&self) -> bool {
        self.minutes_seen < COLD_MINUTES
    }

    /// What a step of `value` may teach while the service is new, and remembers it.
    pub fn cold_cap(&mut self, value: f64) -> f64 {
        let at = self.cold.partition_point(|v| v.total_cmp(&value).is_le());
        self.cold.insert(at, value);
        let cap = if self.before_median() {
            COLD_FLOOR_PER_MINUTE * self.step_minutes
        } else {
            let median = self.cold.get(self.cold.len() / 2).copied().unwrap_or(0.0);
            median + 3.0 * median.sqrt() + COLD_FLOOR_PER_MINUTE * self.step_minutes
        };
        value.min(cap)
    }

    /// Whether the service's first minutes are too few for a median (steps of 5 minutes or
    /// more average a short burst out: their median starts at once).
    fn before_median(&self) -> bool {
        self.minutes_seen < COLD_MEDIAN_AFTER_MINUTES
            && self.step_minutes < COLD_MEDIAN_AFTER_MINUTES
    }

    /// Learns a normal step of `value` reports (already capped) at `pos`.
    ///
    /// The first minutes, before there is a median, teach nothing: capped at the floor, they
    /// would set a busy service's level at 2 reports a minute, and its first uncapped minute
    /// would then teach the time of day and the recent correction a rise of hundreds of times
    /// (a baseline of 92,000 a minute where 1,700 came). The level starts at the first step
    /// after them, whenever that comes (a service whose first minutes were an incident, resumed
    /// from storage, starts after it); the time of day and the recent correction at the one
    /// after that, once there is a level to compare with.
    pub fn learn(&mut self, pos: &Position, value: f64) {
        if self.before_median() {
            self.floor_steps += 1.0;
            return;
        }
        let factors = self.profile.factors(pos);
        let factor = factors.product();
        let seasonal = self.level * factor * self.step_minutes;
        if self.level_started {
            self.recent.learn(self.recent_keep, value, seasonal);
        }
        let rate = value / (factor * self.step_minutes);
        // Cold start: a running mean until the average has seen a half-life's worth of steps
        // (steps not learned, in incidents, included); the first step sets the level.
        let alpha = if self.level_started {
            self.level_rate
                .max(1.0 / (self.steps_seen - self.floor_steps + 1.0))
        } else {
            1.0
        };
        let level_expected = self.level * self.step_minutes;
        if self.level_started {
            let weekly = self.minutes_seen >= WEEKLY_AFTER_MINUTES;
            self.profile.learn(
                pos,
                &factors,
                self.step_minutes,
                value,
                level_expected,
                weekly,
            );
        }
        self.level += alpha * (rate - self.level);
        self.level_started = true;
        if !self.is_cold() {
            self.cold = Vec::new();
        }
    }

    /// Counts one step as seen (learned or not).
    pub fn count_step(&mut self) {
        self.steps_seen += 1.0;
        self.minutes_seen += self.step_minutes;
    }

    /// Learns any step's raw volume into the shadow ratio (for re-baselining).
    pub fn shadow(&mut self, pos: &Position, value: f64) {
        self.shadow
            .learn(self.recent_keep, value, self.seasonal(pos));
    }

    /// Takes the volume of the last hours as the new normal.
    pub fn rebase(&mut self) {
        if self.shadow.predicted > 0.0 {
            self.level *= self.shadow.raw_factor();
        } else {
            // Nothing was expected (no level yet, or a level of nothing): no factor of it can
            // become the new normal, the recent volume itself does (per minute, as the level).
            self.level = self.shadow.seen * (1.0 - self.recent_keep) / self.step_minutes;
        }
        self.level_started |= self.level > 0.0;
        self.recent = Ratio::default();
        self.shadow = Ratio::default();
    }
}
