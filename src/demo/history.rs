//! A past for the demo: four weeks of normal volume, so the model has a baseline to learn.
//!
//! The detector learns from PostgreSQL bins and replays the last hours of Redis minutes when it
//! starts. The demo writes both from the scenario's own normal shape (Poisson draws, the
//! service's problem and country mixes), bins for the weeks and minutes for the last hours,
//! with the bins of those hours summed from the same minutes so the two stores agree.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Poisson};
use uuid::Uuid;

use crate::db::bins::BinCounts;
use crate::simulate::Scenario;
use crate::simulate::shape::baseline_rate;
use crate::time::{BIN_MINUTES, align_down, minute_of, minute_start};
use crate::windows::MinuteBucket;

/// Normal volume before a scenario starts.
#[derive(Debug, Default)]
pub struct History {
    /// Bins for every service, oldest first.
    pub bins: Vec<BinCounts>,
    /// Minutes per service (scenario order) for the most recent hours.
    pub minutes: Vec<Vec<MinuteBucket>>,
}

/// `days` of bins ending at the scenario's start, the last `recent_minutes` of them also as
/// minutes. `ids` are the services' ids, in scenario order.
pub fn generate(scenario: &Scenario, ids: &[Uuid], days: i64, recent_minutes: i64) -> History {
    let mut rng = StdRng::seed_from_u64(scenario.seed ^ 0x6869_7374);
    let start = scenario.start;
    let on_bin = |t: DateTime<Utc>| minute_start(align_down(minute_of(t), BIN_MINUTES));
    let recent_from = on_bin(start - TimeDelta::minutes(recent_minutes));
    let mut history = History::default();
    for (service, id) in ids.iter().enumerate() {
        let mut t = on_bin(start - TimeDelta::days(days));
        while t < recent_from {
            let mid = t + TimeDelta::minutes(BIN_MINUTES / 2);
            let rate = baseline_rate(scenario, service, mid) * BIN_MINUTES as f64;
            let bucket = draw(&mut rng, scenario, service, t, rate);
            history.bins.push(to_bin(*id, &bucket));
            t += TimeDelta::minutes(BIN_MINUTES);
        }
        let mut minutes = Vec::new();
        let mut bin: Option<BinCounts> = None;
        while t < start {
            let rate = baseline_rate(scenario, service, t + TimeDelta::seconds(30));
            let bucket = draw(&mut rng, scenario, service, t, rate);
            let bin_start = on_bin(t);
            match bin.as_mut() {
                Some(b) if b.bin_start == bin_start => add(b, &bucket),
                _ => {
                    history.bins.extend(bin.take());
                    let mut fresh = to_bin(*id, &bucket);
                    fresh.bin_start = bin_start;
                    bin = Some(fresh);
                }
            }
            minutes.push(bucket);
            t += TimeDelta::minutes(1);
        }
        history.bins.extend(bin);
        history.minutes.push(minutes);
    }
    history
}

/// One period's reports: a Poisson count, each with a problem and maybe a country.
fn draw(
    rng: &mut StdRng,
    scenario: &Scenario,
    service: usize,
    t: DateTime<Utc>,
    expected: f64,
) -> MinuteBucket {
    let traffic = &scenario.services[service];
    let total = if expected > 0.0 {
        Poisson::new(expected).map_or(0, |p| crate::domain::whole_count(p.sample(rng)))
    } else {
        0
    };
    let mut bucket = MinuteBucket {
        t,
        total,
        problems: BTreeMap::new(),
        countries: BTreeMap::new(),
    };
    let problem_weight = traffic.problems.total();
    for _ in 0..total {
        if let Some(problem) = traffic.problems.pick(rng.random::<f64>() * problem_weight) {
            *bucket
                .problems
                .entry(problem.as_str().to_owned())
                .or_default() += 1;
        }
        if let Some(country) = traffic.countries.pick(rng.random::<f64>()) {
            *bucket
                .countries
                .entry(country.as_str().to_owned())
                .or_default() += 1;
        }
    }
    bucket
}

fn to_bin(service_id: Uuid, bucket: &MinuteBucket) -> BinCounts {
    let mut bin = BinCounts {
        service_id,
        bin_start: bucket.t,
        ..BinCounts::default()
    };
    add(&mut bin, bucket);
    bin
}

fn add(bin: &mut BinCounts, bucket: &MinuteBucket) {
    let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    bin.total += clamp(bucket.total);
    for (kind, n) in &bucket.problems {
        *bin.problems.entry(kind.clone()).or_default() += clamp(*n);
    }
    for (country, n) in &bucket.countries {
        *bin.countries.entry(country.clone()).or_default() += clamp(*n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::scenario::SEED_SCENARIO_NAME;

    #[test]
    fn weeks_of_bins_and_recent_minutes_that_agree() {
        let scenario = Scenario::builtin(SEED_SCENARIO_NAME).unwrap();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let history = generate(&scenario, &ids, 28, 180);
        // 28 days of 96 bins per service.
        assert_eq!(history.bins.len(), 3 * 28 * 96);
        assert_eq!(history.minutes[0].len(), 180);
        let recent_bins: i32 = history
            .bins
            .iter()
            .filter(|b| {
                b.service_id == ids[0] && b.bin_start >= scenario.start - TimeDelta::hours(3)
            })
            .map(|b| b.total)
            .sum();
        let recent_minutes: u64 = history.minutes[0].iter().map(|m| m.total).sum();
        assert_eq!(u64::try_from(recent_bins).unwrap(), recent_minutes);
        // About the scenario's baseline: 1.6 a minute on average over a week.
        let chatgpt: i64 = history
            .bins
            .iter()
            .filter(|b| b.service_id == ids[0])
            .map(|b| i64::from(b.total))
            .sum();
        let per_minute = chatgpt as f64 / (28.0 * 24.0 * 60.0);
        assert!((1.4..1.8).contains(&per_minute), "{per_minute}");
        assert!(
            history
                .bins
                .iter()
                .all(|b| b.bin_start.timestamp() % 900 == 0)
        );
    }
}
