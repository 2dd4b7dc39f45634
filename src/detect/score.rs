//! Scoring a detector run against ground truth: recall, latency, false incidents.

use super::detector::Point;
use super::synthetic::Series;

/// Alarms this long after an outage's truth window still belong to it (the tail of an outage
/// often outlives the truth window by a little).
const GRACE_SECONDS: i64 = 3600;

/// Detection quality over one or more series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    /// Outages in the ground truth.
    pub outages: usize,
    /// Outages with an alarm inside their window.
    pub detected: usize,
    /// Minutes from onset to the end of the step that raised the alarm (when its data was
    /// complete), for each detected outage.
    pub latencies_minutes: Vec<f64>,
    /// Alarms outside every outage window: incidents nobody should have seen.
    pub false_incidents: usize,
    /// Of those, alarms during an unlabelled burst larger than every earlier burst of the
    /// series in the four weeks before it (count data alone cannot tell those from an outage).
    pub false_beyond_history: usize,
    /// Estimated onset minus true onset, in minutes, for each detected outage.
    pub onset_errors_minutes: Vec<f64>,
    /// Second and later alarms inside one outage: one outage split into several incidents.
    pub split_alarms: usize,
    /// Length of the scored series, in service-weeks.
    pub service_weeks: f64,
    /// Indexes (in the series' truth) of the outages that were missed.
    pub missed: Vec<usize>,
}

impl Score {
    /// Scores `points` (the detector's output for `series`).
    pub fn of(series: &Series, points: &[Point]) -> Self {
        let step = crate::domain::whole(series.step_minutes * 60.0);
        // An alarm on a step covers the whole step, which may begin before the onset.
        let alarms: Vec<(i64, Option<i64>, bool)> = points
            .iter()
            .filter(|p| p.alarm)
            .map(|p| (p.t + step, p.onset, p.reopen))
            .collect();
        let mut score = Score {
            outages: series.truth.len(),
            service_weeks: points.len() as f64 * series.step_minutes / 10_080.0,
            ..Default::default()
        };
        let inside = |t: i64| {
            series
                .truth
                .iter()
                .position(|(from, to)| t > *from && t <= to + GRACE_SECONDS)
        };
        let mut first_alarm: Vec<Option<(i64, Option<i64>)>> = vec![None; series.truth.len()];
        for (t, onset, reopen) in alarms {
            match inside(t) {
                Some(i) if first_alarm[i].is_none() => first_alarm[i] = Some((t, onset)),
                // A return soon after a resolution continues that incident (as the monitor
                // continues it): neither a split nor an incident of its own.
                Some(_) | None if reopen => {}
                Some(_) => score.split_alarms += 1,
                None => {
                    score.false_incidents += 1;
                    score.false_beyond_history += usize::from(beyond_history(series, t));
                }
            }
        }
        for (index, ((from, to), alarm)) in series.truth.iter().zip(&first_alarm).enumerate() {
            match alarm.filter(|(t, _)| *t <= to + step) {
                Some((t, onset)) => {
                    score.detected += 1;
                    score.latencies_minutes.push((t - from) as f64 / 60.0);
                    if let Some(onset) = onset {
                        score
                            .onset_errors_minutes
                            .push((onset - from) as f64 / 60.0);
                    }
                }
                None => score.missed.push(index),
            }
        }
        score
    }

    /// Adds another score's counts to this one.
    pub fn merge(&mut self, other: &Score) {
        self.outages += other.outages;
        self.detected += other.detected;
        self.latencies_minutes.extend(&other.latencies_minutes);
        self.false_incidents += other.false_incidents;
        self.false_beyond_history += other.false_beyond_history;
        self.onset_errors_minutes
            .extend(&other.onset_errors_minutes);
        self.split_alarms += other.split_alarms;
        self.service_weeks += other.service_weeks;
        self.missed.extend(&other.missed);
    }

    /// Share of outages detected.
    pub fn recall(&self) -> f64 {
        if self.outages == 0 {
            1.0
        } else {
            self.detected as f64 / self.outages as f64
        }
    }

    /// False incidents per service-week.
    pub fn false_per_service_week(&self) -> f64 {
        self.false_incidents as f64 / self.service_weeks.max(1e-9)
    }

    /// The `q` quantile (0-1) of detection latency in minutes, if anything was detected.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        quantile(&self.latencies_minutes, q)
    }

    /// The `q` quantile (0-1) of the absolute onset error in minutes.
    pub fn onset_error_quantile(&self, q: f64) -> Option<f64> {
        let errors: Vec<f64> = self.onset_errors_minutes.iter().map(|e| e.abs()).collect();
        quantile(&errors, q)
    }
}

/// The `q` quantile (0-1) of `values`, if any.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[crate::domain::whole_usize((last as f64) * q).min(last)])
}

/// Whether an alarm at `t` falls in (or within an hour after) an unlabelled burst larger than
/// every burst of the series in the four weeks before it.
fn beyond_history(series: &Series, t: i64) -> bool {
    const FOUR_WEEKS: i64 = 28 * 86_400;
    series.bursts.iter().any(|(from, to, size)| {
        t > *from
            && t <= to + GRACE_SECONDS
            && series
                .bursts
                .iter()
                .filter(|(f, _, _)| f < from && *f >= from - FOUR_WEEKS)
                .all(|(_, _, s)| s < size)
    })
}
