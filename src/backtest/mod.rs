//! `downwatch backtest`: replays a count series through the production model, and with
//! `--labels` scores it against known incidents (`labels`), one file or a folder (`folder`).
//!
//! Input is CSV with the header `timestamp,value`; timestamps are RFC 3339 or
//! `YYYY-MM-DD HH:MM:SS` (UTC). The step is inferred from the data (the most common gap between
//! rows, 1 minute to 1 hour); gaps are allowed. Output repeats each row with the model's
//! baseline, upper bound, level and an alarm flag (1 where an incident opens). A rise that
//! comes back within the reopen window of a resolution continues that incident, as in the
//! monitor: its level leaves `normal` again, but no incident opens there.
//!
//! Missing rows are gaps, not zeros: nothing is learned for them, and persistence rules count
//! rows. Rows before the first non-zero value are not history (as for a new service in the
//! monitor, which sees every minute, zeros included).

use std::io::{BufRead, Write};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::detect::{Detector, Level, Params, Point};

pub mod folder;
pub mod labels;

/// Largest count a row may hold: far above any real service's reports per step, and small
/// enough that the model's sums of squares stay finite.
pub const MAX_VALUE: f64 = 1e9;

/// A problem with the input, at a 1-based line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct InputError {
    /// 1-based line number (the header is line 1).
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// One input row: the timestamp as written, its Unix time, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The timestamp text, echoed to the output.
    pub stamp: String,
    /// Unix seconds.
    pub t: i64,
    /// The count.
    pub value: f64,
}

/// Reads and checks the whole input.
pub fn read_rows(input: impl BufRead) -> Result<Vec<Row>, InputError> {
    let mut rows: Vec<Row> = Vec::new();
    let mut lines = input.lines();
    let header = lines
        .next()
        .transpose()
        .map_err(|e| InputError {
            line: 1,
            message: format!("cannot read: {e}"),
        })?
        .unwrap_or_default();
    let header = header.trim_start_matches('\u{feff}').trim();
    if header.replace(' ', "") != "timestamp,value" {
        return Err(InputError {
            line: 1,
            message: format!("expected the header `timestamp,value`, found {header:?}"),
        });
    }
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        let fail = |message: String| InputError {
            line: number,
            message,
        };
        let line = line.map_err(|e| fail(format!("cannot read: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let (stamp, value) = line
            .split_once(',')
            .ok_or_else(|| fail(format!("expected `timestamp,value`, found {line:?}")))?;
        let stamp = stamp.trim().trim_matches('"');
        let t = parse_time(stamp).ok_or_else(|| {
            fail(format!(
                "cannot read timestamp {stamp:?}; use RFC 3339 or YYYY-MM-DD HH:MM:SS (UTC)"
            ))
        })?;
        let value_text = value.trim().trim_matches('"');
        let value: f64 = value_text
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| {
                fail(format!(
                    "cannot read value {value_text:?}; expected a number"
                ))
            })?;
        if value < 0.0 {
            return Err(fail(format!(
                "value {value_text} is negative; counts are 0 or more"
            )));
        }
        if value > MAX_VALUE {
            return Err(fail(format!(
                "value {value_text} is over {MAX_VALUE:e}; counts are reports per step"
            )));
        }
        if let Some(previous) = rows.last()
            && t <= previous.t
        {
            return Err(fail(format!(
                "timestamp {stamp} is not after the previous row's {}; sort the rows by time",
                previous.stamp
            )));
        }
        rows.push(Row {
            stamp: stamp.to_owned(),
            t,
            value,
        });
    }
    if rows.is_empty() {
        return Err(InputError {
            line: 2,
            message: "no data rows".to_owned(),
        });
    }
    Ok(rows)
}

pub(crate) fn parse_time(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc().timestamp())
}

/// The step in minutes: the most common gap between rows, which must be 1 to 60 minutes.
pub fn infer_step_minutes(rows: &[Row]) -> Result<f64, InputError> {
    let mut gaps: Vec<i64> = rows.windows(2).map(|w| w[1].t - w[0].t).collect();
    if gaps.is_empty() {
        return Err(InputError {
            line: 3,
            message: "need at least two rows to infer the step".to_owned(),
        });
    }
    gaps.sort_unstable();
    let (mut best, mut best_count, mut run) = (gaps[0], 0, 0);
    for (i, gap) in gaps.iter().enumerate() {
        run = if i > 0 && gaps[i - 1] == *gap {
            run + 1
        } else {
            1
        };
        if run > best_count {
            best = *gap;
            best_count = run;
        }
    }
    if !(60..=3600).contains(&best) {
        return Err(InputError {
            line: 2,
            message: format!("the rows are {best} s apart; the step must be 1 minute to 1 hour"),
        });
    }
    Ok(best as f64 / 60.0)
}

/// Runs the model with `params` over `rows` at `step_minutes`.
pub fn run(rows: &[Row], params: Params, step_minutes: f64) -> Vec<Point> {
    let mut detector = Detector::new(params, step_minutes);
    rows.iter()
        .map(|row| detector.step(row.t, row.value))
        .collect()
}

/// Writes the output CSV.
pub fn write_csv(mut out: impl Write, rows: &[Row], points: &[Point]) -> std::io::Result<()> {
    writeln!(out, "timestamp,value,baseline,upper,level,alarm")?;
    for (row, point) in rows.iter().zip(points) {
        writeln!(
            out,
            "{},{},{:.3},{:.3},{},{}",
            row.stamp,
            row.value,
            point.baseline,
            point.upper,
            point.level,
            u8::from(point.opens_incident())
        )?;
    }
    out.flush()
}

/// One incident found by a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Timestamp of the row where it opened.
    pub start: String,
    /// Timestamp of the row with the most reports.
    pub peak: String,
    /// The most reports in one row.
    pub peak_value: f64,
    /// Timestamp of the row where it resolved, if it did.
    pub end: Option<String>,
    /// The highest level reached.
    pub highest: Level,
}

/// The incidents in a run, in order.
pub fn incidents(rows: &[Row], points: &[Point]) -> Vec<Incident> {
    let mut found: Vec<Incident> = Vec::new();
    let mut open: Option<Incident> = None;
    for (row, point) in rows.iter().zip(points) {
        if point.alarm {
            // Back within the reopen window, the last incident continues; otherwise one opens.
            let continued = point.reopen.then(|| found.pop()).flatten();
            open = Some(continued.map_or_else(
                || Incident {
                    start: row.stamp.clone(),
                    peak: row.stamp.clone(),
                    peak_value: row.value,
                    end: None,
                    highest: point.level,
                },
                |incident| Incident {
                    end: None,
                    ..incident
                },
            ));
        }
        if let Some(incident) = open.as_mut() {
            if point.level == Level::Normal {
                incident.end = Some(row.stamp.clone());
                found.extend(open.take());
                continue;
            }
            if row.value > incident.peak_value {
                incident.peak = row.stamp.clone();
                incident.peak_value = row.value;
            }
            incident.highest = incident.highest.max(point.level);
        }
    }
    found.extend(open);
    found
}

/// Unix time `t` as RFC 3339, for messages.
pub fn rfc3339(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0).map_or_else(|| t.to_string(), |d| d.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Result<Vec<Row>, InputError> {
        read_rows(text.as_bytes())
    }

    #[test]
    fn reads_both_timestamp_forms_and_infers_the_step() {
        let input = "timestamp,value\n2025-06-10 06:30:00,3\n2025-06-10T06:35:00Z,4\n2025-06-10 06:45:00,5.5\n2025-06-10 06:50:00,1\n";
        let rows = rows(input).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1].t - rows[0].t, 300);
        assert_eq!(rows[2].value, 5.5);
        assert_eq!(
            infer_step_minutes(&rows).unwrap(),
            5.0,
            "the 10-minute gap is a gap, not the step"
        );
    }

    #[test]
    fn bad_input_names_the_line() {
        assert_eq!(rows("time,count\n").unwrap_err().line, 1);
        assert_eq!(rows("").unwrap_err().line, 1);
        let err = rows("timestamp,value\n2025-06-10 06:30:00,3\nyesterday,4\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("yesterday"));
        let err =
            rows("timestamp,value\n2025-06-10 06:30:00,3\n2025-06-10 06:31:00,many\n").unwrap_err();
        assert_eq!((err.line, err.message.contains("many")), (3, true));
        let err =
            rows("timestamp,value\n2025-06-10 06:31:00,3\n2025-06-10 06:30:00,4\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("not after"));
        let err = rows("timestamp,value\n2025-06-10 06:31:00,-2\n").unwrap_err();
        assert!(err.message.contains("negative"));
        let err = rows("timestamp,value\n2025-06-10 06:31:00,1e300\n").unwrap_err();
        assert!(err.message.contains("is over"), "{err}");
        let err = rows("timestamp,value\n2025-06-10 06:31:00\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn steps_outside_a_minute_to_an_hour_are_refused() {
        let seconds = rows("timestamp,value\n2025-06-10 06:30:00,3\n2025-06-10 06:30:10,3\n2025-06-10 06:30:20,3\n").unwrap();
        assert!(infer_step_minutes(&seconds).is_err());
        let days = rows("timestamp,value\n2025-06-10 00:00:00,3\n2025-06-11 00:00:00,3\n").unwrap();
        assert!(infer_step_minutes(&days).is_err());
    }

    #[test]
    fn output_has_one_row_per_input_row_and_alarms_match_incidents() {
        let series = crate::detect::synthetic::seed_case(3);
        let text: String = std::iter::once("timestamp,value\n".to_owned())
            .chain(
                (0..series.values.len())
                    .map(|i| format!("{},{}\n", rfc3339(series.time(i)), series.values[i])),
            )
            .collect();
        let rows = rows(&text).unwrap();
        let points = run(&rows, Params::default(), infer_step_minutes(&rows).unwrap());
        let mut out = Vec::new();
        write_csv(&mut out, &rows, &points).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), rows.len() + 1);
        assert!(out.starts_with("timestamp,value,baseline,upper,level,alarm\n"));
        let alarms = out.lines().filter(|l| l.ends_with(",1")).count();
        let found = incidents(&rows, &points);
        assert_eq!(alarms, found.len());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].highest, Level::Outage);
        assert!(found[0].peak_value > 100.0);
    }

    /// A rise that comes back within the reopen window continues the incident, as the monitor
    /// continues it: one incident with the dip inside it, one opening in the output.
    #[test]
    fn a_reopened_incident_continues_in_the_output() {
        // (value, level, alarm, reopen) per minute: an incident, a dip, its return, the end.
        let steps = [
            (1.0, Level::Normal, false, false),
            (50.0, Level::Elevated, true, false),
            (80.0, Level::Outage, false, false),
            (2.0, Level::Normal, false, false),
            (60.0, Level::Elevated, true, true),
            (90.0, Level::Elevated, false, false),
            (1.0, Level::Normal, false, false),
            (70.0, Level::Elevated, true, false),
        ];
        let rows: Vec<Row> = (0..steps.len())
            .map(|i| Row {
                stamp: format!("m{i}"),
                t: 60 * i64::try_from(i).unwrap(),
                value: steps[i].0,
            })
            .collect();
        let points: Vec<Point> = rows
            .iter()
            .zip(steps)
            .map(|(row, (value, level, alarm, reopen))| Point {
                t: row.t,
                value,
                baseline: 1.0,
                upper: 10.0,
                level,
                alarm,
                onset: alarm.then_some(row.t),
                evidence: None,
                reopen,
            })
            .collect();
        let found = incidents(&rows, &points);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].start, "m1");
        assert_eq!(found[0].end.as_deref(), Some("m6"));
        assert_eq!(found[0].peak_value, 90.0);
        assert_eq!(found[0].highest, Level::Outage);
        assert_eq!(found[1].start, "m7");
        assert_eq!(found[1].end, None);
        let mut out = Vec::new();
        write_csv(&mut out, &rows, &points).unwrap();
        let out = String::from_utf8(out).unwrap();
        let opened: Vec<&str> = out
            .lines()
            .filter(|l| l.ends_with(",1"))
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(opened, ["m1", "m7"]);
        let labels = [labels::Label { start: 0, end: 180 }];
        let evaluation = labels::evaluate(&points, &labels, 1.0);
        assert_eq!(evaluation.found, 1);
        assert_eq!(
            evaluation.false_incidents, 1,
            "the return is not an opening"
        );
    }
}
