//! Outage curves: report counts per step, stitched from PostgreSQL bins (history) and Redis
//! minutes (recent), with the model's baseline, upper bound and level for each point.
//!
//! The seam is a bin boundary: bins strictly before it come from PostgreSQL, minutes from it on
//! come from Redis, so nothing is counted twice and nothing falls between.

use crate::detect::{Detector, Level, Params};
use crate::time::BIN_MINUTES;

/// The steps a curve can be drawn at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// One minute (recent data only).
    Minute,
    /// Five minutes (recent data only).
    FiveMinutes,
    /// Fifteen minutes: the classic outage chart.
    QuarterHour,
    /// One hour.
    Hour,
}

impl Step {
    /// Parses `1m`, `5m`, `15m` or `1h`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "1m" => Ok(Self::Minute),
            "5m" => Ok(Self::FiveMinutes),
            "15m" => Ok(Self::QuarterHour),
            "1h" => Ok(Self::Hour),
            _ => Err("must be one of 1m, 5m, 15m, 1h".to_owned()),
        }
    }

    /// Minutes per step.
    pub fn minutes(self) -> i64 {
        match self {
            Self::Minute => 1,
            Self::FiveMinutes => 5,
            Self::QuarterHour => 15,
            Self::Hour => 60,
        }
    }

    /// The label used in requests and file names.
    pub fn label(self) -> &'static str {
        match self {
            Self::Minute => "1m",
            Self::FiveMinutes => "5m",
            Self::QuarterHour => "15m",
            Self::Hour => "1h",
        }
    }
}

/// Report counts per minute number, assembled from both stores.
#[derive(Debug, Default)]
pub struct Counts {
    /// `(bin start minute, total)` from PostgreSQL, for bins before `seam`.
    pub bins: Vec<(i64, f64)>,
    /// Totals of consecutive minutes from `seam` on, from Redis.
    pub minutes: Vec<f64>,
    /// First minute served by Redis (a bin boundary).
    pub seam: i64,
}

impl Counts {
    /// Reports per step for steps starting at `from` (aligned) up to `to` (exclusive).
    /// History before the seam at a step shorter than a bin is spread evenly over the bin.
    pub fn per_step(&self, from: i64, to: i64, step: Step) -> Vec<(i64, f64)> {
        let size = step.minutes();
        let mut out: Vec<(i64, f64)> = (0..((to - from) / size))
            .map(|i| (from + i * size, 0.0))
            .collect();
        let index = |minute: i64| -> Option<usize> {
            if (from..to).contains(&minute) {
                usize::try_from((minute - from) / size).ok()
            } else {
                None
            }
        };
        for (bin, total) in &self.bins {
            if *bin >= self.seam {
                continue;
            }
            if size >= BIN_MINUTES {
                if let Some(i) = index(*bin) {
                    out[i].1 += total;
                }
            } else {
                let share = total / BIN_MINUTES as f64;
                for minute in *bin..bin + BIN_MINUTES {
                    if let Some(i) = index(minute) {
                        out[i].1 += share;
                    }
                }
            }
        }
        for (minute, total) in (self.seam..).zip(&self.minutes) {
            if let Some(i) = index(minute) {
                out[i].1 += total;
            }
        }
        out
    }
}

/// One point of a curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Step start, minute number.
    pub minute: i64,
    /// Reports in the step.
    pub reports: f64,
    /// Reports the model expected.
    pub baseline: f64,
    /// Reports above which the step would be significant.
    pub upper: f64,
    /// The model's level after the step.
    pub level: Level,
}

/// Runs the model over `series` (warm-up first) and returns the points from `from` on.
pub fn model(series: &[(i64, f64)], from: i64, step: Step, params: Params) -> Vec<CurvePoint> {
    let mut detector = Detector::new(params, step.minutes() as f64);
    series
        .iter()
        .filter_map(|(minute, reports)| {
            let point = detector.step(minute * 60, *reports);
            (*minute >= from).then_some(CurvePoint {
                minute: *minute,
                reports: *reports,
                baseline: point.baseline,
                upper: point.upper,
                level: point.level,
            })
        })
        .collect()
}

/// Makes a CSV cell safe for spreadsheets: a leading `= + - @` or control character would be
/// run as a formula, so it is prefixed with `'`; quotes and separators are quoted.
pub fn csv_cell(text: &str) -> String {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let cell = if risky {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seam_counts_everything_once() {
        let counts = Counts {
            bins: vec![(0, 30.0), (15, 45.0), (30, 999.0)],
            minutes: vec![1.0; 30],
            seam: 30,
        };
        let quarter = counts.per_step(0, 60, Step::QuarterHour);
        assert_eq!(
            quarter,
            vec![(0, 30.0), (15, 45.0), (30, 15.0), (45, 15.0)],
            "the bin at the seam is Redis's"
        );
        let hour = counts.per_step(0, 60, Step::Hour);
        assert_eq!(hour, vec![(0, 105.0)]);
        let five = counts.per_step(0, 60, Step::FiveMinutes);
        assert_eq!(five.iter().map(|(_, v)| v).sum::<f64>(), 105.0);
        assert_eq!(five[0], (0, 10.0));
    }

    #[test]
    fn spreadsheet_formulas_are_neutralised() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("-5"), "'-5");
        assert_eq!(
            csv_cell("2025-06-10T02:30:00-04:00"),
            "2025-06-10T02:30:00-04:00"
        );
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
    }

    #[test]
    fn steps_parse_and_refuse_others() {
        assert_eq!(Step::parse("15m").unwrap().minutes(), 15);
        assert_eq!(Step::parse("1h").unwrap().label(), "1h");
        assert!(Step::parse("10m").unwrap_err().contains("1m, 5m, 15m, 1h"));
    }
}
