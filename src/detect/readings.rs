//! Readings of closed steps as a pure function of the history before them, so that they can be
//! computed once (by the monitor, as bins close), stored with the bins, and read back by every
//! curve instead of refitting the model per request.
//!
//! A curve used to warm a detector up over the seven days before its own `from`, so one bin
//! read differently in two charts that started at different times, and nothing could be stored.
//! Here the steps of each UTC day are read by a detector started [`WARM_UP_DAYS`] before that
//! day began (the day's *anchor*) and fed every step since: a step's reading depends only on the
//! series from its anchor up to itself, so the monitor and a curve agree on it exactly, and a
//! curve that must still run the model (history not yet read, the bins under way) runs it from
//! its day's anchor, never over the whole range before it.

use super::{Detector, Level, Params};
use crate::time::align_down;

/// Days of history a day's detector learns from before the day's first step.
pub const WARM_UP_DAYS: i64 = 7;
/// Minutes in a (UTC) day.
const DAY_MINUTES: i64 = 1440;

/// What the model says of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Reports the model expected.
    pub baseline: f64,
    /// Reports above which the step alone would be significant.
    pub upper: f64,
    /// The level after the step.
    pub level: Level,
}

/// The version of the readings' definition: bump it when a change to the model's code changes
/// readings, so that stored ones are read again (see [`model_id`]).
pub const REVISION: u32 = 7;

/// Identifies the model whose readings are stored: a hash of its parameters and [`REVISION`].
/// Readings stored by another model are not used, and the monitor reads history again.
pub fn model_id(params: &Params) -> i64 {
    // Every curve asks, with the process's one set of parameters: remember the last answer
    // (a JSON text and a SHA-256 each time cost more than the rest of a stored curve's lookup).
    thread_local! {
        static LAST: std::cell::Cell<Option<(Params, i64)>> = const { std::cell::Cell::new(None) };
    }
    if let Some((known, id)) = LAST.get()
        && known == *params
    {
        return id;
    }
    let id = hash_model(params);
    LAST.set(Some((*params, id)));
    id
}

fn hash_model(params: &Params) -> i64 {
    use sha2::Digest;
    let text = serde_json::to_string(&(REVISION, params)).expect("parameters serialize");
    let digest = sha2::Sha256::digest(text.as_bytes());
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Where the run that reads the step at `minute` starts: [`WARM_UP_DAYS`] before its UTC day.
pub fn anchor(minute: i64) -> i64 {
    align_down(minute, DAY_MINUTES) - WARM_UP_DAYS * DAY_MINUTES
}

/// The first minute of the UTC day after the one holding `minute`.
pub fn next_day(minute: i64) -> i64 {
    align_down(minute, DAY_MINUTES) + DAY_MINUTES
}

/// A detector fed every step from an anchor on, in order.
#[derive(Debug, Clone)]
pub struct Run {
    detector: Detector,
    step_minutes: i64,
    anchor: i64,
    next: i64,
}

impl Run {
    /// A run of `step_minutes` steps (15 or 60) whose first step starts at `anchor`.
    pub fn new(params: Params, step_minutes: i64, anchor: i64) -> Self {
        Self {
            detector: Detector::new(params, step_minutes as f64),
            step_minutes,
            anchor,
            next: anchor,
        }
    }

    /// The anchor it started from.
    pub fn anchor(&self) -> i64 {
        self.anchor
    }

    /// The start of the next step it expects.
    pub fn next(&self) -> i64 {
        self.next
    }

    /// Reads the step starting at [`Run::next`], with `reports` in it.
    pub fn step(&mut self, reports: f64) -> Reading {
        let point = self.detector.step(self.next * 60, reports);
        self.next += self.step_minutes;
        Reading {
            baseline: point.baseline,
            upper: point.upper,
            level: point.level,
        }
    }

    /// Feeds every step before `until` (exclusive), taking each step's reports from `reports`.
    pub fn advance_to(&mut self, until: i64, mut reports: impl FnMut(i64) -> f64) {
        while self.next < until {
            let at = self.next;
            self.step(reports(at));
        }
    }
}

/// The reading of the step at `minute` in a series with no report since its anchor (a fresh
/// detector's). The monitor stores no row for a step that reads like this, and a curve reads
/// a missing row as this.
pub fn idle(params: Params, step_minutes: i64, minute: i64) -> Reading {
    Run::new(params, step_minutes, minute).step(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_read_from_seven_days_before_it_began() {
        let noon = 20_000 * DAY_MINUTES + 720;
        assert_eq!(anchor(noon), 19_993 * DAY_MINUTES);
        assert_eq!(anchor(noon - 720), anchor(noon));
        assert_eq!(anchor(noon - 721), anchor(noon) - DAY_MINUTES);
        assert_eq!(next_day(noon), 20_001 * DAY_MINUTES);
        assert_eq!(next_day(noon - 720), 20_001 * DAY_MINUTES);
    }

    #[test]
    fn a_run_reads_what_the_detector_reads() {
        let params = Params::default();
        let start = anchor(20_000 * DAY_MINUTES);
        let series: Vec<f64> = (0..700).map(|i| f64::from(20 + (i * 7) % 11)).collect();
        let mut detector = Detector::new(params, 15.0);
        let mut run = Run::new(params, 15, start);
        for (i, reports) in (0_i64..).zip(&series) {
            let point = detector.step((start + i * 15) * 60, *reports);
            let reading = run.step(*reports);
            assert_eq!(
                (reading.baseline, reading.upper, reading.level),
                (point.baseline, point.upper, point.level)
            );
        }
        assert_eq!(run.next(), start + 700 * 15);
        let mut again = Run::new(params, 15, start);
        again.advance_to(start + 700 * 15, |m| {
            series[usize::try_from((m - start) / 15).unwrap()]
        });
        assert_eq!(
            again.step(30.0),
            run.step(30.0),
            "advance_to feeds the same steps"
        );
    }

    #[test]
    fn the_model_id_follows_the_parameters() {
        let params = Params::default();
        assert_eq!(model_id(&params), model_id(&params));
        let other = Params {
            z_outage: params.z_outage + 0.5,
            ..params
        };
        assert_ne!(model_id(&params), model_id(&other));
    }

    #[test]
    fn a_series_without_reports_reads_idle() {
        let params = Params::default();
        let start = anchor(20_000 * DAY_MINUTES);
        let mut run = Run::new(params, 60, start);
        run.advance_to(start + 3 * 60, |_| 0.0);
        let at = run.next();
        assert_eq!(run.step(0.0), idle(params, 60, at));
        run.step(50.0);
        assert_ne!(
            run.step(0.0),
            idle(params, 60, at + 120),
            "after a report, a quiet hour is no longer idle"
        );
    }
}
