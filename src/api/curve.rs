//! `GET /v1/services/{slug}/curve` and `.../curve.csv`: the outage chart's data.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::read_cache::Rendered;
use super::services::slug_param;
use crate::curve::{Counts, CurvePoint, Step, csv_cell, model};
use crate::db::bins;
use crate::error::{ApiError, FieldErrors};
use crate::headline::parse_zone;
use crate::windows::keys::{
    BIN_MINUTES, align_down, align_up, minute_ceil, minute_of, minute_start,
};

/// Longest range a curve may cover.
const MAX_RANGE_DAYS: i64 = 90;
/// History the model learns from before the first point.
const WARM_UP_DAYS: i64 = 7;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/v1/services/{slug}/curve").get(json_curve))
        .service(super::resource("/v1/services/{slug}/curve.csv").get(csv_curve));
}

/// A curve request, as query parameters.
#[derive(Deserialize, Default)]
pub struct CurveQuery {
    /// Start (RFC 3339).
    pub from: Option<String>,
    /// End (RFC 3339).
    pub to: Option<String>,
    /// `1m`, `5m`, `15m` or `1h`.
    pub step: Option<String>,
    /// IANA zone.
    pub tz: Option<String>,
    /// Without `from`: how many minutes before `to` to start (default a day).
    #[serde(skip)]
    pub span_minutes: Option<i64>,
}

/// A computed curve and how it was asked for.
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

/// Validates a curve request and computes it.
pub async fn load(state: &AppState, slug: &str, query: CurveQuery) -> Result<Curve, ApiError> {
    let slug = slug_param(slug)?;
    let service = super::services::find_or_404(state, &slug)?;
    let mut errors = FieldErrors::default();
    let span = query.span_minutes.unwrap_or(24 * 60);
    let step = errors
        .optional("step", query.step, |s| Step::parse(&s))
        .unwrap_or(Step::QuarterHour);
    let zone = errors
        .optional("tz", query.tz, |z| parse_zone(&z))
        .unwrap_or(Tz::UTC);
    let from = errors.optional("from", query.from, super::parse_time);
    let to = errors.optional("to", query.to, super::parse_time);
    errors.finish().map_err(ApiError::Invalid)?;

    let size = step.minutes();
    let now_minute = minute_of(state.clock.now());
    let open_end = align_up(now_minute + 1, size);
    let to = to.map_or(open_end, |t| align_up(minute_ceil(t), size).min(open_end));
    let from = align_down(from.map_or(to - span, minute_of), size);
    if from >= to {
        return Err(ApiError::field(
            "from",
            "must be earlier than to (and than now)",
        ));
    }
    if to - from > MAX_RANGE_DAYS * 1440 {
        return Err(ApiError::field(
            "to",
            format!("the range may span at most {MAX_RANGE_DAYS} days"),
        ));
    }
    let retention = (state.retention.as_secs() / 60) as i64;
    let redis_from = align_up(now_minute - retention, BIN_MINUTES);
    if size < BIN_MINUTES && from < redis_from {
        return Err(ApiError::field(
            "step",
            format!(
                "1m and 5m cover the last {} hours (minute data); use 15m or 1h for older ranges",
                retention / 60
            ),
        ));
    }
    // Bins before the seam from PostgreSQL, minutes from it on from Redis.
    let complete = bins::complete_before(&state.db).await?.map(minute_of);
    let mut seam = complete
        .map_or(redis_from, |c| align_down(c, BIN_MINUTES))
        .clamp(redis_from, align_up(now_minute, BIN_MINUTES));
    if size < BIN_MINUTES {
        // Short steps show whole minutes, never a bin spread over them.
        seam = seam.min(align_down(from, BIN_MINUTES));
    }
    let data_from = align_down(from - WARM_UP_DAYS * 1440, size.max(BIN_MINUTES));
    let stored = if seam > data_from {
        bins::totals(
            &state.db,
            service.id,
            minute_start(data_from),
            // A range that ended long ago needs no bins after its end.
            minute_start(seam.min(to)),
        )
        .await?
    } else {
        Vec::new()
    };
    let redis_start = seam.max(data_from);
    let minutes = state.windows.minutes(&slug, redis_start, to).await?;
    let counts = Counts {
        bins: stored
            .into_iter()
            .map(|(t, total)| (minute_of(t), f64::from(total)))
            .collect(),
        minutes: minutes.iter().map(|m| m.total as f64).collect(),
        seam: redis_start,
    };
    let series = counts.per_step(data_from, to, step);
    Ok(Curve {
        slug: service.slug,
        name: service.name,
        service_id: service.id,
        step,
        zone,
        from,
        to,
        points: model(&series, from, step, state.detect),
        closed: to + BIN_MINUTES <= now_minute,
    })
}

fn stamp(minute: i64, zone: Tz) -> String {
    minute_start(minute).with_timezone(&zone).to_rfc3339()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What a curve request asks, for the read cache: the parameters it reads, nothing else.
pub fn cache_key(kind: &str, slug: &str, query: &CurveQuery) -> String {
    format!(
        "{kind}|{slug}|{:?}|{:?}|{:?}|{:?}|{:?}",
        query.from, query.to, query.step, query.tz, query.span_minutes
    )
}

/// A rendered curve with its caching: closed ranges never change; open ones change every
/// minute.
pub fn rendered(curve: &Curve, body: String, content_type: &'static str) -> Rendered {
    let cache_control = if curve.closed {
        "public, max-age=86400"
    } else {
        "public, max-age=15"
    };
    Rendered::new(body, content_type, cache_control)
}

#[utoipa::path(get, path = "/v1/services/{slug}/curve", tag = "queries", params(("slug" = String, Path), ("from" = Option<String>, Query, description = "RFC 3339; default 24 h before to"), ("to" = Option<String>, Query, description = "RFC 3339; default now"), ("step" = Option<String>, Query, description = "1m, 5m, 15m (default) or 1h"), ("tz" = Option<String>, Query, description = "IANA zone, default UTC")), responses((status = 200, body = super::docs::CurveDoc), (status = 304, description = "Not modified (If-None-Match)"), (status = 400, body = super::docs::Problem, content_type = "application/problem+json"), (status = 404, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn json_curve(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<CurveQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state
        .read_cache
        .respond(&req, cache_key("curve.json", &path, &query), || {
            json_body(&state, path.into_inner(), query.into_inner())
        })
        .await
}

async fn json_body(
    state: &web::Data<AppState>,
    slug: String,
    query: CurveQuery,
) -> Result<Rendered, ApiError> {
    let curve = load(state, &slug, query).await?;
    let points: Vec<_> = curve
        .points
        .iter()
        .map(|p| {
            json!({
                "t": stamp(p.minute, curve.zone),
                "reports": round2(p.reports),
                "baseline": round2(p.baseline),
                "upper": round2(p.upper),
                "level": p.level,
            })
        })
        .collect();
    let body = json!({
        "service": curve.slug,
        "name": curve.name,
        "step": curve.step.label(),
        "tz": curve.zone.name(),
        "from": stamp(curve.from, curve.zone),
        "to": stamp(curve.to, curve.zone),
        "points": points,
    });
    Ok(rendered(&curve, body.to_string(), "application/json"))
}

#[utoipa::path(get, path = "/v1/services/{slug}/curve.csv", tag = "queries", params(("slug" = String, Path), ("from" = Option<String>, Query), ("to" = Option<String>, Query), ("step" = Option<String>, Query), ("tz" = Option<String>, Query)), responses((status = 200, description = "t,reports,baseline,upper,level", body = String, content_type = "text/csv"), (status = 400, body = super::docs::Problem, content_type = "application/problem+json")))]
async fn csv_curve(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<CurveQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state
        .read_cache
        .respond(&req, cache_key("curve.csv", &path, &query), || {
            csv_body(&state, path.into_inner(), query.into_inner())
        })
        .await
}

async fn csv_body(
    state: &web::Data<AppState>,
    slug: String,
    query: CurveQuery,
) -> Result<Rendered, ApiError> {
    let curve = load(state, &slug, query).await?;
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
    Ok(rendered(&curve, body, "text/csv; charset=utf-8").attachment(&filename))
}
