//! Time arithmetic on minute numbers (minutes since the Unix epoch), the unit of Redis
//! buckets, PostgreSQL bins and curve steps, and the parsing of time zones.
//!
//! Storage, the engines and the queries all count in minute numbers so that alignment to
//! 1-, 5-, 15- and 60-minute steps is integer arithmetic, never a calendar question.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Minutes per PostgreSQL bin (the classic outage chart's step).
pub const BIN_MINUTES: i64 = 15;

/// The start of the `size`-minute step containing `minute`.
pub fn align_down(minute: i64, size: i64) -> i64 {
    minute - minute.rem_euclid(size)
}

/// The first `size`-minute step boundary at or after `minute`.
pub fn align_up(minute: i64, size: i64) -> i64 {
    align_down(minute + size - 1, size)
}

/// The first minute boundary at or after `t` (a range ending at `t` covers the minute `t` is in).
pub fn minute_ceil(t: DateTime<Utc>) -> i64 {
    minute_of(t) + i64::from(t.timestamp().rem_euclid(60) != 0 || t.timestamp_subsec_nanos() != 0)
}

/// Minutes since the Unix epoch of the minute containing `t`.
pub fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

/// The start of minute number `minute`.
pub fn minute_start(minute: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(minute * 60, 0)
        .single()
        .expect("minute in chrono's range")
}

/// Parses an IANA zone name (`America/New_York`), saying what is wanted otherwise.
pub fn parse_zone(raw: &str) -> Result<Tz, String> {
    raw.parse::<Tz>().map_err(|_| {
        format!("{raw:?} is not an IANA time zone; use a name like America/New_York or UTC")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_floor_toward_the_past() {
        let t = Utc.with_ymd_and_hms(2025, 6, 10, 6, 36, 59).unwrap();
        assert_eq!(
            minute_start(minute_of(t)),
            Utc.with_ymd_and_hms(2025, 6, 10, 6, 36, 0).unwrap()
        );
        let before_epoch = Utc.timestamp_opt(-1, 0).unwrap();
        assert_eq!(minute_of(before_epoch), -1);
    }
}
