//! The Redis key schema.
//!
//! | key | type | holds | expires |
//! | --- | --- | --- | --- |
//! | `{prefix}:{svc:<slug>}:m:<unix minute>` | hash | `t` total, `p:<problem>`, `c:<country>` counts | retention after the last write |
//! | `{prefix}:{svc:<slug>}:d:<reporter key>` | string | time (ms) of the reporter's last counted report | dedup window |
//! | `{prefix}:{svc:<slug>}:status` | string | JSON status the monitor last wrote | 15 minutes |
//!
//! The `{svc:<slug>}` hash tag puts all of a service's keys in one Redis Cluster slot, so the
//! counting script may touch them together. The prefix must not contain braces.

use chrono::{DateTime, TimeZone, Utc};

use crate::domain::ServiceSlug;

/// Builds keys under one prefix (one per deployment, one per test).
#[derive(Debug, Clone)]
pub struct KeySchema {
    prefix: String,
}

impl KeySchema {
    /// A schema whose keys all start with `prefix:`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix, for scans and cleanup.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The bucket of `slug` for the minute starting `minute` minutes after the Unix epoch.
    pub fn bucket(&self, slug: &ServiceSlug, minute: i64) -> String {
        format!("{}:{{svc:{}}}:m:{minute}", self.prefix, slug)
    }

    /// The dedup key of one reporter for one service.
    pub fn dedup(&self, slug: &ServiceSlug, reporter_hex: &str) -> String {
        format!("{}:{{svc:{}}}:d:{reporter_hex}", self.prefix, slug)
    }
}

impl KeySchema {
    /// The monitor's status of one service.
    pub fn status(&self, slug: &ServiceSlug) -> String {
        format!("{}:{{svc:{}}}:status", self.prefix, slug)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_a_cluster_hash_tag_per_service() {
        let keys = KeySchema::new("dw");
        let slug = ServiceSlug::parse("chatgpt").unwrap();
        assert_eq!(
            keys.bucket(&slug, 29_157_996),
            "dw:{svc:chatgpt}:m:29157996"
        );
        assert_eq!(keys.dedup(&slug, "ab12"), "dw:{svc:chatgpt}:d:ab12");
    }

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
