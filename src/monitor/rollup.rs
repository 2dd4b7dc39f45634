//! Rolling closed minute buckets from Redis into 15-minute bins in PostgreSQL.
//!
//! Idempotent by construction: a bin is recomputed from its minutes and merged with GREATEST,
//! so re-runs and concurrent writers agree, and minutes that left Redis (retention, a restart
//! without persistence) never lower what PostgreSQL already holds.
//!
//! The watermark ("every bin before this is complete") belongs to a scope: one leader's over
//! every service, or, with the services in shards, each shard's over its own services (see
//! `db::shard_progress`). Each shard holder rolls up its shards one by one, each from its own
//! watermark, so a shard taken over resumes where its last holder stopped, and the bins of a
//! service are written by the one holder of its shard.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::shard_progress::{self, Scope};
use crate::db::{Db, bins};
use crate::domain::ServiceSlug;
use crate::store::StoreError;
use crate::time::{BIN_MINUTES, align_down, minute_of, minute_start};
use crate::windows::{MinuteBucket, Windows};

/// Rolls up closed minutes of `services` (those of `scope`) from the last complete bin (at most
/// `retention_minutes` back) up to `closed_until` (exclusive), at most six hours of them per
/// call. Returns the number of non-empty bins written and the minute it rolled up to
/// (`closed_until` once caught up).
pub async fn roll_up(
    db: &Db,
    windows: &Windows,
    scope: Scope,
    services: &[(Uuid, ServiceSlug)],
    closed_until: i64,
    retention_minutes: i64,
) -> Result<(usize, i64), StoreError> {
    let earliest = closed_until - retention_minutes;
    // Re-roll the last complete bin too: a report in flight at the boundary lands late.
    let resume = shard_progress::complete_before(db, scope)
        .await?
        .map(|t| minute_of(t) - BIN_MINUTES);
    let from = match resume {
        Some(resume) if resume < closed_until => resume.max(earliest),
        // The clock went back: roll the last hour again rather than wait for it to catch up.
        Some(_) => (closed_until - 60).max(earliest),
        None => earliest,
    };
    let from = align(from);
    // Catch up a long backlog a few hours per call, so one tick never outlasts the lease.
    let to = closed_until.min(from + MAX_CATCH_UP_MINUTES);
    if from >= to {
        return Ok((0, closed_until));
    }
    let ranges: Vec<(ServiceSlug, i64, i64)> = services
        .iter()
        .map(|(_, slug)| (slug.clone(), from, to))
        .collect();
    let minutes = windows.minutes_many(&ranges).await?;
    // Bins rolled again may grow: readings from there on are read again (only a clock set
    // back brings the rollup before them).
    shard_progress::invalidate_from(db, scope, minute_start(from)).await?;
    let mut rolled: Vec<bins::BinCounts> = Vec::new();
    for ((service_id, _), buckets) in services.iter().zip(minutes) {
        let mut by_bin: BTreeMap<i64, bins::BinCounts> = BTreeMap::new();
        for (minute, bucket) in (from..).zip(buckets) {
            if bucket.total == 0 {
                continue;
            }
            let bin = align(minute);
            let entry = by_bin.entry(bin).or_insert_with(|| bins::BinCounts {
                service_id: *service_id,
                bin_start: minute_start(bin),
                ..Default::default()
            });
            entry.total += clamp(bucket.total);
            for (kind, count) in &bucket.problems {
                *entry.problems.entry(kind.clone()).or_default() += clamp(*count);
            }
            for (country, count) in &bucket.countries {
                *entry.countries.entry(country.clone()).or_default() += clamp(*count);
            }
        }
        rolled.extend(by_bin.into_values());
    }
    // A transaction (and a deadline) per chunk: a minute's bins of 100,000 services in one
    // transaction missed the default 2 s deadline while PostgreSQL was checkpointing, and the
    // failure cost the tick its warm-up. Bins only grow, so a chunk written before a failure
    // is as right as the retry that writes it again.
    for chunk in rolled.chunks(UPSERT_BINS) {
        bins::upsert(db, chunk).await?;
    }
    shard_progress::set_complete_before(db, scope, minute_start(align(to))).await?;
    Ok((rolled.len(), to))
}

/// Puts back into `minutes` (consecutive, the first at minute `first`) what Redis lost but the
/// stored `bins` (start, total) still hold. Minute counts only grow and bins keep the largest
/// count ever rolled up, so a bin above the sum of its minutes means Redis lost some of them (a
/// restart without persistence, or a bucket past its retention): the difference is spread
/// evenly over the bin's empty minutes (over all of them if none is empty). Only totals come
/// back; the breakdown of the lost minutes stays unknown.
pub fn restore_lost(minutes: &mut [MinuteBucket], first: i64, bins: &[(DateTime<Utc>, i32)]) {
    let len = minutes.len();
    let index = |minute: i64| usize::try_from(minute - first).unwrap_or(0).min(len);
    for (start, total) in bins {
        let bin = minute_of(*start);
        let (from, to) = (index(bin), index(bin + BIN_MINUTES));
        if from >= to {
            continue;
        }
        let span = &mut minutes[from..to];
        let kept: u64 = span.iter().map(|m| m.total).sum();
        let Some(lost) = u64::try_from(*total).ok().and_then(|t| t.checked_sub(kept)) else {
            continue;
        };
        if lost == 0 {
            continue;
        }
        let empty = span.iter().filter(|m| m.total == 0).count();
        let targets: Vec<&mut MinuteBucket> = span
            .iter_mut()
            .filter(|m| empty == 0 || m.total == 0)
            .collect();
        let (each, extra) = (lost / targets.len() as u64, lost % targets.len() as u64);
        for (i, minute) in targets.into_iter().enumerate() {
            minute.total += each + u64::from((i as u64) < extra);
        }
    }
}

/// Most minutes one rollup pass reads (per service).
const MAX_CATCH_UP_MINUTES: i64 = 6 * 60;

/// Bins written in one transaction.
const UPSERT_BINS: usize = 2_000;

/// The start of the bin containing `minute`.
pub fn align(minute: i64) -> i64 {
    align_down(minute, BIN_MINUTES)
}

fn clamp(count: u64) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(totals: &[u64]) -> Vec<MinuteBucket> {
        totals
            .iter()
            .zip(0..)
            .map(|(total, i)| MinuteBucket {
                t: minute_start(i),
                total: *total,
                problems: BTreeMap::new(),
                countries: BTreeMap::new(),
            })
            .collect()
    }

    fn totals(minutes: &[MinuteBucket]) -> Vec<u64> {
        minutes.iter().map(|m| m.total).collect()
    }

    #[test]
    fn lost_minutes_come_back_from_the_bins_and_kept_ones_stay() {
        // Bin 0 intact; bin 15 lost its first ten minutes; bin 30 lost everything and is
        // only partly in the window.
        let mut replay = minutes(&[[2; 15].as_slice(), &[0; 10], &[3; 5], &[0; 5]].concat());
        let bins = [
            (minute_start(0), 30),
            (minute_start(15), 15 + 42),
            (minute_start(30), 17),
        ];
        restore_lost(&mut replay, 0, &bins);
        let restored = totals(&replay);
        assert_eq!(&restored[..15], &[2; 15]);
        assert_eq!(&restored[15..25], &[5, 5, 4, 4, 4, 4, 4, 4, 4, 4]);
        assert_eq!(&restored[25..30], &[3; 5]);
        assert_eq!(
            &restored[30..],
            &[4, 4, 3, 3, 3],
            "the partial bin holds it all"
        );
        assert_eq!(restored[15..30].iter().sum::<u64>(), 57);
    }

    #[test]
    fn bins_at_or_below_their_minutes_change_nothing() {
        let mut replay = minutes(&[[1; 15].as_slice(), &[0; 15]].concat());
        let before = totals(&replay);
        restore_lost(
            &mut replay,
            0,
            &[(minute_start(0), 15), (minute_start(-15), 99)],
        );
        restore_lost(
            &mut replay,
            0,
            &[(minute_start(0), 3), (minute_start(30), 9)],
        );
        assert_eq!(totals(&replay), before);
    }
}
