//! Scoring a backtest against labelled incidents: what an operator needs to trust the defaults.
//!
//! Labels are CSV rows `start,end` (RFC 3339, or `YYYY-MM-DD HH:MM:SS` UTC), one per true
//! incident; a header row `start,end` is optional. An incident opened by the model counts as
//! found when it opens inside a label's window (or within one step of its end); every other
//! opening is a false incident.

use std::io::BufRead;

use super::{InputError, parse_time};
use crate::detect::Point;
use crate::detect::score::quantile;

/// One labelled incident, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    pub start: i64,
    pub end: i64,
}

/// Reads labels; rows must have `start` before `end`.
pub fn read_labels(input: impl BufRead) -> Result<Vec<Label>, InputError> {
    let mut labels = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let fail = |message: String| InputError {
            line: number,
            message,
        };
        let line = line.map_err(|e| fail(format!("cannot read: {e}")))?;
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || (number == 1 && line.replace(' ', "") == "start,end") {
            continue;
        }
        let (start, end) = line
            .split_once(',')
            .ok_or_else(|| fail(format!("expected `start,end`, found {line:?}")))?;
        let time = |text: &str| {
            let text = text.trim().trim_matches('"');
            parse_time(text).ok_or_else(|| fail(format!("cannot read time {text:?}")))
        };
        let (start, end) = (time(start)?, time(end)?);
        if end <= start {
            return Err(fail("the end is not after the start".to_owned()));
        }
        labels.push(Label { start, end });
    }
    Ok(labels)
}

/// How a run compares with the labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Labelled incidents.
    pub labelled: usize,
    /// Labelled incidents with an opening inside their window, or the return of an incident
    /// that continues into it (the continued incident covers the label, though the output's
    /// `alarm` column marks no opening there).
    pub found: usize,
    /// Minutes from each found label's start to the end of the step that opened it.
    pub latencies_minutes: Vec<f64>,
    /// Openings outside every label (an alarm that continues the incident before it, as the
    /// monitor continues one that comes back within the reopen window, is not an opening).
    pub false_incidents: usize,
    /// Weeks covered by the input.
    pub weeks: f64,
    /// Estimated onset minus labelled start, in minutes, for each found label.
    pub onset_errors_minutes: Vec<f64>,
    /// Windowed score, 0 (never alarm) to 100 (every label found at its start, nothing else).
    pub score: f64,
}

/// Weight of a false incident against a missed label (the standard profile of the windowed
/// anomaly benchmark).
const FALSE_WEIGHT: f64 = 0.11;

/// Credit for an alarm at relative position `y` in a label window (-1 at its start, 0 at its
/// end): a scaled sigmoid, nearly 1 early, 0 at the end.
fn credit(y: f64) -> f64 {
    2.0 / (1.0 + (5.0 * y).exp()) - 1.0
}

/// Compares the incidents opened in `points` (at `step_minutes`) with `labels`.
pub fn evaluate(points: &[Point], labels: &[Label], step_minutes: f64) -> Evaluation {
    let step = crate::domain::whole(step_minutes * 60.0);
    let mut evaluation = Evaluation {
        labelled: labels.len(),
        weeks: match (points.first(), points.last()) {
            (Some(a), Some(b)) => (b.t + step - a.t) as f64 / 604_800.0,
            _ => 0.0,
        },
        ..Evaluation::default()
    };
    let mut credited = vec![None; labels.len()];
    let mut raw = 0.0;
    for point in points.iter().filter(|p| p.alarm) {
        // The step's data is complete at its end: that is when the incident opens.
        let opened = point.t + step;
        match labels
            .iter()
            .position(|l| opened > l.start && opened <= l.end + step)
        {
            Some(i) if credited[i].is_none() => {
                let label = labels[i];
                let length = (label.end + step - label.start).max(1) as f64;
                let y = (opened - label.start) as f64 / length - 1.0;
                credited[i] = Some(credit(y));
                evaluation.found += 1;
                evaluation
                    .latencies_minutes
                    .push((opened - label.start) as f64 / 60.0);
                if let Some(onset) = point.onset {
                    evaluation
                        .onset_errors_minutes
                        .push((onset - label.start) as f64 / 60.0);
                }
            }
            Some(_) => {}
            None if point.reopen => {}
            None => {
                evaluation.false_incidents += 1;
                raw -= FALSE_WEIGHT;
            }
        }
    }
    raw += credited.iter().map(|c| c.unwrap_or(-1.0)).sum::<f64>();
    let null = -(labels.len() as f64);
    let perfect = labels.len() as f64 * credit(-1.0);
    evaluation.score = if labels.is_empty() {
        if evaluation.false_incidents == 0 {
            100.0
        } else {
            0.0
        }
    } else {
        (100.0 * (raw - null) / (perfect - null)).max(0.0)
    };
    evaluation
}

impl Evaluation {
    /// False incidents per week.
    pub fn false_per_week(&self) -> f64 {
        self.false_incidents as f64 / self.weeks.max(1e-9)
    }

    /// Adds another run's figures (the score is recomputed by the caller as a mean).
    pub fn merge(&mut self, other: &Evaluation) {
        self.labelled += other.labelled;
        self.found += other.found;
        self.latencies_minutes.extend(&other.latencies_minutes);
        self.false_incidents += other.false_incidents;
        self.weeks += other.weeks;
        self.onset_errors_minutes
            .extend(&other.onset_errors_minutes);
    }

    /// One line of figures, as the command prints it.
    pub fn summary(&self) -> String {
        let minutes = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |m| format!("{m:.0} min"));
        let onset: Vec<f64> = self.onset_errors_minutes.iter().map(|e| e.abs()).collect();
        format!(
            "found {}/{} labelled; latency median {}, p90 {}; false incidents {} ({:.2} per week); onset error median {}; windowed score {:.1}",
            self.found,
            self.labelled,
            minutes(quantile(&self.latencies_minutes, 0.5)),
            minutes(quantile(&self.latencies_minutes, 0.9)),
            self.false_incidents,
            self.false_per_week(),
            minutes(quantile(&onset, 0.5)),
            self.score
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Level;

    fn point(t: i64, alarm: bool) -> Point {
        Point {
            t,
            value: 0.0,
            baseline: 0.0,
            upper: 0.0,
            level: Level::Normal,
            alarm,
            onset: alarm.then_some(t - 120),
            evidence: None,
            reopen: false,
        }
    }

    #[test]
    fn reads_labels_with_or_without_a_header() {
        let text = "start,end\n2025-06-10T06:36:00Z,2025-06-10T09:00:00Z\n";
        let labels = read_labels(text.as_bytes()).unwrap();
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].end - labels[0].start, 8640);
        let bare = read_labels("2025-06-10 06:36:00,2025-06-10 07:00:00\n".as_bytes()).unwrap();
        assert_eq!(bare.len(), 1);
        let err = read_labels("start,end\n2025-06-10 07:00:00,2025-06-10 06:00:00\n".as_bytes())
            .unwrap_err();
        assert_eq!(err.line, 2);
        assert!(read_labels("start,end\nsoon,later\n".as_bytes()).is_err());
    }

    #[test]
    fn counts_found_false_latency_onset_and_score() {
        let labels = [
            Label {
                start: 6000,
                end: 9000,
            },
            Label {
                start: 60_000,
                end: 63_000,
            },
        ];
        let points: Vec<Point> = (0..2000)
            .map(|i| i * 60)
            .map(|t| point(t, t == 6120 || t == 30_000))
            .collect();
        let e = evaluate(&points, &labels, 1.0);
        assert_eq!((e.labelled, e.found, e.false_incidents), (2, 1, 1));
        assert_eq!(e.latencies_minutes, vec![3.0]);
        assert_eq!(e.onset_errors_minutes, vec![0.0]);
        assert!((20.0..50.0).contains(&e.score), "score {}", e.score);
        let perfect: Vec<Point> = (0..2000)
            .map(|i| i * 60)
            .map(|t| point(t, t == 6000 || t == 60_000))
            .collect();
        assert!(evaluate(&perfect, &labels, 1.0).score > 99.0);
        let silent: Vec<Point> = (0..2000).map(|i| point(i * 60, false)).collect();
        assert_eq!(evaluate(&silent, &labels, 1.0).score, 0.0);
        assert!(e.summary().contains("found 1/2 labelled"));
    }
}
