//! Rolling closed minute buckets from Redis into 15-minute bins in PostgreSQL.
//!
//! Idempotent by construction: a bin is recomputed from its minutes and merged with GREATEST,
//! so re-runs and concurrent writers agree, and minutes that left Redis (retention, a restart
//! without persistence) never lower what PostgreSQL already holds.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::db::{Db, bins};
use crate::domain::ServiceSlug;
use crate::error::ApiError;
use crate::windows::Windows;
use crate::windows::keys::{BIN_MINUTES, align_down, minute_of, minute_start};

/// Rolls up closed minutes from the last complete bin (at most `retention_minutes` back) up to
/// `closed_until` (exclusive), at most six hours of them per call. Returns the number of
/// non-empty bins written.
pub async fn roll_up(
    db: &Db,
    windows: &Windows,
    services: &[(Uuid, ServiceSlug)],
    closed_until: i64,
    retention_minutes: i64,
) -> Result<usize, ApiError> {
    let earliest = closed_until - retention_minutes;
    // Re-roll the last complete bin too: a report in flight at the boundary lands late.
    let resume = bins::complete_before(db)
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
        return Ok(0);
    }
    let ranges: Vec<(ServiceSlug, i64, i64)> = services
        .iter()
        .map(|(_, slug)| (slug.clone(), from, to))
        .collect();
    let minutes = windows.minutes_many(&ranges).await?;
    let mut rolled: Vec<bins::BinCounts> = Vec::new();
    for ((service_id, _), buckets) in services.iter().zip(minutes) {
        let mut by_bin: BTreeMap<i64, bins::BinCounts> = BTreeMap::new();
        for (offset, bucket) in buckets.iter().enumerate() {
            if bucket.total == 0 {
                continue;
            }
            let bin = align(from + offset as i64);
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
    bins::upsert(db, &rolled).await?;
    bins::set_complete_before(db, minute_start(align(to))).await?;
    Ok(rolled.len())
}

/// Most minutes one rollup pass reads (per service).
const MAX_CATCH_UP_MINUTES: i64 = 6 * 60;

/// The start of the bin containing `minute`.
pub fn align(minute: i64) -> i64 {
    align_down(minute, BIN_MINUTES)
}

fn clamp(count: u64) -> i32 {
    count.min(i32::MAX as u64) as i32
}
