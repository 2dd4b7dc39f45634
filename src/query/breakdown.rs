//! What people report, and from where: counts per problem kind or country over a window, and
//! per step, so "voice mode is still failing after the rest recovered" can be seen.

use std::collections::BTreeMap;

use super::history::{Dimension, totals};
use super::points::Step;
use super::{QueryError, Reads};
use crate::domain::Service;
use crate::domain::ServiceSlug;
use crate::time::align_down;

/// Most points a breakdown series may have.
pub const MAX_POINTS: i64 = 3_000;

/// A breakdown request with its parameters parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BreakdownRequest {
    /// What to count.
    pub dimension: Dimension,
    /// Minutes up to now.
    pub window: i64,
    /// Adds a series at this step.
    pub step: Option<Step>,
}

/// A computed breakdown.
#[derive(Debug, Clone)]
pub struct Breakdown {
    /// The service.
    pub service: Service,
    /// First minute number covered.
    pub from: i64,
    /// End (exclusive), minute number.
    pub to: i64,
    /// Counts over the whole window.
    pub totals: BTreeMap<String, u64>,
    /// Counts per step (step start minute), when a step was asked for.
    pub series: Option<Vec<(i64, BTreeMap<String, u64>)>>,
}

/// Counts of `slug` over the last `request.window` minutes.
pub async fn load(
    reads: &Reads,
    slug: &ServiceSlug,
    request: BreakdownRequest,
) -> Result<Breakdown, QueryError> {
    let service = reads.service(slug)?;
    if let Some(step) = request.step
        && request.window / step.minutes() > MAX_POINTS
    {
        return Err(QueryError::field(
            "step",
            format!(
                "gives more than {MAX_POINTS} points for this window; use a larger step or a shorter window"
            ),
        ));
    }
    let to = reads.now_minute() + 1;
    let from = to - request.window;
    let per_minute = reads
        .per_minute(slug, service.id, from, to, request.dimension)
        .await?;
    let series = request.step.map(|step| {
        let size = step.minutes();
        let first = align_down(from, size);
        let mut series: BTreeMap<i64, BTreeMap<String, u64>> = (0..)
            .map(|i| first + i * size)
            .take_while(|m| *m < to)
            .map(|m| (m, BTreeMap::new()))
            .collect();
        for (minute, counts) in &per_minute {
            let slot = series.entry(align_down(*minute, size)).or_default();
            for (key, count) in counts {
                *slot.entry(key.clone()).or_default() += count;
            }
        }
        series.into_iter().collect()
    });
    Ok(Breakdown {
        service,
        from,
        to,
        totals: totals(&per_minute),
        series,
    })
}

/// The most reported problems and the countries reports came from over `[from, to)`.
pub async fn top_totals(
    reads: &Reads,
    slug: &ServiceSlug,
    service_id: uuid::Uuid,
    from: i64,
    to: i64,
) -> Result<[BTreeMap<String, u64>; 2], QueryError> {
    let problems = reads
        .per_minute(slug, service_id, from, to, Dimension::Problem)
        .await?;
    let countries = reads
        .per_minute(slug, service_id, from, to, Dimension::Country)
        .await?;
    Ok([totals(&problems), totals(&countries)])
}
