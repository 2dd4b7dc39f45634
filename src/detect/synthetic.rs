//! A seeded generator of realistic report streams with ground truth, for the quality suite,
//! tests and benchmarks.
//!
//! Real report streams are not Poisson: on top of the daily and weekly rhythm there is slow
//! drift in interest (a correlated multiplicative noise), extra volatility per minute
//! (gamma-Poisson), holidays, growth, and unlabeled bursts of many sizes (a news mention, a
//! viral post, a stray cluster of friends) whose sizes follow a heavy-tailed law; the largest
//! come in news cycles, a story and its follow-ups within a day. Outages are added on top with
//! a ramp, a plateau and a long decay.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Gamma, Normal, Pareto, Poisson};

pub use super::suite::{SHAPES, Scenario, issue_shapes, quality_suite};

/// How a service's normal traffic looks.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    /// Average reports per minute at the start.
    pub mean_per_minute: f64,
    /// Daily swing: 0 flat; 0.9 puts nights at about a nineteenth of the peak.
    pub daily_amplitude: f64,
    /// Hour (UTC) of the daily peak.
    pub peak_hour: f64,
    /// Multiplier on Saturdays and Sundays.
    pub weekend_factor: f64,
    /// Audience growth per week (0.05 = +5 %).
    pub growth_per_week: f64,
    /// Per-minute gamma-Poisson overdispersion.
    pub overdispersion: f64,
    /// Standard deviation of the slow log-drift in interest.
    pub drift_sd: f64,
    /// Unlabeled bursts per day.
    pub bursts_per_day: f64,
    /// Largest burst, as extra volume relative to the baseline (heavy-tailed below it).
    pub burst_max_ratio: f64,
    /// Unlabelled bursts of the kind real streams have, per week: +50 % to +900 % of the
    /// baseline (heavy-tailed), 5 to 90 minutes long, in news cycles (see
    /// [`FOLLOW_UP_CHANCE`]). 0 for a calm service.
    pub wild_bursts_per_week: f64,
    /// A slow regime shift: from this day on, the volume doubles over a week.
    pub doubling_from_day: Option<usize>,
    /// Stretches of missing data (1 to 30 minutes) per day.
    pub gaps_per_day: f64,
}

impl Traffic {
    /// A busy consumer service with a strong daily rhythm.
    pub fn busy(mean_per_minute: f64) -> Self {
        Self {
            mean_per_minute,
            daily_amplitude: 0.7,
            peak_hour: 15.0,
            weekend_factor: 0.85,
            growth_per_week: 0.02,
            overdispersion: 0.05,
            drift_sd: 0.12,
            bursts_per_day: 6.0,
            burst_max_ratio: 0.8,
            wild_bursts_per_week: 0.0,
            doubling_from_day: None,
            gaps_per_day: 0.0,
        }
    }

    /// A quiet service: a few reports an hour, stray clusters now and then.
    pub fn quiet(mean_per_minute: f64) -> Self {
        Self {
            mean_per_minute,
            daily_amplitude: 0.6,
            peak_hour: 14.0,
            weekend_factor: 0.7,
            growth_per_week: 0.0,
            overdispersion: 0.3,
            drift_sd: 0.2,
            bursts_per_day: 3.0,
            burst_max_ratio: 0.0,
            wild_bursts_per_week: 0.0,
            doubling_from_day: None,
            gaps_per_day: 0.0,
        }
    }

    /// The same service with real streams' habits: heavy-tailed bursts `per_week`, a gap in the
    /// data now and then.
    pub fn bursty(self, per_week: f64) -> Self {
        Self {
            wild_bursts_per_week: per_week,
            gaps_per_day: 0.5,
            ..self
        }
    }
}

/// The chance that a wild burst is followed by another within a day (which may be followed in
/// turn): a story has follow-ups, so real streams' bursts come in clusters, and half of a
/// bursty stream's bursts are such follow-ups (a cluster holds two on average). A follow-up
/// starts one to 24 hours after the burst before it ended and is 30-100 % of its size (at least
/// +50 %), so it is most often no larger than what the stream has just shown.
pub const FOLLOW_UP_CHANCE: f64 = 0.5;

/// An outage to add: extra reports per minute rising, holding, then decaying.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// Minutes after the series start.
    pub start_minute: usize,
    /// Time constant of the rise, in minutes.
    pub ramp_minutes: f64,
    /// Minutes at the peak.
    pub plateau_minutes: f64,
    /// Time constant of the decay, in minutes.
    pub decay_minutes: f64,
    /// Extra reports per minute at the peak.
    pub peak_extra: f64,
}

impl Outage {
    fn extra(&self, minute: usize) -> f64 {
        if minute < self.start_minute {
            return 0.0;
        }
        let t = (minute - self.start_minute) as f64 + 0.5;
        let rise = 1.0 - (-t / self.ramp_minutes.max(0.1)).exp();
        let top = 3.0 * self.ramp_minutes;
        if t <= top + self.plateau_minutes {
            self.peak_extra * rise
        } else {
            let since = t - top - self.plateau_minutes;
            self.peak_extra
                * (1.0 - (-top / self.ramp_minutes.max(0.1)).exp())
                * (-since / self.decay_minutes).exp()
        }
    }

    /// Minutes until the extra volume falls below 1 % of its peak (or 0.5 reports a minute).
    fn length_minutes(&self) -> usize {
        let floor = (0.01 * self.peak_extra).max(0.5);
        let decay = self.decay_minutes * (self.peak_extra / floor).max(1.0).ln();
        crate::domain::whole_usize((3.0 * self.ramp_minutes + self.plateau_minutes + decay).ceil())
    }
}

/// A count series with the truth about its outages.
#[derive(Debug, Clone)]
pub struct Series {
    /// Unix time of the first step.
    pub start: i64,
    /// Step length in minutes.
    pub step_minutes: f64,
    /// Reports per step.
    pub values: Vec<f64>,
    /// Outage windows `[start, end)` in Unix seconds.
    pub truth: Vec<(i64, i64)>,
    /// Unlabelled wild bursts: start, end (Unix seconds) and extra volume over the baseline.
    pub bursts: Vec<(i64, i64, f64)>,
}

impl Series {
    /// Unix time of step `i`.
    pub fn time(&self, i: usize) -> i64 {
        self.start + crate::domain::whole((i as f64 * self.step_minutes * 60.0).trunc())
    }

    /// The same series summed into steps of `factor` times the length.
    pub fn coarsen(&self, factor: usize) -> Series {
        Series {
            start: self.start,
            step_minutes: self.step_minutes * factor as f64,
            values: self.values.chunks(factor).map(|c| c.iter().sum()).collect(),
            truth: self.truth.clone(),
            bursts: self.bursts.clone(),
        }
    }
}

/// Generates `minutes` of one-minute counts from `start` (Unix seconds, a midnight UTC is best).
pub fn generate(
    traffic: &Traffic,
    outages: &[Outage],
    holidays: &[usize],
    start: i64,
    minutes: usize,
    seed: u64,
) -> Series {
    let mut rng = StdRng::seed_from_u64(seed);
    let drift_step = Normal::new(0.0, traffic.drift_sd * (2.0f64 / 30.0).sqrt()).expect("valid sd");
    let burst_size = Pareto::new(0.08, 1.6).expect("valid pareto");
    let mut drift = 0.0f64;
    let mut bursts: Vec<(usize, f64, f64)> = Vec::new();
    let mut wild: Vec<(usize, usize, f64)> = Vec::new();
    // Follow-ups due: (minute, size).
    let mut follow_ups: Vec<(usize, f64)> = Vec::new();
    let mut gap_until = 0usize;
    let mut values = Vec::with_capacity(minutes);
    for minute in 0..minutes {
        let t = start + crate::domain::signed(minute) * 60;
        let base = baseline(traffic, holidays, t, minute);
        let mut starting: Vec<f64> = Vec::new();
        // New stories, at the rate that leaves the stated total with their follow-ups.
        if rng.random::<f64>() < traffic.wild_bursts_per_week * (1.0 - FOLLOW_UP_CHANCE) / 10_080.0
        {
            // Sizes from +50 % to +900 %, heavy-tailed (Pareto, index 1.2).
            starting.push((0.5 * rng.random::<f64>().max(1e-9).powf(-1.0 / 1.2)).min(9.0));
        }
        follow_ups.retain(|(at, size)| {
            let due = *at == minute;
            if due {
                starting.push(*size);
            }
            !due
        });
        for size in starting {
            let length = rng.random_range(5..=90);
            wild.push((minute, minute + length, size));
            if rng.random::<f64>() < FOLLOW_UP_CHANCE {
                let at = minute + length + rng.random_range(60..=1440);
                follow_ups.push((at, (size * rng.random_range(0.3..1.0)).max(0.5)));
            }
        }
        let wild_extra: f64 = wild
            .iter()
            .filter(|(from, to, _)| (*from..*to).contains(&minute))
            .map(|(_, _, size)| size * base)
            .sum();
        if rng.random::<f64>() < traffic.gaps_per_day / 1440.0 {
            gap_until = minute + rng.random_range(1..=30);
        }
        // Interest drifts slowly (mean-reverting over about half an hour).
        drift = drift * (1.0 - 1.0 / 30.0) + drift_step.sample(&mut rng);
        if rng.random::<f64>() < traffic.bursts_per_day / 1440.0 {
            let duration: f64 = rng.random_range(1.0..12.0);
            let size = if traffic.burst_max_ratio > 0.0 {
                Distribution::<f64>::sample(&burst_size, &mut rng).min(traffic.burst_max_ratio)
                    * base
            } else {
                // Quiet services: a stray cluster of 1 to 6 reports in all.
                let spread: f64 = (0..crate::domain::whole_usize((4.0 * duration).trunc()))
                    .map(|k| (-(k as f64) / duration).exp())
                    .sum();
                rng.random_range(1.0..6.0) / spread
            };
            bursts.push((minute, duration, size));
        }
        bursts.retain(|(at, duration, _)| (minute - at) as f64 <= 4.0 * duration);
        let burst: f64 = bursts
            .iter()
            .map(|(at, duration, size)| size * (-((minute - at) as f64) / duration).exp())
            .sum();
        let extra: f64 = outages.iter().map(|o| o.extra(minute)).sum();
        // Everyday interest is overdispersed; bursts and outages are Poisson on top of it.
        let everyday = sample_count(&mut rng, base * drift.exp(), traffic.overdispersion);
        let value = everyday + sample_count(&mut rng, burst + extra + wild_extra, 0.0);
        values.push(if minute < gap_until { f64::NAN } else { value });
    }
    let truth = outages
        .iter()
        .map(|o| {
            let from = start + crate::domain::signed(o.start_minute) * 60;
            (from, from + crate::domain::signed(o.length_minutes()) * 60)
        })
        .collect();
    let bursts = wild
        .iter()
        .map(|(from, to, size)| {
            let at = |minute: usize| start + crate::domain::signed(minute) * 60;
            (at(*from), at(*to), *size)
        })
        .collect();
    Series {
        start,
        step_minutes: 1.0,
        values,
        truth,
        bursts,
    }
}

/// The expected reports per minute of `traffic` at `t` (`minute` after the series start),
/// before noise, bursts and outages, on a day without a holiday.
pub fn expected_per_minute(traffic: &Traffic, t: i64, minute: usize) -> f64 {
    baseline(traffic, &[], t, minute)
}

/// The expected reports per minute before noise, bursts and outages.
fn baseline(traffic: &Traffic, holidays: &[usize], t: i64, minute: usize) -> f64 {
    let hour = (t.rem_euclid(86_400)) as f64 / 3600.0;
    let phase = (hour - traffic.peak_hour) / 24.0 * std::f64::consts::TAU;
    let daily = 1.0 + traffic.daily_amplitude * phase.cos();
    let weekday = (t.div_euclid(86_400) + 3).rem_euclid(7);
    let weekly = if weekday >= 5 {
        traffic.weekend_factor
    } else {
        1.0
    };
    let day = minute / 1440;
    let holiday = if holidays.contains(&day) { 0.5 } else { 1.0 };
    let growth = (1.0 + traffic.growth_per_week).powf(minute as f64 / 10_080.0);
    let shift = traffic.doubling_from_day.map_or(1.0, |from| {
        let weeks = (minute as f64 / 1440.0 - from as f64) / 7.0;
        2.0f64.powf(weeks.clamp(0.0, 1.0))
    });
    traffic.mean_per_minute * daily * weekly * holiday * growth * shift
}

fn sample_count(rng: &mut StdRng, mean: f64, overdispersion: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    let rate = if overdispersion > 0.0 {
        let shape = 1.0 / overdispersion;
        Gamma::new(shape, mean / shape)
            .expect("valid gamma")
            .sample(rng)
    } else {
        mean
    };
    if rate <= 0.0 {
        return 0.0;
    }
    Poisson::new(rate).map_or(rate.round(), |p| p.sample(rng))
}

/// Midnight UTC, 27 May 2025: two weeks of history before the seed outage.
pub const SEED_HISTORY_START: i64 = 1_748_304_000;

/// The seed case: ChatGPT on 10 June 2025. Tens of reports per 15 minutes at night (US
/// Eastern), a rise from 02:36 EDT (06:36 UTC) to about 2,000 reports in the peak 15-minute
/// bin, then a long tail. Two weeks of one-minute history precede it; the series ends at midnight
/// US Eastern.
pub fn seed_case(seed: u64) -> Series {
    let traffic = Traffic {
        mean_per_minute: 5.0,
        daily_amplitude: 0.55,
        peak_hour: 18.0,
        weekend_factor: 0.9,
        growth_per_week: 0.03,
        overdispersion: 0.1,
        drift_sd: 0.12,
        bursts_per_day: 4.0,
        burst_max_ratio: 0.8,
        wild_bursts_per_week: 0.0,
        doubling_from_day: None,
        gaps_per_day: 0.0,
    };
    let onset_minute = 14 * 1440 + 6 * 60 + 36;
    let outage = Outage {
        start_minute: onset_minute,
        ramp_minutes: 9.0,
        plateau_minutes: 12.0,
        decay_minutes: 70.0,
        peak_extra: 150.0,
    };
    generate(
        &traffic,
        &[outage],
        &[],
        SEED_HISTORY_START,
        15 * 1440 + 4 * 60,
        seed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_series() {
        let a = seed_case(7);
        let b = seed_case(7);
        assert_eq!(a.values, b.values);
        assert_ne!(a.values, seed_case(8).values);
    }

    #[test]
    fn the_seed_case_has_its_published_shape() {
        let series = seed_case(1);
        let bins = series.coarsen(15);
        let onset_bin = (14 * 1440 + 6 * 60 + 30) / 15;
        let night_before: f64 = bins.values[onset_bin - 8..onset_bin].iter().sum::<f64>() / 8.0;
        assert!(
            (10.0..100.0).contains(&night_before),
            "tens per 15 minutes: {night_before}"
        );
        let peak = bins.values[onset_bin..].iter().cloned().fold(0.0, f64::max);
        assert!(
            (1700.0..2400.0).contains(&peak),
            "about 2,000 at the peak: {peak}"
        );
    }
}
