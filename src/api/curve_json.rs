//! The curve's JSON, written straight into the answer's buffer.
//!
//! A curve's body is mostly its points: a time, three numbers and a level each, 96 of them for
//! a day at 15 minutes. Through serde, every point first became a struct holding a formatted
//! time (a `String`), then each key and string went through JSON escaping and each number
//! through a general float formatter: about 30% of the CPU of a curve rendered without the read
//! cache, more than the reads from PostgreSQL, Redis and the model together. Here none of that
//! can need escaping (keys, levels and RFC 3339 times are plain ASCII) and every number is
//! rounded to hundredths, so the body is written with a few digit loops.
//!
//! The output is byte for byte what `serde_json::to_vec(&CurveBody::of(curve))` gives (the
//! tests compare both), so [`super::curve::CurveBody`] stays the documented schema. Anything
//! outside the fast path (a service name, which may need escaping; a number of ten billion
//! or more, or not a number; a year or zone offset RFC 3339 cannot give in the usual form) goes
//! through serde or chrono as before.

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

use crate::query::curve::Curve;
use crate::time::minute_start;

/// The JSON body of `curve`.
pub fn body(curve: &Curve) -> Vec<u8> {
    // A point takes about 95 bytes; the header under 200.
    let mut out = Vec::with_capacity(200 + curve.points.len() * 100);
    out.extend_from_slice(b"{\"service\":");
    string(&mut out, &curve.slug);
    out.extend_from_slice(b",\"name\":");
    string(&mut out, &curve.name);
    out.extend_from_slice(b",\"step\":");
    string(&mut out, curve.step.label());
    out.extend_from_slice(b",\"tz\":");
    string(&mut out, curve.zone.name());
    out.extend_from_slice(b",\"from\":\"");
    stamp(&mut out, curve.from, curve.zone);
    out.extend_from_slice(b"\",\"to\":\"");
    stamp(&mut out, curve.to, curve.zone);
    out.extend_from_slice(b"\",\"points\":[");
    for (i, point) in curve.points.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"t\":\"");
        stamp(&mut out, point.minute, curve.zone);
        out.extend_from_slice(b"\",\"reports\":");
        hundredths(&mut out, point.reports);
        out.extend_from_slice(b",\"baseline\":");
        hundredths(&mut out, point.baseline);
        out.extend_from_slice(b",\"upper\":");
        hundredths(&mut out, point.upper);
        out.extend_from_slice(b",\"level\":\"");
        out.extend_from_slice(point.level.as_str().as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"]}");
    out
}

/// A JSON string, escaped by serde.
fn string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("a string serializes into a Vec");
}

/// `minute`'s start in `zone`, RFC 3339 to the second, `Z` for a zero offset: what
/// `to_rfc3339_opts(SecondsFormat::Secs, true)` writes.
pub fn stamp(out: &mut Vec<u8>, minute: i64, zone: Tz) {
    let offset = if zone == Tz::UTC {
        0
    } else {
        let utc = minute_start(minute).naive_utc();
        zone.offset_from_utc_datetime(&utc).fix().local_minus_utc()
    };
    let local = minute + i64::from(offset.div_euclid(60));
    let (year, month, day) = civil_date(local.div_euclid(1440));
    if !(0..=9999).contains(&year) || offset % 60 != 0 {
        // Not the usual form (chrono writes these years with a sign, offsets with seconds).
        let text = minute_start(minute)
            .with_timezone(&zone)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let of_day = local.rem_euclid(1440);
    let mut text = *b"0000-00-00T00:00:00+00:00";
    put(&mut text[0..2], year / 100);
    put(&mut text[2..4], year % 100);
    put(&mut text[5..7], month);
    put(&mut text[8..10], day);
    put(&mut text[11..13], of_day / 60);
    put(&mut text[14..16], of_day % 60);
    if offset == 0 {
        text[19] = b'Z';
        out.extend_from_slice(&text[..20]);
        return;
    }
    if offset < 0 {
        text[19] = b'-';
    }
    let minutes = i64::from(offset.unsigned_abs() / 60);
    put(&mut text[20..22], minutes / 60);
    put(&mut text[23..25], minutes % 60);
    out.extend_from_slice(&text);
}

/// The year, month and day of a day number (days since 1970-01-01), in the proleptic
/// Gregorian calendar: Howard Hinnant's `civil_from_days`.
fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `n` (under 100) as the two digits of `slot`.
fn put(slot: &mut [u8], n: i64) {
    debug_assert!((0..100).contains(&n));
    let n = u8::try_from(n).unwrap_or(0);
    slot[0] = b'0' + n / 10;
    slot[1] = b'0' + n % 10;
}

/// Beyond this many hundredths (ten billion reports) a number goes through serde. Below it the
/// f64 nearest `n / 100` has `n / 100` written out as its shortest form, which is what serde
/// writes; the tests check it at every magnitude up to here.
const EXACT_HUNDREDTHS: f64 = 1e12;

/// `x` rounded to hundredths, as serde writes an f64 holding that rounding: the shortest
/// decimal, with `.0` on a whole number (`67.0`, `70.36`, `126.5`).
pub fn hundredths(out: &mut Vec<u8>, x: f64) {
    let scaled = (x * 100.0).round();
    let exact = scaled.abs() < EXACT_HUNDREDTHS; // false for NaN too
    if !exact || scaled == 0.0 && x.is_sign_negative() {
        // Too large (or not a number, or a negative zero): serde's own form.
        serde_json::to_writer(out, &(scaled / 100.0)).expect("a number serializes into a Vec");
        return;
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "scaled is a whole number under 1e12 in magnitude"
    )]
    let scaled = scaled as i64;
    if scaled < 0 {
        out.push(b'-');
    }
    let magnitude = scaled.unsigned_abs();
    out.extend_from_slice(itoa::Buffer::new().format(magnitude / 100).as_bytes());
    out.push(b'.');
    let cents = u32::try_from(magnitude % 100).unwrap_or(0);
    out.push(b'0' + u8::try_from(cents / 10).unwrap_or(0));
    if cents % 10 != 0 {
        out.push(b'0' + u8::try_from(cents % 10).unwrap_or(0));
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::detect::Level;
    use crate::query::points::{CurvePoint, Step};
    use crate::time::minute_of;

    fn through_serde(curve: &Curve) -> String {
        serde_json::to_string(&super::super::curve::CurveBody::of(curve)).unwrap()
    }

    fn curve(name: &str, zone: Tz, from: i64, values: &[f64]) -> Curve {
        let levels = [Level::Normal, Level::Elevated, Level::Outage];
        let points = values
            .iter()
            .enumerate()
            .map(|(i, v)| CurvePoint {
                minute: from + 15 * i64::try_from(i).unwrap(),
                reports: *v,
                baseline: v / 3.0,
                upper: v * 1.7 + 0.005,
                level: levels[i % 3],
            })
            .collect::<Vec<_>>();
        Curve {
            slug: "chatgpt".into(),
            name: name.into(),
            service_id: uuid::Uuid::nil(),
            step: Step::QuarterHour,
            zone,
            from,
            to: from + 15 * i64::try_from(values.len()).unwrap(),
            points,
            closed: false,
        }
    }

    #[test]
    fn the_body_is_what_serde_writes() {
        let values = [
            0.0,
            0.004,
            0.005,
            0.05,
            0.1,
            1.0,
            67.0,
            70.356,
            126.5,
            999.995,
            1e6 + 0.01,
            123_456_789.12,
            -3.2,
            -0.001,
            1e10 - 0.01,
            1e10,
            3.5e13,
            f64::NAN,
            f64::INFINITY,
        ];
        let june = minute_of(Utc.with_ymd_and_hms(2025, 6, 10, 6, 36, 0).unwrap());
        for (name, zone) in [
            ("ChatGPT", Tz::UTC),
            ("Chat \"GPT\" \\ é \u{1}", Tz::America__New_York),
            ("x", Tz::Asia__Kolkata),
        ] {
            let c = curve(name, zone, june, &values);
            let body = String::from_utf8(body(&c)).unwrap();
            assert_eq!(body, through_serde(&c));
        }
    }

    #[test]
    fn numbers_at_every_magnitude_are_written_as_serde_writes_them() {
        let mut x = 0.001_f64;
        while x < 1.2e10 {
            for v in [x, x * 1.000_37, x * 2.913_7, -x] {
                let mut ours = Vec::new();
                hundredths(&mut ours, v);
                let theirs = serde_json::to_string(&((v * 100.0).round() / 100.0)).unwrap();
                assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{v}");
            }
            x *= 1.37;
        }
    }

    #[test]
    fn times_are_what_chrono_writes_in_every_kind_of_zone() {
        let zones = [
            Tz::UTC,
            Tz::America__New_York,
            Tz::America__St_Johns,
            Tz::Asia__Kolkata,
            Tz::Pacific__Chatham,
            Tz::Europe__London,
            Tz::Africa__Monrovia,
        ];
        let starts = [
            Utc.with_ymd_and_hms(1960, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2025, 3, 9, 5, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2025, 10, 26, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2000, 2, 28, 12, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2100, 2, 28, 12, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 20, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
        ];
        for zone in zones {
            for start in starts {
                for step in 0..200 {
                    let minute = minute_of(start) + 15 * step;
                    let mut ours = Vec::new();
                    stamp(&mut ours, minute, zone);
                    let theirs = minute_start(minute)
                        .with_timezone(&zone)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    assert_eq!(String::from_utf8(ours).unwrap(), theirs);
                }
            }
        }
    }

    #[test]
    fn day_numbers_give_chronos_dates() {
        use chrono::{Datelike, NaiveDate};
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for days in (-600_000..3_000_000).step_by(7) {
            let date = epoch + chrono::TimeDelta::days(days);
            let expected = (
                i64::from(date.year()),
                i64::from(date.month()),
                i64::from(date.day()),
            );
            assert_eq!(civil_date(days), expected, "{days}");
        }
    }
}
