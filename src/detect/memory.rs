//! What a detector has learned besides its baseline, kept from one monitor to the next.
//!
//! A monitor that takes a service over (a new leader, a restart, a deploy) rebuilds its
//! baseline from the stored 15-minute bins, but bins cannot teach the rest: each window's
//! noise (its residuals at scales of 1 to 60 minutes), its tail of normal excursions (the
//! largest of each of the last weeks) and the incidents' excursions it remembers (the cap, the
//! aftermath). Learned from nothing they start at the priors, whose bar stands lower than a
//! learned tail's, so a bursty service alarms on bursts it had shown for weeks, and a story's
//! follow-ups open incidents the aftermath would have held back (measured in DETECTION.md).
//! The monitor therefore saves this memory with each service (again once the last save is a
//! bin old), and the next monitor recalls it over the baseline it built from the bins, at the
//! minute it was saved.
//!
//! A memory fits only a detector of the same step and windows; the monitor also keeps it only
//! for the model (parameters and `readings::REVISION`) that learned it.

use serde::{Deserialize, Serialize};

/// One detector's memory (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// The step, in seconds, of the detector that learned it.
    pub step_seconds: i64,
    /// Each evidence window's, shortest first.
    pub windows: Vec<WindowMemory>,
}

/// What one evidence window learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowMemory {
    /// Steps the window sums.
    pub steps: usize,
    /// Its noise.
    pub noise: NoiseMemory,
    /// Its tail.
    pub tail: TailMemory,
}

/// A window's noise: the decayed moment sums its overdispersion is estimated from, and what is
/// left of its prior's weight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoiseMemory {
    /// Sum of squared excess residuals over the expectation.
    pub num: f64,
    /// Sum of squared expectations.
    pub den: f64,
    /// Observations learned (decayed).
    pub weight: f64,
    /// The prior's weight, forgotten like the observations it stands in for.
    pub prior_weight: f64,
}

/// A window's tail: its largest normal excursions and its incidents' excursions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TailMemory {
    /// (week number, largest normal log-ratio of that week), oldest first.
    pub weeks: Vec<(i64, f64)>,
    /// (end in Unix seconds, peak log-ratio) of incidents' excursions, oldest first.
    pub incidents: Vec<(i64, f64)>,
}

impl Memory {
    /// Whether a detector with `step_seconds` steps and windows of `steps` (shortest first)
    /// learned it, with nothing in it that a detector could not have learned.
    pub fn fits(&self, step_seconds: i64, steps: impl ExactSizeIterator<Item = usize>) -> bool {
        self.step_seconds == step_seconds
            && self.windows.len() == steps.len()
            && self
                .windows
                .iter()
                .zip(steps)
                .all(|(w, steps)| w.steps == steps && w.is_sane())
    }
}

impl WindowMemory {
    fn is_sane(&self) -> bool {
        let n = &self.noise;
        let sums = [n.num, n.den, n.weight, n.prior_weight];
        sums.iter().all(|v| v.is_finite())
            && n.den >= 0.0
            && n.weight >= 0.0
            && n.prior_weight >= 0.0
            && n.weight + n.prior_weight > 0.0
            && (self.tail.weeks.iter())
                .chain(&self.tail.incidents)
                .all(|(_, v)| v.is_finite())
            && self.tail.incidents.windows(2).all(|w| w[0].0 <= w[1].0)
            && self.tail.weeks.windows(2).all(|w| w[0].0 < w[1].0)
            && self.tail.weeks.len() <= super::tail::WEEKS + 1
            && self.tail.incidents.len() <= super::tail::INCIDENTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{Detector, Params};

    const START: i64 = 1_749_513_600;
    const DAY: i64 = 1440;

    /// A hundred reports a minute, give or take twenty, and a burst to three times that for ten
    /// minutes every day, each day at another time: a service whose bursts are its normal.
    fn minute(i: i64) -> f64 {
        let day = i / DAY;
        let noon = (i % DAY) - (300 + day * 173 % 900);
        let base = 100.0 + 10.0 * (f64::from(u8::try_from(i * 7 % 5).unwrap()) - 2.0);
        if (0..10).contains(&noon) {
            base * 3.0
        } else {
            base
        }
    }

    fn at(i: i64) -> i64 {
        START + 60 * i
    }

    /// A detector that ran the first `days` days.
    fn ran(days: i64) -> Detector {
        let mut detector = Detector::new(Params::default(), 1.0);
        for i in 0..days * DAY {
            detector.step(at(i), minute(i));
        }
        detector
    }

    /// A detector that learned the first `days` days from 15-minute totals, as a monitor that
    /// takes over learns them from the stored bins.
    fn warmed_from_bins(days: i64) -> Detector {
        let mut detector = Detector::new(Params::default(), 1.0);
        for bin in 0..days * DAY / 15 {
            let total: f64 = (bin * 15..bin * 15 + 15).map(minute).sum();
            for i in bin * 15..bin * 15 + 15 {
                detector.learn_history(at(i), total / 15.0);
            }
        }
        detector
    }

    /// Whether the next day's burst alarms.
    fn next_burst_alarms(detector: &mut Detector, day: i64) -> bool {
        (day * DAY..day * DAY + 1440)
            .map(|i| detector.step(at(i), minute(i)))
            .any(|p| p.alarm)
    }

    #[test]
    fn a_monitor_that_takes_over_with_the_memory_knows_the_services_bursts() {
        let mut throughout = ran(14);
        let memory = throughout.memory();
        assert!(
            memory.windows.iter().any(|w| !w.tail.weeks.is_empty()),
            "two weeks of bursts taught the tails"
        );
        assert!(!next_burst_alarms(&mut throughout, 14));

        let mut forgetful = warmed_from_bins(14);
        assert!(
            next_burst_alarms(&mut forgetful, 14),
            "without the memory the burst beats the prior bar"
        );

        let mut recalled = warmed_from_bins(14);
        assert!(recalled.recall(&memory));
        assert!(!next_burst_alarms(&mut recalled, 14));
    }

    #[test]
    fn a_memory_survives_json_and_recalls_exactly() {
        let memory = ran(9).memory();
        let text = serde_json::to_string(&memory).unwrap();
        let back: Memory = serde_json::from_str(&text).unwrap();
        assert_eq!(back, memory);
        let mut fresh = Detector::new(Params::default(), 1.0);
        assert!(fresh.recall(&back));
        assert_eq!(fresh.memory(), memory);
    }

    #[test]
    fn a_memory_that_does_not_fit_changes_nothing() {
        let memory = ran(2).memory();
        let mut coarser = Detector::new(Params::default(), 5.0);
        let before = coarser.memory();
        assert!(!coarser.recall(&memory), "another step");
        let mut shorter = memory.clone();
        shorter.windows.pop();
        let mut fresh = Detector::new(Params::default(), 1.0);
        assert!(!fresh.recall(&shorter), "a window missing");
        let mut broken = memory.clone();
        broken.windows[0].noise.num = f64::NAN;
        assert!(!fresh.recall(&broken), "a number that is not one");
        let mut too_long = memory;
        too_long.windows[0].tail.incidents = vec![(0, 1.0); 9];
        assert!(!fresh.recall(&too_long), "more incidents than a tail holds");
        assert_eq!(coarser.memory(), before);
        assert_eq!(
            fresh.memory(),
            Detector::new(Params::default(), 1.0).memory()
        );
    }
}
