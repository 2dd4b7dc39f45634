//! `GET /v1/services/{slug}/chart.svg` and `GET /v1/incidents/{id}/chart.svg`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use super::AppState;
use super::curve::{Curve, CurveQuery, load, rendered};
use super::read_cache::Rendered;
use crate::chart::{Bar, Chart, render};
use crate::db::incidents;
use crate::error::ApiError;
use crate::windows::keys::minute_start;

const ATTRIBUTION: &str = "Source: downwatch, crowd-sourced user reports";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/services/{slug}/chart.svg").get(service_chart))
        .service(super::resource("/v1/incidents/{id}/chart.svg").get(incident_chart));
}

#[derive(Deserialize)]
struct ChartQuery {
    range: Option<String>,
    step: Option<String>,
    tz: Option<String>,
}

/// `90m`, `24h`, `7d` → minutes, from 1 hour to 90 days.
fn parse_range(raw: &str) -> Result<i64, String> {
    super::parse_duration(raw, 60, 90 * 1440, "6h, 24h or 7d")
}

/// The step a chart of `minutes` reads best at.
fn step_for(minutes: i64) -> &'static str {
    if minutes <= 180 {
        "1m"
    } else if minutes <= 2880 {
        "15m"
    } else {
        "1h"
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
            Bar {
                label,
                reports: p.reports,
                baseline: p.baseline,
                upper: p.upper,
                level: p.level,
                in_incident,
            }
        })
        .collect()
}

fn subtitle(curve: &Curve) -> String {
    let from = minute_start(curve.from).with_timezone(&curve.zone);
    let to = minute_start(curve.to).with_timezone(&curve.zone);
    format!(
        "Reports per {} step, {} to {} ({})",
        curve.step.label(),
        from.format("%b %-d, %Y %-I:%M %p"),
        to.format("%b %-d, %Y %-I:%M %p %Z"),
        curve.zone.name()
    )
}

fn svg(curve: &Curve, chart: &Chart) -> Rendered {
    rendered(curve, render(chart), "image/svg+xml")
}

#[utoipa::path(get, path = "/v1/services/{slug}/chart.svg", tag = "charts", params(("slug" = String, Path), ("range" = Option<String>, Query, description = "1h to 90d, default 24h"), ("step" = Option<String>, Query), ("tz" = Option<String>, Query)), responses((status = 200, body = String, content_type = "image/svg+xml"), (status = 400, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn service_chart(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ChartQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state
        .read_cache
        .respond(
            &req,
            format!(
                "chart.svg|{}|{:?}|{:?}|{:?}",
                path.as_str(),
                query.range,
                query.step,
                query.tz
            ),
            || service_svg(&state, path.into_inner(), query.into_inner()),
        )
        .await
}

async fn service_svg(
    state: &web::Data<AppState>,
    slug: String,
    query: ChartQuery,
) -> Result<Rendered, ApiError> {
    let minutes = match query.range.as_deref() {
        Some(raw) => parse_range(raw).map_err(|e| ApiError::field("range", e))?,
        None => 24 * 60,
    };
    let now = state.clock.now();
    let curve = load(
        state,
        &slug,
        CurveQuery {
            from: None,
            to: None,
            step: Some(query.step.unwrap_or_else(|| step_for(minutes).to_owned())),
            tz: query.tz,
            span_minutes: Some(minutes),
        },
    )
    .await?;
    let spans: Vec<_> = incidents::for_service_between(
        &state.db,
        curve.service_id,
        minute_start(curve.from),
        minute_start(curve.to),
    )
    .await?
    .into_iter()
    .map(|i| (i.started_at, i.ended_at))
    .collect();
    let chart = Chart {
        title: format!("{}: user-reported problems", curve.name),
        subtitle: subtitle(&curve),
        attribution: ATTRIBUTION.to_owned(),
        bars: bars(&curve, &spans, now),
    };
    Ok(svg(&curve, &chart))
}

#[derive(Deserialize)]
struct IncidentChartQuery {
    tz: Option<String>,
}

#[utoipa::path(get, path = "/v1/incidents/{id}/chart.svg", tag = "charts", params(("id" = uuid::Uuid, Path), ("tz" = Option<String>, Query)), responses((status = 200, body = String, content_type = "image/svg+xml"), (status = 404, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn incident_chart(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<IncidentChartQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = super::incident_id(&path)?;
    state
        .read_cache
        .respond(&req, format!("incident.svg|{id}|{:?}", query.tz), || {
            incident_svg(&state, id, query.into_inner().tz)
        })
        .await
}

async fn incident_svg(
    state: &web::Data<AppState>,
    id: uuid::Uuid,
    tz: Option<String>,
) -> Result<Rendered, ApiError> {
    let zone = super::incidents::zone_param(tz.as_deref())?;
    let (incident, service) = super::incidents::find_or_404(state, id).await?;
    let now = state.clock.now();
    let (from, to, step) = incident_range(&incident, now);
    let curve = load(
        state,
        &service.slug,
        CurveQuery {
            from: Some(from.to_rfc3339()),
            to: Some(to.to_rfc3339()),
            step: Some(step.to_owned()),
            tz,
            span_minutes: None,
        },
    )
    .await?;
    let chart = Chart {
        title: super::incidents::incident_headline(&incident, &service, zone),
        subtitle: subtitle(&curve),
        attribution: ATTRIBUTION.to_owned(),
        bars: bars(&curve, &[(incident.started_at, incident.ended_at)], now),
    };
    Ok(svg(&curve, &chart))
}

/// What an incident's chart (and its CSV) covers: two hours either side, up to now, and the
/// step that reads best over that span.
pub fn incident_range(
    incident: &incidents::Incident,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>, &'static str) {
    let from = incident.started_at - TimeDelta::hours(2);
    let to = (incident.ended_at.unwrap_or(now) + TimeDelta::hours(2)).min(now);
    let minutes = (to - from).num_minutes().max(60);
    (from, to, if minutes <= 2880 { "15m" } else { "1h" })
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
        assert_eq!(step_for(60), "1m");
        assert_eq!(step_for(1440), "15m");
        assert_eq!(step_for(90 * 1440), "1h");
    }
}
