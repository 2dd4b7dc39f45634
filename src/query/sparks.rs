//! Every service's reports per 15 minutes over the last day, for the board's sparklines: read
//! for all services at once (one PostgreSQL query for the rolled-up bins, pipelined Redis reads
//! for the minutes after them).
//!
//! Redis is read for at most the last six hours: when rollups lag further behind (no monitor
//! has run), the sparkline shows only those hours rather than make the board slow.

use std::collections::HashMap;

use uuid::Uuid;

use super::points::Step;
use super::{QueryError, Reads};
use crate::domain::ServiceSlug;
use crate::time::{BIN_MINUTES, align_down, align_up};

/// Minutes a sparkline covers.
const SPAN_MINUTES: i64 = 24 * 60;
/// Most recent minutes read from Redis per service.
const REDIS_MINUTES: i64 = 6 * 60;

/// Reports per 15 minutes over the last day, oldest first, for each service.
pub async fn last_day(
    reads: &Reads,
    services: &[(Uuid, ServiceSlug)],
) -> Result<HashMap<Uuid, Vec<f64>>, QueryError> {
    let now = reads.now_minute();
    let to = align_up(now + 1, BIN_MINUTES);
    let from = to - SPAN_MINUTES;
    let floor = align_down(now - REDIS_MINUTES, BIN_MINUTES).max(from);
    let seam = reads.seam(floor, None).await?;
    let elapsed = now + 1 - align_down(now, BIN_MINUTES);
    let counts = reads.totals_many(services, from, now + 1, seam).await?;
    Ok(counts
        .into_iter()
        .map(|(id, counts)| {
            let mut series: Vec<f64> = counts
                .per_step(from, to, Step::QuarterHour)
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            // The quarter hour under way is drawn at its pace so far: its few minutes
            // would otherwise look like a sudden recovery.
            if let Some(last) = series.last_mut() {
                *last *= small(BIN_MINUTES) / small(elapsed);
            }
            (id, series)
        })
        .collect())
}

/// A count of minutes within a bin, as a float.
fn small(minutes: i64) -> f64 {
    f64::from(u8::try_from(minutes.clamp(1, BIN_MINUTES)).unwrap_or(1))
}
