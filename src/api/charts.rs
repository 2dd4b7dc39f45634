//! `GET /v1/services/{slug}/chart.svg` and `GET /v1/incidents/{id}/chart.svg`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use chrono_tz::Tz;

use super::curve::rendered;
use crate::chart::{Bar, Chart, render};
use crate::domain::ServiceSlug;
use crate::error::{ApiError, FieldErrors};
use crate::http::params::{incident_id, parse_duration, slug_param, zone_param};
use crate::http::read_cache::Rendered;
use crate::http::{AppState, resource};
use crate::query::curve::{Curve, CurveRequest, for_incident, load};
use crate::query::headline::incident_headline;
use crate::query::points::Step;
use crate::query::{Reads, incidents};
use crate::time::{minute_start, parse_zone};

const ATTRIBUTION: &str = "Source: downwatch, crowd-sourced user reports";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/services/{slug}/chart.svg").get(service_chart))
        .service(resource("/v1/incidents/{id}/chart.svg").get(incident_chart));
}

#[derive(Deserialize)]
struct ChartQuery {
    range: Option<String>,
    step: Option<String>,
    tz: Option<String>,
}

/// `90m`, `24h`, `7d` → minutes, from 1 hour to 90 days.
fn parse_range(raw: &str) -> Result<i64, String> {
    parse_duration(raw, 60, 90 * 1440, "6h, 24h or 7d")
}

/// The step a chart of `minutes` reads best at.
fn step_for(minutes: i64) -> Step {
    if minutes <= 180 {
        Step::Minute
    } else if minutes <= 2880 {
        Step::QuarterHour
    } else {
        Step::Hour
    }
}

/// Turns a curve into chart bars, shading the steps any of `spans` covers.
fn bars(
    curve: &Curve,
    spans: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
    now: DateTime<Utc>,
) -> Vec<Bar> {
    let long = curve.to - curve.from > 2 * 1440;
    let step = TimeDelta::minutes(curve.step.minutes());
    let every = tick_minutes(curve.to - curve.from, curve.step.minutes());
    curve
        .points
        .iter()
        .map(|p| {
            let start = minute_start(p.minute);
            let local = start.with_timezone(&curve.zone);
            let label = if long {
                local.format("%b %-d").to_string()
            } else {
                local.format("%-I:%M %p").to_string()
            };
            let in_incident = spans
                .iter()
                .any(|(from, to)| *from < start + step && to.unwrap_or(now) > start);
            // Minutes since the epoch on the local wall clock: ticks fall on local round times.
            let wall = local.naive_local().and_utc().timestamp().div_euclid(60);
            Bar {
                label,
                reports: p.reports,
                baseline: p.baseline,
                upper: p.upper,
                level: p.level,
                in_incident,
                tick: wall.rem_euclid(every) == 0,
            }
        })
        .collect()
}

/// The round interval between time-axis labels: the shortest of 15 minutes, 30 minutes, 1, 2,
/// 3, 4, 6 or 12 hours, or 1, 2, 7 or 14 days that gives at most about seven labels over
/// `span` minutes, and a whole number of steps of `step` minutes.
fn tick_minutes(span: i64, step: i64) -> i64 {
    const ROUND: [i64; 12] = [
        15, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 10080, 20160,
    ];
    ROUND
        .into_iter()
        .find(|every| span / every <= 7 && every % step.max(1) == 0)
        .unwrap_or(20160)
}

/// The range and zone: `Reports per 15m step, Jun 9, 2025 2:45 AM to Jun 10, 2025 2:45 AM EDT
/// (America/New_York)`; the zone's name is left out when its abbreviation says it (`UTC`).
fn subtitle(curve: &Curve) -> String {
    let from = minute_start(curve.from).with_timezone(&curve.zone);
    let to = minute_start(curve.to).with_timezone(&curve.zone);
    let abbreviation = to.format("%Z").to_string();
    let name = curve.zone.name();
    let zone = if abbreviation == name {
        String::new()
    } else {
        format!(" ({name})")
    };
    format!(
        "Reports per {} step, {} to {} {abbreviation}{zone}",
        curve.step.label(),
        from.format("%b %-d, %Y %-I:%M %p"),
        to.format("%b %-d, %Y %-I:%M %p"),
    )
}

fn svg(curve: &Curve, chart: &Chart) -> Rendered {
    rendered(curve, render(chart).into_bytes(), "image/svg+xml")
}

/// The 24-hour (or `range`) chart of a service, as SVG.
#[utoipa::path(get, path = "/v1/services/{slug}/chart.svg", tag = "charts", params(("slug" = String, Path), ("range" = Option<String>, Query, description = "1h to 90d, default 24h"), ("step" = Option<String>, Query), ("tz" = Option<String>, Query)), responses((status = 200, body = String, content_type = "image/svg+xml"), (status = 400, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn service_chart(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ChartQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug_param(&path)?;
    let request = parse(query.into_inner())?;
    let key = format!("chart.svg|{slug}|{request:?}");
    state
        .read_cache
        .respond(&req, key, || service_svg(&state.reads, slug, request))
        .await
}

/// Parses a chart request, naming every bad parameter at once.
fn parse(query: ChartQuery) -> Result<CurveRequest, ApiError> {
    let mut errors = FieldErrors::default();
    let minutes = errors
        .optional("range", query.range, |r| parse_range(&r))
        .unwrap_or(24 * 60);
    let step = errors.optional("step", query.step, |s| Step::parse(&s));
    let zone = errors.optional("tz", query.tz, |z| parse_zone(&z));
    errors.finish().map_err(ApiError::Invalid)?;
    Ok(CurveRequest {
        from: None,
        to: None,
        step: step.unwrap_or_else(|| step_for(minutes)),
        zone: zone.unwrap_or(Tz::UTC),
        span_minutes: minutes,
    })
}

async fn service_svg(
    reads: &Reads,
    slug: ServiceSlug,
    request: CurveRequest,
) -> Result<Rendered, ApiError> {
    let curve = load(reads, &slug, request).await?;
    let spans = incidents::spans(
        reads,
        curve.service_id,
        minute_start(curve.from),
        minute_start(curve.to),
    )
    .await?;
    let chart = Chart {
        title: format!("{}: user-reported problems", curve.name),
        subtitle: subtitle(&curve),
        attribution: ATTRIBUTION.to_owned(),
        bars: bars(&curve, &spans, reads.clock.now()),
    };
    Ok(svg(&curve, &chart))
}

#[derive(Deserialize)]
struct IncidentChartQuery {
    tz: Option<String>,
}

/// The chart of an incident (two hours either side), titled with its headline, as SVG.
#[utoipa::path(get, path = "/v1/incidents/{id}/chart.svg", tag = "charts", params(("id" = uuid::Uuid, Path), ("tz" = Option<String>, Query)), responses((status = 200, body = String, content_type = "image/svg+xml"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn incident_chart(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<IncidentChartQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = incident_id(&path)?;
    let zone = zone_param(query.tz.as_deref())?;
    state
        .read_cache
        .respond(&req, format!("incident.svg|{id}|{zone:?}"), || {
            incident_svg(&state.reads, id, zone)
        })
        .await
}

async fn incident_svg(reads: &Reads, id: uuid::Uuid, zone: Tz) -> Result<Rendered, ApiError> {
    let (incident, service) = incidents::find(reads, id).await?;
    let slug = slug_param(&service.slug)?;
    let curve = for_incident(reads, &incident, &slug, zone).await?;
    let chart = Chart {
        title: incident_headline(&incident, &service.name, zone),
        subtitle: subtitle(&curve),
        attribution: ATTRIBUTION.to_owned(),
        bars: bars(
            &curve,
            &[(incident.began_at, incident.ended_at)],
            reads.clock.now(),
        ),
    };
    Ok(svg(&curve, &chart))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_their_steps() {
        assert_eq!(parse_range("24h").unwrap(), 1440);
        assert_eq!(parse_range("90d").unwrap(), 90 * 1440);
        assert_eq!(parse_range("90m").unwrap(), 90);
        for bad in [
            "",
            "h",
            "30m",
            "91d",
            "1w",
            "-3h",
            "x24h",
            "1é",
            "99999999999999999d",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
        assert_eq!(step_for(60), Step::Minute);
        assert_eq!(step_for(1440), Step::QuarterHour);
        assert_eq!(step_for(90 * 1440), Step::Hour);
    }
}
