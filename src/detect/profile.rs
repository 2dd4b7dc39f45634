//! The seasonal profile: how much busier each time of day and each day of the week is than the
//! service's current level.
//!
//! Each slot keeps two decaying sums: reports seen, and reports the level alone would predict.
//! Their ratio, shrunk towards 1 by a few pseudo-reports, is the slot's factor. Ratios of sums
//! (not means of ratios) stay sane for services that see two reports an hour.

/// Pseudo-reports that pull sparse slots towards a factor of 1.
const PRIOR_REPORTS: f64 = 3.0;
const SECONDS_PER_DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    seen: f64,
    predicted: f64,
    /// Days (hourly slots: hours) of data behind the slot, decayed like the sums.
    exposure: f64,
}

impl Slot {
    fn factor(&self) -> f64 {
        ((self.seen + PRIOR_REPORTS) / (self.predicted + PRIOR_REPORTS)).clamp(0.02, 50.0)
    }

    fn learn(&mut self, keep: f64, weight: f64, seen: f64, predicted: f64, exposure: f64) {
        self.seen = self.seen * keep + weight * seen;
        self.predicted = self.predicted * keep + weight * predicted;
        self.exposure = self.exposure * keep + weight * exposure;
    }

    /// The factor shrunk towards 1 until the slot has `prior` units of exposure behind it, so
    /// that one odd day (a holiday) cannot define a weekday.
    fn shrunk_factor(&self, prior: f64) -> f64 {
        1.0 + (self.factor() - 1.0) * self.exposure / (self.exposure + prior)
    }
}

/// Time-of-day (24 hourly slots, interpolated) and day-of-week (7 slots) factors.
///
/// Factors are normalized to average 1 over the slots that have data, so the profile only
/// shapes the level and never rescales it (a slot not seen yet counts as average).
#[derive(Debug, Clone)]
pub struct Profile {
    hours: [Slot; 24],
    days: [Slot; 7],
    hours_mean: f64,
    days_mean: f64,
    /// Each slot's factor relative to its mean (`relative`, `relative_weekday`), refreshed
    /// whenever a slot or a mean changes: the baseline reads them three times a step, and
    /// each costs two or three divisions.
    hours_relative: [f64; 24],
    days_relative: [f64; 7],
    /// ln(1 - rate): decays are exp(exposure × this).
    daily_log_keep: f64,
    weekly_log_keep: f64,
    /// Learns since the means were last recomputed (they drift slowly: every few suffice).
    stale_means: u32,
    /// The last (step in minutes, weekday memory per step): a constant of the series.
    weekly_keep: (f64, f64),
}

/// The time-of-day and day-of-week factors at a position.
#[derive(Debug, Clone, Copy)]
pub struct Factors {
    pub daily: f64,
    pub weekly: f64,
}

impl Factors {
    /// The combined factor.
    pub fn product(&self) -> f64 {
        self.daily * self.weekly
    }
}

/// Mean factor over the slots that have seen anything (1 if none has).
fn mean_factor(slots: &[Slot], prior: f64) -> f64 {
    let (sum, n) = slots
        .iter()
        .filter(|s| s.predicted > 0.0)
        .fold((0.0, 0.0), |(sum, n), s| {
            (sum + s.shrunk_factor(prior), n + 1.0)
        });
    if n > 0.0 { sum / n } else { 1.0 }
}

/// A slot's factor relative to the mean, or exactly average for a slot without data.
fn relative(slot: &Slot, mean: f64) -> f64 {
    if slot.predicted > 0.0 {
        slot.factor() / mean
    } else {
        1.0
    }
}

/// A weekday's factor relative to the mean, shrunk while the weekday has little data.
fn relative_weekday(slot: &Slot, mean: f64) -> f64 {
    if slot.predicted > 0.0 {
        slot.shrunk_factor(WEEKDAY_PRIOR_DAYS) / mean
    } else {
        1.0
    }
}

/// Days of data a weekday slot needs before its factor counts in full (half at this much).
const WEEKDAY_PRIOR_DAYS: f64 = 2.0;

/// Where a time falls: the two hourly slots and the two weekdays around it, with weights.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    hours: [(usize, f64); 2],
    days: [(usize, f64); 2],
    day: usize,
}

impl Position {
    /// The position of Unix time `t` (seconds, UTC).
    pub fn of(t: i64) -> Self {
        let second_of_day = t.rem_euclid(SECONDS_PER_DAY);
        // Slot centres are at half past each hour; interpolate between the two nearest.
        let hour = (second_of_day as f64 / 3600.0 - 0.5).rem_euclid(24.0);
        let low = crate::domain::whole_usize(hour.floor()) % 24;
        let frac = hour - hour.floor();
        // 1 January 1970 was a Thursday; slot 0 is Monday. Weekdays blend around midnight
        // (centres at noon) so the baseline never jumps at a day boundary.
        let day = usize::try_from((t.div_euclid(SECONDS_PER_DAY) + 3).rem_euclid(7)).unwrap_or(0);
        let from_noon = second_of_day as f64 / SECONDS_PER_DAY as f64 - 0.5;
        let neighbour = if from_noon < 0.0 {
            (day + 6) % 7
        } else {
            (day + 1) % 7
        };
        let blend = from_noon.abs();
        Self {
            hours: [(low, 1.0 - frac), ((low + 1) % 24, frac)],
            days: [(day, 1.0 - blend), (neighbour, blend)],
            day,
        }
    }
}

impl Profile {
    /// A flat profile that learns at the given rates (share of memory replaced per day / week).
    pub fn new(daily_rate: f64, weekly_rate: f64) -> Self {
        Self {
            hours: [Slot::default(); 24],
            days: [Slot::default(); 7],
            hours_mean: 1.0,
            days_mean: 1.0,
            hours_relative: [1.0; 24],
            days_relative: [1.0; 7],
            daily_log_keep: (1.0 - daily_rate).ln(),
            weekly_log_keep: (1.0 - weekly_rate).ln(),
            stale_means: 0,
            weekly_keep: (f64::NAN, f64::NAN),
        }
    }

    /// The time-of-day factor at `pos`.
    pub fn daily(&self, pos: &Position) -> f64 {
        pos.hours
            .iter()
            .map(|(slot, w)| w * self.hours_relative[*slot])
            .sum()
    }

    /// The day-of-week factor at `pos`.
    pub fn weekly(&self, pos: &Position) -> f64 {
        pos.days
            .iter()
            .map(|(day, w)| w * self.days_relative[*day])
            .sum::<f64>()
            .clamp(0.5, 2.0)
    }

    /// The combined factor at `pos`.
    pub fn factor(&self, pos: &Position) -> f64 {
        self.factors(pos).product()
    }

    /// Both factors at `pos`.
    pub fn factors(&self, pos: &Position) -> Factors {
        Factors {
            daily: self.daily(pos),
            weekly: self.weekly(pos),
        }
    }

    /// Learns from one observation of `seen` reports over `step_minutes`, where the level alone
    /// predicted `level_expected` and the profile's factors at `pos` are `factors` (as
    /// [`Profile::factors`] gives them). Weekday factors start learning only with
    /// `learn_weekdays` true (after a few days, once the time-of-day shape has settled).
    pub fn learn(
        &mut self,
        pos: &Position,
        factors: &Factors,
        step_minutes: f64,
        seen: f64,
        level_expected: f64,
        learn_weekdays: bool,
    ) {
        let Factors { daily, weekly } = *factors;
        for (slot, w) in pos.hours {
            if w > 0.0 {
                let keep = (self.daily_log_keep * w * step_minutes / 60.0).exp();
                self.hours[slot].learn(keep, w, seen, level_expected * weekly, step_minutes / 60.0);
                self.hours_relative[slot] = relative(&self.hours[slot], self.hours_mean);
            }
        }
        if learn_weekdays {
            if self.weekly_keep.0.to_bits() != step_minutes.to_bits() {
                let keep = (self.weekly_log_keep * step_minutes / 1440.0).exp();
                self.weekly_keep = (step_minutes, keep);
            }
            let keep = self.weekly_keep.1;
            self.days[pos.day].learn(
                keep,
                1.0,
                seen,
                level_expected * daily,
                step_minutes / 1440.0,
            );
            self.days_relative[pos.day] = relative_weekday(&self.days[pos.day], self.days_mean);
        }
        self.stale_means += 1;
        if self.stale_means >= 8 || step_minutes >= 8.0 {
            self.hours_mean = mean_factor(&self.hours, 0.0);
            self.days_mean = mean_factor(&self.days, WEEKDAY_PRIOR_DAYS);
            self.stale_means = 0;
            for (relative_factor, slot) in self.hours_relative.iter_mut().zip(&self.hours) {
                *relative_factor = relative(slot, self.hours_mean);
            }
            for (relative_factor, slot) in self.days_relative.iter_mut().zip(&self.days) {
                *relative_factor = relative_weekday(slot, self.days_mean);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_interpolate_between_hour_centres_and_know_the_weekday() {
        // 2025-06-10 was a Tuesday.
        let t = 1_749_537_000; // 2025-06-10T06:30:00Z
        let pos = Position::of(t);
        assert_eq!(pos.day, 1);
        assert_eq!(pos.days[1].0, 0, "before noon, Tuesday blends with Monday");
        assert_eq!(pos.hours[0], (6, 1.0));
        let pos = Position::of(t + 1800); // 07:00
        assert_eq!(pos.hours, [(6, 0.5), (7, 0.5)]);
    }

    #[test]
    fn learns_a_busy_evening_and_stays_flat_on_sparse_data() {
        let mut profile = Profile::new(0.2, 0.25);
        let start = 1_749_513_600; // a midnight
        for day in 0..10 {
            for minute in 0..1440 {
                let t = start + day * 86_400 + minute * 60;
                let busy = (18 * 60..22 * 60).contains(&minute);
                let seen = if busy { 4.0 } else { 1.0 };
                let pos = Position::of(t);
                let factors = profile.factors(&pos);
                profile.learn(&pos, &factors, 1.0, seen, 1.5, true);
            }
        }
        let evening = profile.factor(&Position::of(start + 20 * 3600));
        let morning = profile.factor(&Position::of(start + 8 * 3600));
        assert!(
            evening / morning > 3.0,
            "evening {evening} morning {morning}"
        );

        let mut sparse = Profile::new(0.2, 0.25);
        let pos = Position::of(start);
        let factors = sparse.factors(&pos);
        sparse.learn(&pos, &factors, 60.0, 1.0, 0.02, true);
        assert!(sparse.factor(&Position::of(start)) < 1.4);
    }
}
