//! Outage curves: reports per step over a range, with the model's baseline, upper bound and
//! level for each point, and the range an incident's chart covers.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::points::{CurvePoint, Step, model};
use super::{QueryError, Reads, readings};
use crate::domain::{Incident, ServiceSlug};
use crate::time::{BIN_MINUTES, align_down, align_up, minute_ceil, minute_of};

/// Longest range a curve may cover.
pub const MAX_RANGE_DAYS: i64 = 90;
/// History the model learns from before the first point of a curve at 1 or 5 minutes.
const WARM_UP_DAYS: i64 = crate::detect::readings::WARM_UP_DAYS;

/// A curve request with its parameters parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurveRequest {
    /// Start; default `span_minutes` before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End; default now.
    pub to: Option<DateTime<Utc>>,
    /// The step.
    pub step: Step,
    /// Zone for display.
    pub zone: Tz,
    /// Without `from`: how many minutes before `to` to start.
    pub span_minutes: i64,
}

impl Default for CurveRequest {
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            step: Step::QuarterHour,
            zone: Tz::UTC,
            span_minutes: 24 * 60,
        }
    }
}

/// A computed curve and how it was asked for.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Service slug.
    pub slug: String,
    /// Service display name.
    pub name: String,
    /// Service id.
    pub service_id: uuid::Uuid,
    /// Step.
    pub step: Step,
    /// Zone for display.
    pub zone: Tz,
    /// First step, minute number.
    pub from: i64,
    /// End (exclusive), minute number.
    pub to: i64,
    /// The points.
    pub points: Vec<CurvePoint>,
    /// Whether every point is final (the range ended a while ago).
    pub closed: bool,
}

/// The range in minute numbers a request covers, checked against the limits.
fn range(reads: &Reads, request: &CurveRequest) -> Result<(i64, i64), QueryError> {
    let size = request.step.minutes();
    let now_minute = reads.now_minute();
    let open_end = align_up(now_minute + 1, size);
    let to = request
        .to
        .map_or(open_end, |t| align_up(minute_ceil(t), size).min(open_end));
    let from = align_down(
        request.from.map_or(to - request.span_minutes, minute_of),
        size,
    );
    if from >= to {
        return Err(QueryError::field(
            "from",
            "must be earlier than to (and than now)",
        ));
    }
    if to - from > MAX_RANGE_DAYS * 1440 {
        return Err(QueryError::field(
            "to",
            format!("the range may span at most {MAX_RANGE_DAYS} days"),
        ));
    }
    if size < BIN_MINUTES && from < reads.redis_floor() {
        return Err(QueryError::field(
            "step",
            format!(
                "1m and 5m cover the last {} hours (minute data); use 15m or 1h for older ranges",
                reads.retention_minutes() / 60
            ),
        ));
    }
    Ok((from, to))
}

/// Computes a curve of `slug`. At 15 minutes and an hour its points are the readings stored
/// with the bins, the model running only over steps without one (`readings`); shorter steps
/// (recent minutes only) run the model over the week before them.
pub async fn load(
    reads: &Reads,
    slug: &ServiceSlug,
    request: CurveRequest,
) -> Result<Curve, QueryError> {
    let service = reads.service(slug)?;
    let (from, to) = range(reads, &request)?;
    let size = request.step.minutes();
    let points = if size >= BIN_MINUTES {
        readings::points(reads, service.id, slug, (from, to), request.step).await?
    } else {
        // Short steps show whole minutes, never a bin spread over them.
        let seam = reads
            .seam(reads.redis_floor(), Some(align_down(from, BIN_MINUTES)))
            .await?;
        let data_from = align_down(from - WARM_UP_DAYS * 1440, BIN_MINUTES);
        let counts = reads.totals(service.id, slug, data_from, to, seam).await?;
        let series = counts.per_step(data_from, to, request.step);
        model(&series, from, request.step, reads.detect)
    };
    Ok(Curve {
        slug: service.slug,
        name: service.name,
        service_id: service.id,
        step: request.step,
        zone: request.zone,
        from,
        to,
        points,
        closed: to + BIN_MINUTES <= reads.now_minute(),
    })
}

/// What an incident's chart (and its CSV) covers: two hours either side, up to now, and the
/// step that reads best over that span.
pub fn incident_range(
    incident: &Incident,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>, Step) {
    let from = incident.began_at - TimeDelta::hours(2);
    let to = (incident.ended_at.unwrap_or(now) + TimeDelta::hours(2)).min(now);
    let minutes = (to - from).num_minutes().max(60);
    let step = if minutes <= 2880 {
        Step::QuarterHour
    } else {
        Step::Hour
    };
    (from, to, step)
}

/// The curve behind an incident's chart.
pub async fn for_incident(
    reads: &Reads,
    incident: &Incident,
    slug: &ServiceSlug,
    zone: Tz,
) -> Result<Curve, QueryError> {
    let (from, to, step) = incident_range(incident, reads.clock.now());
    let request = CurveRequest {
        from: Some(from),
        to: Some(to),
        step,
        zone,
        span_minutes: 0,
    };
    load(reads, slug, request).await
}
