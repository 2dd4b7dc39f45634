//! `GET /v1/services/{slug}/curve` and `.../curve.csv`: the outage chart's data.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::curve_json;
use crate::detect::Level;
use crate::error::{ApiError, FieldErrors};
use crate::http::params::{parse_time, slug_param};
use crate::http::read_cache::Rendered;
use crate::http::{AppState, resource};
use crate::query::curve::{Curve, CurveRequest, load};
use crate::query::points::{Step, csv_cell};
use crate::time::{minute_start, parse_zone};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/services/{slug}/curve").get(json_curve))
        .service(resource("/v1/services/{slug}/curve.csv").get(csv_curve));
}

/// A curve request, as query parameters.
#[derive(Deserialize)]
struct CurveQuery {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    tz: Option<String>,
}

/// Parses a curve request, naming every bad parameter at once.
fn parse(query: CurveQuery) -> Result<CurveRequest, ApiError> {
    let mut errors = FieldErrors::default();
    let step = errors.optional("step", query.step, |s| Step::parse(&s));
    let zone = errors.optional("tz", query.tz, |z| parse_zone(&z));
    let from = errors.optional("from", query.from, parse_time);
    let to = errors.optional("to", query.to, parse_time);
    errors.finish().map_err(ApiError::Invalid)?;
    Ok(CurveRequest {
        from,
        to,
        step: step.unwrap_or(Step::QuarterHour),
        zone: zone.unwrap_or(Tz::UTC),
        ..CurveRequest::default()
    })
}

/// One point of a curve.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CurvePointBody {
    /// Step start, with the requested zone's offset.
    t: String,
    /// Reports in the step.
    reports: f64,
    /// Reports the model expected.
    baseline: f64,
    /// The count above which the step alone would be significant.
    upper: f64,
    /// The model's level after the step.
    level: Level,
}

/// An outage curve.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CurveBody {
    /// The service's slug.
    service: String,
    /// Its display name.
    name: String,
    /// `1m`, `5m`, `15m` or `1h`.
    step: &'static str,
    /// The zone times are given in.
    tz: &'static str,
    /// First step's start.
    from: String,
    /// End (exclusive).
    to: String,
    /// The points, oldest first.
    points: Vec<CurvePointBody>,
}

impl CurveBody {
    /// The body through serde: what [`curve_json::body`] writes faster, and is tested against.
    #[cfg(test)]
    pub(super) fn of(curve: &Curve) -> Self {
        Self {
            service: curve.slug.clone(),
            name: curve.name.clone(),
            step: curve.step.label(),
            tz: curve.zone.name(),
            from: stamp(curve.from, curve.zone),
            to: stamp(curve.to, curve.zone),
            points: curve
                .points
                .iter()
                .map(|p| CurvePointBody {
                    t: stamp(p.minute, curve.zone),
                    reports: round2(p.reports),
                    baseline: round2(p.baseline),
                    upper: round2(p.upper),
                    level: p.level,
                })
                .collect(),
        }
    }
}

/// RFC 3339 in `zone`; UTC (and any zero offset) as `Z`, like every other time in the API.
fn stamp(minute: i64, zone: Tz) -> String {
    minute_start(minute)
        .with_timezone(&zone)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A rendered curve with its caching: closed ranges never change; open ones change every
/// minute.
pub fn rendered(curve: &Curve, body: Vec<u8>, content_type: &'static str) -> Rendered {
    let cache_control = if curve.closed {
        "public, max-age=86400"
    } else {
        "public, max-age=15"
    };
    Rendered::new(body, content_type, cache_control)
}

/// Reports per step with the usual volume and its upper bound.
#[utoipa::path(get, path = "/v1/services/{slug}/curve", tag = "queries", params(("slug" = String, Path), ("from" = Option<String>, Query, description = "RFC 3339; default 24 h before to"), ("to" = Option<String>, Query, description = "RFC 3339; default now"), ("step" = Option<String>, Query, description = "1m, 5m, 15m (default) or 1h"), ("tz" = Option<String>, Query, description = "IANA zone, default UTC")), responses((status = 200, body = CurveBody), (status = 304, description = "Not modified (If-None-Match)"), (status = 400, body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn json_curve(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<CurveQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug_param(&path)?;
    let request = parse(query.into_inner())?;
    let key = format!("curve.json|{slug}|{request:?}");
    state
        .read_cache
        .respond(&req, key, || async {
            let curve = load(&state.reads, &slug, request).await?;
            Ok(rendered(
                &curve,
                curve_json::body(&curve),
                "application/json",
            ))
        })
        .await
}

/// The same curve as CSV, for spreadsheets.
#[utoipa::path(get, path = "/v1/services/{slug}/curve.csv", tag = "queries", params(("slug" = String, Path), ("from" = Option<String>, Query), ("to" = Option<String>, Query), ("step" = Option<String>, Query), ("tz" = Option<String>, Query)), responses((status = 200, description = "t,reports,baseline,upper,level", body = String, content_type = "text/csv"), (status = 400, body = crate::error::Problem, content_type = "application/problem+json")))]
async fn csv_curve(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<CurveQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug_param(&path)?;
    let request = parse(query.into_inner())?;
    let key = format!("curve.csv|{slug}|{request:?}");
    state
        .read_cache
        .respond(&req, key, || async {
            let curve = load(&state.reads, &slug, request).await?;
            Ok(csv(&curve))
        })
        .await
}

fn csv(curve: &Curve) -> Rendered {
    let mut body = String::from("t,reports,baseline,upper,level\n");
    for p in &curve.points {
        let row = [
            csv_cell(&stamp(p.minute, curve.zone)),
            csv_cell(&round2(p.reports).to_string()),
            csv_cell(&round2(p.baseline).to_string()),
            csv_cell(&round2(p.upper).to_string()),
            csv_cell(p.level.as_str()),
        ];
        body.push_str(&row.join(","));
        body.push('\n');
    }
    let day = minute_start(curve.from)
        .with_timezone(&curve.zone)
        .format("%Y-%m-%d");
    let filename = format!("{}-{day}-{}.csv", curve.slug, curve.step.label());
    rendered(curve, body.into_bytes(), "text/csv; charset=utf-8").attachment(&filename)
}
