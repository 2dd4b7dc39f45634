//! Expected report rates: a service's normal volume by time of day and week, plus its outages.
//!
//! Pure functions of a scenario and an instant, so the shapes can be checked against what the
//! scenario promises (the seed case's peak bin) without sending anything.

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::scenario::{Outage, Scenario};

/// Reports per minute a service receives when nothing is wrong, at `at`.
pub fn baseline_rate(scenario: &Scenario, service: usize, at: DateTime<Utc>) -> f64 {
    let traffic = &scenario.services[service];
    let local = at.with_timezone(&scenario.zone);
    traffic.baseline_per_minute
        * traffic.daily[local.hour() as usize]
        * traffic.weekly[local.weekday().num_days_from_monday() as usize]
}

/// Extra reports per minute an outage causes at `at`.
pub fn outage_rate(outage: &Outage, at: DateTime<Utc>) -> f64 {
    let since = (at - outage.onset).num_milliseconds() as f64 / 60_000.0;
    if since < 0.0 {
        return 0.0;
    }
    let envelope = if since < outage.ramp_minutes {
        // Smoothstep: people notice slowly, then all at once.
        let x = since / outage.ramp_minutes;
        x * x * (3.0 - 2.0 * x)
    } else if since < outage.ramp_minutes + outage.plateau_minutes {
        1.0
    } else {
        let into_decay = since - outage.ramp_minutes - outage.plateau_minutes;
        if into_decay >= outage.decay_minutes {
            0.0
        } else {
            // Reports fall off fast once the service is back, with a tail of late reporters.
            (-3.0 * into_decay / outage.decay_minutes).exp()
        }
    };
    outage.peak_per_minute * envelope
}

/// The rate of each part of a service's traffic at `at`: the baseline first, then each of the
/// service's outages in scenario order (as indexes into `scenario.outages`).
pub fn components(scenario: &Scenario, service: usize, at: DateTime<Utc>) -> Vec<(Source, f64)> {
    let mut parts = vec![(Source::Baseline, baseline_rate(scenario, service, at))];
    for (i, outage) in scenario.outages.iter().enumerate() {
        if outage.service == service {
            parts.push((Source::Outage(i), outage_rate(outage, at)));
        }
    }
    parts
}

/// Where a report comes from, which decides its problem mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Normal volume.
    Baseline,
    /// The outage at this index of `scenario.outages`.
    Outage(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::scenario::SEED_SCENARIO_NAME;
    use chrono::TimeDelta;

    fn seed() -> Scenario {
        Scenario::builtin(SEED_SCENARIO_NAME).unwrap()
    }

    fn expected_in_bin(s: &Scenario, service: usize, bin_start: DateTime<Utc>) -> f64 {
        (0..15)
            .map(|m| {
                let at = bin_start + TimeDelta::minutes(m) + TimeDelta::seconds(30);
                components(s, service, at)
                    .iter()
                    .map(|(_, r)| r)
                    .sum::<f64>()
            })
            .sum()
    }

    #[test]
    fn chatgpt_peaks_near_two_thousand_reports_in_a_fifteen_minute_bin() {
        let s = seed();
        let peak = (0..s.minutes() / 15)
            .map(|i| expected_in_bin(&s, 0, s.start + TimeDelta::minutes(15 * i)))
            .fold(0.0, f64::max);
        assert!((1_900.0..2_100.0).contains(&peak), "peak bin {peak}");
    }

    #[test]
    fn nothing_extra_before_onset_and_nothing_after_the_decay() {
        let s = seed();
        let outage = &s.outages[0];
        assert_eq!(
            outage_rate(outage, outage.onset - TimeDelta::seconds(1)),
            0.0
        );
        assert_eq!(outage_rate(outage, outage.onset), 0.0);
        let end = outage.ramp_minutes + outage.plateau_minutes + outage.decay_minutes;
        assert_eq!(
            outage_rate(
                outage,
                outage.onset + TimeDelta::minutes(crate::domain::whole(end))
            ),
            0.0
        );
        let top = outage.onset + TimeDelta::minutes(crate::domain::whole(outage.ramp_minutes) + 1);
        assert_eq!(outage_rate(outage, top), outage.peak_per_minute);
    }

    #[test]
    fn voice_mode_outlasts_the_main_outage() {
        let s = seed();
        let late = s.outages[0].onset + TimeDelta::hours(6);
        assert!(outage_rate(&s.outages[0], late) < 1.0);
        assert!(outage_rate(&s.outages[1], late) > 5.0);
    }

    #[test]
    fn night_is_quieter_than_afternoon_in_the_scenario_zone() {
        let s = seed();
        let night = s.start + TimeDelta::hours(2); // 03:30 New York
        let afternoon = s.start + TimeDelta::hours(12); // 13:30 New York
        assert!(baseline_rate(&s, 0, night) < 0.5 * baseline_rate(&s, 0, afternoon));
    }
}
